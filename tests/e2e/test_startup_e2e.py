"""`jigaido run` refusing to start: every reason is one line and exit status 2, at
error priority under systemd's journal; a second bot on the same data directory is
refused while the first one goes on serving."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import ROOT, BotProcess, Chat, run_jigaido

# A loopback port nothing listens on: a bot that wrongly got as far as connecting
# would retry there and time out the test rather than reach anything real.
NOWHERE = "http://127.0.0.1:9"


async def run_cli(cwd: Path, *, journal: bool, **env: str) -> tuple[int, list[str]]:
    """`python -m jigaido run` with its stderr on a pipe; with `journal`, JOURNAL_STREAM
    names that pipe as systemd names the journal's stream. Returns the exit status and
    stderr's lines."""
    read_end, write_end = os.pipe()
    if journal:
        st = os.fstat(write_end)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "JIGAIDO_", "TELEGRAM_"))
        and k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "JOURNAL_STREAM")
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jigaido", "run",
            cwd=cwd, env={**clean, "PYTHONPATH": str(ROOT), **env},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=write_end,
        )  # fmt: skip
    finally:
        os.close(write_end)
    try:
        with anyio.fail_after(60):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with os.fdopen(read_end, "rb") as err:
        lines = err.read().decode().splitlines()
    assert out == b"", out
    assert proc.returncode is not None
    return proc.returncode, lines


def refusals(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """Each way `run` refuses to start without a Bot API: its environment and the line
    it must print."""
    token = {"BOT_TOKEN": "42:TEST", "TELEGRAM_API_URL": NOWHERE}
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    return {
        "no token": ({}, "jigaido: no bot token: set BOT_TOKEN, or BOT_TOKEN_FILE"),
        "malformed token": (
            {"BOT_TOKEN": "not-a-token"},
            "jigaido: the bot token from BOT_TOKEN does not look like <digits>:<secret>",
        ),
        "unreadable token": (
            {"BOT_TOKEN_FILE": str(tmp_path / "nope")},
            f"jigaido: cannot read the bot token from {tmp_path / 'nope'}: No such file",
        ),
        "bad setting": (
            {**token, "JIGAIDO_POLL_TIMEOUT": "nan"},
            "jigaido: JIGAIDO_POLL_TIMEOUT='nan' must be a whole number of seconds",
        ),
        "data dir is a file": (
            {**token, "JIGAIDO_DATA_DIR": str(a_file)},
            f"jigaido: cannot use {a_file} as the data directory: it is not a directory;",
        ),
        "data dir under /proc": (
            {**token, "JIGAIDO_DATA_DIR": "/proc/jigaido/data"},
            "jigaido: cannot use /proc/jigaido/data as the data directory: creating ",
        ),
    }


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "terminal"])
async def test_every_refusal_at_start_is_one_line_at_error_priority(
    tmp_path: Path, journal: bool
) -> None:
    """A missing, malformed or unreadable token, a bad setting, or an unusable data
    directory: exit status 2 and one line, `<3>jigaido: ...` under the journal and
    `jigaido: ...` on a terminal, never a traceback."""
    prefix = "<3>" if journal else ""
    for case, (env, start) in refusals(tmp_path).items():
        status, lines = await run_cli(tmp_path, journal=journal, **env)
        assert status == 2, (case, lines)
        assert len(lines) == 1, (case, lines)
        assert lines[0].startswith(prefix + start), (case, lines)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "terminal"])
async def test_a_refused_token_is_one_line_at_error_priority(
    api: FakeBotAPI, tmp_path: Path, journal: bool
) -> None:
    """A token Telegram answers 401 to: exit 2 and one line, at error priority under
    the journal."""
    status, lines = await run_cli(
        tmp_path,
        journal=journal,
        BOT_TOKEN="42:WRONG",
        TELEGRAM_API_URL=api.url,
        JIGAIDO_DATA_DIR=str(tmp_path / "data"),
    )
    prefix = "<3>" if journal else ""
    assert (status, lines) == (
        2,
        [f"{prefix}jigaido: Telegram refused the bot token (401 Unauthorized)"],
    )


async def test_a_second_bot_on_the_same_data_dir_exits_2_and_the_first_serves_on(
    api: FakeBotAPI, bot: BotProcess, tmp_path: Path
) -> None:
    """A second `jigaido run` on a data directory in use: exit 2 with one line naming
    the first bot's pid and the directory (`<3>` under the journal), before it asks
    the Bot API anything; the first bot goes on serving. Once the first is killed
    (SIGKILL), the kernel has dropped its lock and a new bot starts there."""
    expected = (
        f"jigaido: another jigaido (pid {bot.pid}) is already running on {bot.data_dir}; "
        "stop it first, or give this one its own JIGAIDO_DATA_DIR"
    )
    env = {"BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.url}
    calls = len(api.calls)
    second = await anyio.to_thread.run_sync(
        lambda: run_jigaido("run", cwd=tmp_path, JIGAIDO_DATA_DIR=str(bot.data_dir), **env)
    )
    assert (second.returncode, second.stderr.splitlines()) == (2, [expected])
    relative = await run_cli(tmp_path, journal=True, JIGAIDO_DATA_DIR="data", **env)
    assert relative == (2, ["<3>" + expected]), "the same directory, given relative"
    assert not any(c.method == "getMe" for c in api.calls[calls:]), "it connected"

    lock = bot.data_dir / "jigaido.lock"
    assert lock.read_text() == f"{bot.pid}\n"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert await Chat(api, 4401).one("/add Still serving") == "✅ Added #1: Still serving"

    await bot.kill()
    successor = BotProcess(api, bot.data_dir, tmp_path / "successor.log")
    await successor.start()
    try:
        assert await Chat(api, 4401).one("/add After the kill") == "✅ Added #2: After the kill"
        assert lock.read_text() == f"{successor.pid}\n"
    finally:
        assert await successor.stop() == 0, successor.log
