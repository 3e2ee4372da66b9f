"""End-to-end harness: the real bot as a subprocess against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import STARTED, BotProcess, Datagrams


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """A test that fails before stopping its bot must not leave the process running."""
    yield
    while STARTED:
        proc = STARTED.pop().proc
        if proc is not None and proc.returncode is None:
            proc.kill()  # SIGKILL; no await here, so sync tests can use this too


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[BotProcess]:
    """A running bot; stopped with SIGTERM at the end, which must exit 0."""
    process = BotProcess(api, tmp_path / "data", tmp_path / "bot.log")
    await process.start()
    yield process
    if not process.exited:
        status = await process.stop()
        assert status == 0, f"exit status {status}:\n{process.log}"
    assert "Traceback" not in process.log, process.log


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, Datagrams]]:
    """A datagram socket standing in for systemd's notify socket."""
    with tempfile.TemporaryDirectory(prefix="js-") as directory:
        path = str(Path(directory) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(path)
        try:
            yield path, Datagrams(sock)
        finally:
            sock.close()
