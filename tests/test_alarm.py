"""The reminders' one timer and its derived index (alarm.py): chats woken when their
moment comes, the index kept across a clean stop, rebuilt from the chats' files when it
cannot be trusted."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC
from pathlib import Path

import anyio

from jigaido.core.model import Bounty, FileKey, GroupBook, UserBook
from jigaido.shell.alarm import INDEX_FILE, Alarm, scan
from jigaido.shell.store import MOVED_FILE, Store

LEAD = 3600


class Woken:
    def __init__(self) -> None:
        self.chats: list[int] = []
        self.event = asyncio.Event()

    async def __call__(self, chat_id: int) -> None:
        self.chats.append(chat_id)
        self.event.set()


def due_book(chat_id: int, due: int) -> GroupBook | UserBook:
    added = due - 4 * 86400  # long enough ahead for a reminder before it too
    b = Bounty(1, "Task", None, due, added, created_by_user_id=5 if chat_id < 0 else None)
    return GroupBook(chat_id, 2, (b,)) if chat_id < 0 else UserBook(chat_id, 2, (b,))


async def test_a_chat_is_woken_when_its_moment_comes_and_not_before(tmp_path: Path) -> None:
    """A moment passed wakes its chat at once, one ahead waits, a replaced one is gone;
    a woken chat leaves the index until its worker sets it anew."""
    woken = Woken()
    alarm = Alarm(tmp_path, woken, tz=UTC, lead=LEAD)
    alarm.start()
    now = int(time.time())
    alarm.update(-1, now - 5)
    alarm.update(7, now + 3600)
    alarm.update(8, now - 1)
    alarm.update(8, now + 7200)  # replaced before it rang
    with anyio.fail_after(5):
        await woken.event.wait()
    await asyncio.sleep(0.1)
    assert woken.chats == [-1]
    assert alarm.get(-1) is None
    assert alarm.get(7) == now + 3600
    await alarm.close()


async def test_a_clean_stop_keeps_the_index_and_the_next_start_trusts_it(tmp_path: Path) -> None:
    """Closed, the index is on disk marked clean; the next start reads it instead of
    scanning the chats' files (here it has entries the files do not: it is trusted)."""
    alarm = Alarm(tmp_path, Woken(), tz=UTC, lead=LEAD)
    alarm.start()
    await asyncio.sleep(0.2)  # the rebuild (no index yet) of an empty directory is done
    alarm.update(-5, 2_000_000_000)
    await alarm.close()
    body = json.loads((tmp_path / INDEX_FILE).read_text())
    assert body == {"clean": True, "chats": {"-5": 2_000_000_000}}

    again = Alarm(tmp_path, Woken(), tz=UTC, lead=LEAD)
    again.start()
    await asyncio.sleep(0.2)
    assert again.get(-5) == 2_000_000_000
    assert not json.loads((tmp_path / INDEX_FILE).read_text())["clean"], "a crash now: unclean"
    await again.close()


async def test_a_stop_before_the_rebuild_is_done_leaves_the_index_unclean(
    tmp_path: Path,
) -> None:
    """Closed before its rebuild from the chats' files finished, the index is not whole:
    it is left marked unclean, so the next start rebuilds it rather than trust it; and
    an alarm that was never started leaves the file as it was."""
    alarm = Alarm(tmp_path, Woken(), tz=UTC, lead=LEAD)
    alarm.start()
    alarm.update(-5, 2_000_000_000)
    await alarm.close()  # the rebuild has not even begun
    assert json.loads((tmp_path / INDEX_FILE).read_text())["clean"] is False
    before = (tmp_path / INDEX_FILE).read_bytes()
    await Alarm(tmp_path, Woken(), tz=UTC, lead=LEAD).close()
    assert (tmp_path / INDEX_FILE).read_bytes() == before


async def test_an_index_not_closed_cleanly_is_rebuilt_from_the_chats(tmp_path: Path) -> None:
    """After a crash (the index not marked clean), missing, or damaged: rebuilt from the
    chats' files, which are the truth."""
    store = Store(tmp_path)
    due = int(time.time()) + 3 * 86400
    store.write_sync(FileKey.group(-9), due_book(-9, due))
    store.write_sync(FileKey.user(4), due_book(4, due + 60))
    for damaged in (b'{"clean": false, "chats": {"-9": 1}}', b"{", None):
        if damaged is None:
            (tmp_path / INDEX_FILE).unlink()
        else:
            (tmp_path / INDEX_FILE).write_bytes(damaged)
        alarm = Alarm(tmp_path, Woken(), tz=UTC, lead=LEAD)
        alarm.start()
        with anyio.fail_after(5):
            while alarm.get(4) is None:  # noqa: ASYNC110 - the rebuild runs in a thread
                await asyncio.sleep(0.02)
        assert alarm.get(-9) == due - LEAD
        assert alarm.get(4) == due + 60 - LEAD
        await alarm.close()


def test_the_scan_skips_damaged_files_and_moved_groups(tmp_path: Path) -> None:
    """A file that does not parse, and a group kept after its move to a supergroup,
    give no entry; nothing is set aside or written by the scan."""
    store = Store(tmp_path)
    due = 2_000_000_000
    store.write_sync(FileKey.group(-1), due_book(-1, due))
    store.write_sync(FileKey.group(-2), due_book(-2, due))
    (tmp_path / "-2" / MOVED_FILE).write_text('{"group_id": -2, "migrated_to": -1002}')
    (tmp_path / "-3").mkdir()
    (tmp_path / "-3" / "group.json").write_text("{")
    assert scan(tmp_path, due - 86400 * 3, LEAD, UTC) == {-1: due - LEAD}
    assert (tmp_path / "-3" / "group.json").read_text() == "{"
