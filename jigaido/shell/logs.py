"""Logging for an operator reading `journalctl -u jigaido` or a terminal.

One line per event (line breaks inside a message are escaped), never a secret, and
at most one line a minute for an error that keeps repeating. Under systemd's journal
(`$JOURNAL_STREAM` names stderr) each line starts with its syslog priority, `<3>`
for an error, so `journalctl -p warning` works, and carries no timestamp (journald
adds its own); elsewhere lines start with the time. `fatal` writes the one line that
says why the bot exits with an error, at error priority under the journal.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

THROTTLE_SECONDS = 60.0

# logging level -> syslog priority, as journald reads it from a `<N>` line prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class Redact(logging.Filter):
    """Defence in depth: no log line ever carries a secret, whoever logs it, traceback
    included."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        """`secrets` maps a name (`token`) to the value that shows as `<token>`."""
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted(
            ((value, f"<{name}>") for name, value in secrets.items() if value),
            key=lambda pair: len(pair[0]),
            reverse=True,
        )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True

    def _clean(self, text: str) -> str:
        for secret, replacement in self.secrets:
            text = text.replace(secret, replacement)
        return text


@dataclass(slots=True)
class _Seen:
    last: float  # when a line of this kind was last let through
    suppressed: int = 0


class Throttle(logging.Filter):
    """At most one line per `interval` for each kind of warning or error, a kind being
    its logger and message template (`"chat %s: %s not saved: %s"`); the next line let
    through says how many were held back."""

    def __init__(
        self,
        interval: float = THROTTLE_SECONDS,
        *,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 1000,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self.clock = clock
        self.max_kinds = max_kinds
        self._seen: dict[tuple[str, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        now = self.clock()
        key = (record.name, str(record.msg))
        seen = self._seen.get(key)
        if seen is not None and now - seen.last < self.interval:
            seen.suppressed += 1
            return False
        if seen is not None and seen.suppressed:
            record.msg = (
                f"{record.getMessage()} [{seen.suppressed} more like this in the "
                f"{now - seen.last:.0f} s before were not logged]"
            )
            record.args = None
        self._remember(key, now)
        return True

    def _remember(self, key: tuple[str, str], now: float) -> None:
        self._seen.pop(key, None)
        self._seen[key] = _Seen(now)
        if len(self._seen) > self.max_kinds:
            # Messages built without a template make a kind each; forget the oldest.
            for old in list(self._seen)[: len(self._seen) - self.max_kinds]:
                del self._seen[old]


class OneLineFormatter(logging.Formatter):
    """`INFO jigaido.shell.pool: chat -100: ...` on one line; tracebacks follow on their own
    lines, each with the event's priority under the journal."""

    def __init__(self, *, journal: bool) -> None:
        fmt = "%(levelname)s %(name)s: %(message)s"
        super().__init__(fmt if journal else "%(asctime)s " + fmt)
        self.journal = journal

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.journal:
            return text
        prefix = f"<{_PRIORITY.get(record.levelno, _nearest_priority(record.levelno))}>"
        return "\n".join(prefix + line for line in text.split("\n"))


def _nearest_priority(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


def under_journal(env: Mapping[str, str], stream: TextIO) -> bool:
    """True if `stream` is the journal stream systemd connected (`$JOURNAL_STREAM` is its
    `device:inode`), not a pipe or file it was redirected to since."""
    expected = env.get("JOURNAL_STREAM")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def fatal(
    message: str, *, env: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> None:
    """`jigaido: message` on stderr (or `stream`), one line, for every exit with an
    error; under the journal at error priority, so `journalctl -p warning` shows why
    the bot stopped."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    prefix = f"<{_PRIORITY[logging.ERROR]}>" if under_journal(env, stream) else ""
    line = message.replace("\r", "\\r").replace("\n", "\\n")
    print(f"{prefix}jigaido: {line}", file=stream, flush=True)


def setup(
    secrets: Mapping[str, str],
    *,
    env: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    level: int = logging.INFO,
) -> logging.Handler:
    """Send every log line to stderr (or `stream`), redacted and throttled."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(journal=under_journal(env, stream)))
    handler.addFilter(Redact(secrets))
    handler.addFilter(Throttle())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiogram logs a line per update at INFO; the bot's own lines say what matters.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    return handler
