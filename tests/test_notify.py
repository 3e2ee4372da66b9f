"""systemd notifications: datagrams received on a real AF_UNIX socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from jigaido.shell.notify import Notifier


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a socket path must fit in 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="jn-") as name:
        yield Path(name)


@contextlib.contextmanager
def listening(address: str) -> Iterator[socket.socket]:
    """A datagram socket bound to `address` (`@name`: abstract), as systemd listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.bind("\0" + address[1:] if address.startswith("@") else address)
        yield sock
    finally:
        sock.close()


async def receive(sock: socket.socket) -> list[str]:
    """The next datagram's lines."""
    with anyio.fail_after(5):
        data = await asyncio.get_running_loop().sock_recv(sock, 4096)
    return data.decode().split("\n")


def pending(sock: socket.socket) -> list[list[str]]:
    """Every datagram already waiting."""
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode().split("\n"))
        except BlockingIOError:
            return found


async def test_ready_status_and_stopping_reach_a_path_socket(short_dir: Path) -> None:
    """READY=1 with a status, STATUS= and STOPPING=1 each arrive as one datagram."""
    address = str(short_dir / "notify")
    with listening(address) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
        assert notifier.enabled
        notifier.ready("polling: 0 chats active")
        assert await receive(sock) == ["READY=1", "STATUS=polling: 0 chats active"]
        notifier.status("polling: 3 chats active")
        assert await receive(sock) == ["STATUS=polling: 3 chats active"]
        notifier.stopping()
        lines = await receive(sock)
        assert lines[0] == "STOPPING=1"
        assert lines[1].startswith("STATUS=stopping")
        notifier.close()


async def test_abstract_socket_address() -> None:
    """A NOTIFY_SOCKET starting with @ names an abstract socket."""
    address = f"@jigaido-test-{uuid.uuid4().hex}"
    with listening(address) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
        notifier.watchdog()
        assert await receive(sock) == ["WATCHDOG=1"]
        notifier.close()


async def test_without_notify_socket_nothing_happens() -> None:
    """No NOTIFY_SOCKET: every call is a no-op and the heartbeat returns at once."""
    notifier = Notifier.from_env({"WATCHDOG_USEC": "1000"})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.ready("x")
    notifier.stopping()
    with anyio.fail_after(1):
        await notifier.heartbeat(lambda: "x")


async def test_unreachable_socket_is_logged_not_raised(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A socket nobody listens on costs a warning, never an exception."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "nobody")})
    assert notifier.send("READY=1") is False
    notifier.ready("x")
    assert "cannot notify systemd" in caplog.text
    notifier.close()


async def test_heartbeat_pings_at_half_the_watchdog_and_sends_changed_status(
    short_dir: Path,
) -> None:
    """With WATCHDOG_USEC the heartbeat sends WATCHDOG=1 every half period, and STATUS=
    only when the summary changed."""
    address = str(short_dir / "notify")
    summary = ["0 chats active"]
    with listening(address) as sock:
        notifier = Notifier.from_env(
            {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "40000", "WATCHDOG_PID": str(os.getpid())}
        )
        assert notifier.watchdog_interval == pytest.approx(0.02)
        async with anyio.create_task_group() as tg:
            tg.start_soon(notifier.heartbeat, lambda: summary[0])
            assert await receive(sock) == ["WATCHDOG=1", "STATUS=0 chats active"]
            assert await receive(sock) == ["WATCHDOG=1"]
            summary[0] = "2 chats\nactive"
            while (lines := await receive(sock)) == ["WATCHDOG=1"]:
                pass
            assert lines == ["WATCHDOG=1", "STATUS=2 chats active"]
            tg.cancel_scope.cancel()
        notifier.close()


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    """WATCHDOG_PID naming another process, or a bad WATCHDOG_USEC, disables the watchdog."""
    pid = os.getpid()
    assert Notifier.from_env({"WATCHDOG_USEC": "30000000"}, pid=pid).watchdog_interval == 15
    other = Notifier.from_env({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(pid + 1)}, pid=pid)
    assert other.watchdog_interval is None
    assert Notifier.from_env({"WATCHDOG_USEC": "soon"}, pid=pid).watchdog_interval is None
    assert Notifier.from_env({"WATCHDOG_USEC": "0"}, pid=pid).watchdog_interval is None


async def test_heartbeat_without_watchdog_sends_status_only(short_dir: Path) -> None:
    """Without a watchdog the heartbeat still reports the summary, and no WATCHDOG=1."""
    address = str(short_dir / "notify")
    with listening(address) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
        async with anyio.create_task_group() as tg:
            tg.start_soon(notifier.heartbeat, lambda: "idle")
            assert await receive(sock) == ["STATUS=idle"]
            tg.cancel_scope.cancel()
        assert pending(sock) == []
        notifier.close()


def test_not_a_socket_address_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A NOTIFY_SOCKET that is neither a path nor @name (vsock:...) is ignored with a warning."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert "NOTIFY_SOCKET" in caplog.text
