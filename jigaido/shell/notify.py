"""systemd's notification protocol, without libsystemd: readiness, watchdog, status.

Each message is one datagram of `KEY=value` lines to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`). Without
`$NOTIFY_SOCKET` every method does nothing, so the bot runs the same outside systemd.
A failed send is logged and otherwise ignored: telling systemd is never worth
stopping the bot for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# How often STATUS= is refreshed when no watchdog asks for more.
STATUS_SECONDS = 10.0


class Notifier:
    def __init__(self, address: str | None, *, watchdog_usec: int | None = None) -> None:
        self.address = _socket_address(address) if address else None
        # Ping at half the timeout, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._socket: socket.socket | None = None
        self._stopping = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        """The notifier systemd set up for this process, or one that does nothing."""
        env = os.environ if env is None else env
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=_watchdog_usec(env, pid))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` (`READY=1`, ...) as one message; False if it did not go out."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # A full socket buffer must never block the event loop.
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(fields).encode("utf-8", "replace"), self.address)
        except OSError as e:
            log.warning("cannot notify systemd at %s: %s", _printable(self.address), e)
            return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", _status(status))

    def stopping(self, status: str = "stopping: finishing what was taken") -> None:
        """Say so once, however many ways the bot comes to stop."""
        if not self._stopping:
            self._stopping = True
            self.send("STOPPING=1", _status(status))

    def status(self, status: str) -> None:
        self.send(_status(status))

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    async def heartbeat(self, status: Callable[[], str]) -> None:
        """Until cancelled: ping the watchdog at half its timeout and refresh STATUS= when
        it changed. This runs on the event loop, so a stuck loop stops the pings and
        systemd restarts the bot."""
        if not self.enabled:
            return
        interval = min(self.watchdog_interval or STATUS_SECONDS, STATUS_SECONDS)
        shown = None
        while True:
            fields = ["WATCHDOG=1"] if self.watchdog_interval else []
            current = _status(status())
            if current != shown:
                fields.append(current)
                shown = current
            if fields:
                self.send(*fields)
            await asyncio.sleep(interval)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _socket_address(address: str) -> str | None:
    if address.startswith("@"):
        return "\0" + address[1:]  # an abstract socket
    if address.startswith("/"):
        return address
    log.warning("NOTIFY_SOCKET=%r is not a socket path or an abstract name; ignored", address)
    return None


def _watchdog_usec(env: Mapping[str, str], pid: int | None) -> int | None:
    """WATCHDOG_USEC if the watchdog is meant for this process (WATCHDOG_PID, if set)."""
    me = os.getpid() if pid is None else pid
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        owner = int(env.get("WATCHDOG_PID") or me)
    except ValueError:
        return None
    if usec <= 0 or owner != me:
        return None
    return usec


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line, whatever the summary holds


def _printable(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
