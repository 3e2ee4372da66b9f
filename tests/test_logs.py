"""Log lines: throttled repeats, redacted secrets, one line per event, journal format."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from jigaido.shell.logs import OneLineFormatter, Redact, Throttle, fatal, setup, under_journal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, name: str = "jigaido.shell.pool", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def exc_info(error: Exception) -> logging._SysExcInfoType:
    """`error` as it is when caught, traceback included."""

    def fail() -> None:
        raise error

    with pytest.raises(type(error)) as caught:
        fail()
    return caught.type, caught.value, caught.tb


def let_through(throttle: Throttle, *records: logging.LogRecord) -> list[str]:
    return [r.getMessage() for r in records if throttle.filter(r)]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_repeated_error_is_logged_once_a_minute_then_counts_what_it_held_back() -> None:
    """Within a minute only the first error of a kind passes; the next one after it says
    how many were suppressed."""
    clock = Clock()
    throttle = Throttle(60, clock=clock)
    template = "chat %s: %s not saved: %s"
    assert let_through(throttle, record(template, -1, "group.json", "disk full")) == [
        "chat -1: group.json not saved: disk full"
    ]
    clock.now += 10
    held = [record(template, -i, "group.json", "disk full") for i in range(2, 6)]
    assert let_through(throttle, *held) == []
    clock.now += 50
    [line] = let_through(throttle, record(template, -7, "group.json", "disk full"))
    assert line.startswith("chat -7: group.json not saved: disk full")
    assert "4 more like this" in line
    clock.now += 60
    assert let_through(throttle, record(template, -8, "group.json", "disk full")) == [
        "chat -8: group.json not saved: disk full"
    ]


def test_kinds_are_logger_and_template() -> None:
    """Different templates, or the same template from another logger, are other kinds."""
    throttle = Throttle(60, clock=Clock())
    passed = let_through(
        throttle,
        record("chat %s: could not read its files: %s", 1, "EIO"),
        record("chat %s: %s not saved: %s", 1, "user.json", "EIO"),
        record("chat %s: %s not saved: %s", 1, "user.json", "EIO", name="jigaido.shell.store"),
        record("chat %s: %s not saved: %s", 2, "user.json", "EIO"),
    )
    assert len(passed) == 3


def test_info_lines_are_never_throttled() -> None:
    """Throttling is for warnings and errors; ordinary events all show."""
    throttle = Throttle(60, clock=Clock())
    infos = [record("chat %s: moved", i, level=logging.INFO) for i in range(5)]
    assert len(let_through(throttle, *infos)) == 5


def test_memory_of_kinds_is_bounded() -> None:
    """Messages built without a template cannot grow the throttle's memory without bound."""
    throttle = Throttle(60, clock=Clock(), max_kinds=10)
    let_through(throttle, *(record(f"failure {i}") for i in range(100)))
    assert len(throttle._seen) == 10


def test_redact_removes_every_secret_from_message_args_and_traceback() -> None:
    """The token and the webhook secret never reach a line, not even inside a traceback."""
    token, secret = "42:SECRET-TOKEN", "hooksecret"
    redact = Redact({"token": token, "webhook secret": secret})
    r = record("calling %s with %s", f"https://api/bot{token}/getMe", secret)
    r.exc_info = exc_info(RuntimeError(f"failed for bot{token}"))
    assert redact.filter(r)
    text = logging.Formatter().format(r)
    assert token not in text
    assert secret not in text
    assert "bot<token>/getMe" in text
    assert "<webhook secret>" in text
    assert "failed for bot<token>" in text


def test_message_line_breaks_are_escaped_and_time_is_shown_off_the_journal() -> None:
    """One event is one line; off the journal it starts with a timestamp."""
    line = OneLineFormatter(journal=False).format(
        record("chat %s: bad text %r", 5, "a\nb", level=logging.INFO)
    )
    assert "\n" not in line
    assert line.endswith("INFO jigaido.shell.pool: chat 5: bad text 'a\\nb'")
    assert line[:4].isdigit()  # the year


def test_journal_lines_carry_priority_and_no_timestamp() -> None:
    """Under the journal a line starts with its syslog priority instead of a time, and
    every traceback line carries the same priority."""
    formatter = OneLineFormatter(journal=True)
    assert formatter.format(record("started", level=logging.INFO)) == (
        "<6>INFO jigaido.shell.pool: started"
    )
    assert formatter.format(record("slow", level=logging.WARNING)).startswith("<4>WARNING")
    r = record("chat %s: failed", 3)
    r.exc_info = exc_info(ValueError("boom"))
    lines = formatter.format(r).split("\n")
    assert lines[0] == "<3>ERROR jigaido.shell.pool: chat 3: failed"
    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)


def test_journal_is_recognised_only_on_the_stream_it_names(tmp_path: Path) -> None:
    """JOURNAL_STREAM counts only if it is the device:inode of the stream logged to."""
    path = tmp_path / "stderr"
    with path.open("w") as stream:
        st = os.fstat(stream.fileno())
        assert under_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream)
        assert not under_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, stream)
        assert not under_journal({}, stream)
    assert not under_journal({"JOURNAL_STREAM": "1:2"}, io.StringIO())


@pytest.mark.usefixtures("restore_logging")
def test_setup_wires_redaction_throttle_and_format(tmp_path: Path) -> None:
    """`setup` logs to the stream with the secret redacted and repeats throttled."""
    stream = io.StringIO()
    setup({"token": "42:TOKEN"}, env={}, stream=stream)
    log = logging.getLogger("jigaido.test")
    for _ in range(3):
        log.error("getUpdates failed for %s", "bot42:TOKEN")
    logging.getLogger("aiogram.event").info("Update id=1 is handled")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("ERROR jigaido.test: getUpdates failed for bot<token>")


def test_fatal_is_one_line_at_error_priority_only_under_the_journal(tmp_path: Path) -> None:
    """`fatal` writes `jigaido: ...` as one line (line breaks escaped), prefixed `<3>`
    when JOURNAL_STREAM names the stream and plain otherwise."""
    path = tmp_path / "stderr"
    with path.open("w") as stream:
        st = os.fstat(stream.fileno())
        fatal("no bot token", env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream=stream)
        fatal("no bot token", env={}, stream=stream)
        fatal("two\nlines", env={}, stream=stream)
    assert path.read_text().splitlines() == [
        "<3>jigaido: no bot token",
        "jigaido: no bot token",
        "jigaido: two\\nlines",
    ]
