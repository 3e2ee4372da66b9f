"""Recent sends kept across a restart (sendlog.py): written, read back, and harmless
when missing or damaged."""

from __future__ import annotations

import json
from pathlib import Path

from jigaido.shell.outbox import TELEGRAM, Outbox
from jigaido.shell.sendlog import SENT_FILE, SendLog

NOW = 1_800_000_000.0


async def nothing(chat_id: int, text: str, reply_to: int | None, thread: int | None) -> None:
    """A send function for outboxes that never send here."""


async def test_recent_sends_are_written_and_counted_in_again(tmp_path: Path) -> None:
    """What one process's outbox holds as recent sends, the next one's counts again,
    aged by the time that passed between them."""
    first = Outbox(nothing, limits=TELEGRAM, clock=lambda: 100.0)
    first.restore_sends({-1001: [5.0, 30.0], 42: [0.2]})
    await SendLog(tmp_path, first, wall=lambda: NOW).close()
    body = json.loads((tmp_path / SENT_FILE).read_text())
    assert body["chats"]["-1001"] == [NOW - 30.0, NOW - 5.0]

    second = Outbox(nothing, limits=TELEGRAM, clock=lambda: 7.0)
    assert await SendLog(tmp_path, second, wall=lambda: NOW + 10).restore() == 2
    recent = second.recent_sends()
    assert sorted(recent[-1001]) == [15.0, 40.0]
    assert 42 not in recent  # a private chat's second has long passed


async def test_a_missing_or_damaged_file_means_empty_windows(tmp_path: Path) -> None:
    """No file, or one that does not parse, starts with empty windows (logged), never
    stops the bot."""
    outbox = Outbox(nothing, limits=TELEGRAM)
    assert await SendLog(tmp_path, outbox).restore() == 0
    for damaged in (b"{", b"[]", b'{"chats": {"x": [1]}}', b'{"chats": {"-1": "no"}}'):
        (tmp_path / SENT_FILE).write_bytes(damaged)
        assert await SendLog(tmp_path, outbox).restore() == 0
    assert outbox.recent_sends() == {}
