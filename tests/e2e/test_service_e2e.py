"""The bot as a systemd service end to end: readiness, watchdog and status on a notify
socket, journal-style logs, and `jigaido check` beside the running bot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import anyio

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import ROOT, BotProcess, Datagrams

GROUP = -5001


async def jigaido_check(data_dir: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jigaido", "check", "--data-dir", str(data_dir),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    with anyio.fail_after(60):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_systemd_sees_ready_watchdog_status_and_stopping(
    api: FakeBotAPI, tmp_path: Path, notify_socket: tuple[str, Datagrams]
) -> None:
    """With NOTIFY_SOCKET and WATCHDOG_USEC: READY=1 only after getMe, WATCHDOG=1 and a
    STATUS= summary while it runs, STOPPING=1 on SIGTERM, then exit 0; logs on the
    journal stream carry priorities and no timestamps; `jigaido check` passes beside it."""
    path, datagrams = notify_socket
    log_path = tmp_path / "bot.log"
    log_path.touch()
    st = os.stat(log_path)
    bot = BotProcess(
        api,
        tmp_path / "data",
        log_path,
        NOTIFY_SOCKET=path,
        WATCHDOG_USEC="400000",
        JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}",
    )
    await bot.start()
    try:
        ready = await datagrams.wait_for(lambda d: "READY=1" in d, "READY=1")
        assert api.calls_to("getMe"), "ready only once the Bot API answered"
        assert any(line.startswith("STATUS=polling") for line in ready), ready
        await datagrams.wait_for(lambda d: "WATCHDOG=1" in d, "WATCHDOG=1")

        update_id = api.push_message(GROUP, "/add Watched", user_id=7)
        await api.wait_confirmed(update_id)
        await datagrams.wait_for(
            lambda d: "STATUS=polling: 1 chats active, 0 commands queued" in d, "a busier status"
        )
        await datagrams.wait_for(
            lambda d: "WATCHDOG=1" in d, "further WATCHDOG=1", start=len(datagrams.received)
        )

        status, report = await jigaido_check(bot.data_dir)
        assert (status, report.splitlines()[-1]) == (
            0,
            # group.json, and the reminders' index the running bot keeps
            f"{bot.data_dir}: 2 files in 1 chats checked, all clean",
        ), report
    finally:
        assert bot.proc is not None
        bot.proc.terminate()
        stopping = await datagrams.wait_for(lambda d: "STOPPING=1" in d, "STOPPING=1")
        assert await bot.stop() == 0, bot.log
    assert stopping[-1].startswith("STATUS=stopping")
    after = datagrams.received[datagrams.received.index(stopping) :]
    assert not any("READY=1" in d for d in after)

    lines = bot.log.splitlines()
    assert "<6>INFO jigaido.face.service: jigaido stopped" in lines
    started = [line for line in lines if "jigaido started as" in line]
    assert started == [started[0]]
    assert started[0].startswith("<6>INFO jigaido.face.service: jigaido started as @")
    assert all(line.startswith("<") for line in lines), lines
    assert api.token not in bot.log
    assert "Traceback" not in bot.log
