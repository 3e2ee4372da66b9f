"""Reminders through the chats' workers, with the real timer (alarm.Alarm) and real
files: due dates a second or two away. The only stand-in is the send function."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC
from pathlib import Path

import pytest

from jigaido.core import reminders
from jigaido.core.commands import REMIND, Request
from jigaido.core.errors import Undeliverable
from jigaido.core.model import Bounty, FileKey, GroupBook, UserBook
from jigaido.shell import pool as pool_module
from jigaido.shell.alarm import Alarm
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Pool
from jigaido.shell.store import Store
from tests.test_pool import GROUP, FaultyStore, Recorder, eventually, req

LEAD = 2


def wired(store: Store, send: Recorder) -> tuple[Pool, Alarm]:
    """The pool and the timer wired as service.wire wires them."""
    pool = Pool(store, Outbox(send), tz=UTC)  # type: ignore[arg-type]

    async def submit(chat_id: int) -> None:
        kind = "group" if chat_id < 0 else "private"
        await pool.submit(Request(0, chat_id, kind, None, 0, REMIND))

    alarm = Alarm(store.root, submit, tz=UTC, lead=LEAD)
    pool.alarm, pool.remind_lead = alarm, LEAD
    return pool, alarm


def soon(i: int, due: int, *, added: int = 3600) -> Bounty:
    """Bounty `i` due at `due`, added `added` seconds before (within the lead: no
    reminder "before", only the one at the due)."""
    return Bounty(i, f"Task {i}", None, due, due - added, created_by_user_id=5)


def recorded(root: Path, user: int) -> bool:
    """The user's first bounty has a reminder recorded in its file."""
    return "reminded" in json.loads((root / str(user) / "user.json").read_text())["bounties"][0]


def reminded(send: Recorder, chat: int) -> list[str]:
    return [text for c, text, _, _ in send.sent if c == chat and text.startswith("⏰")]


async def test_each_reminder_is_sent_once_and_recorded_in_the_chats_file(
    tmp_path: Path,
) -> None:
    """Before and at the due: two messages, each recorded in the bounty once out; the
    timer then knows nothing more to wake the chat for."""
    store = Store(tmp_path)
    due = int(time.time()) + LEAD + 1
    store.write_sync(FileKey.group(GROUP), GroupBook(GROUP, 2, (soon(1, due),)))
    send = Recorder()
    pool, alarm = wired(store, send)
    alarm.start()
    await eventually(lambda: len(reminded(send, GROUP)) == 2, seconds=10)
    await pool.close()
    await alarm.close()
    before, at = reminded(send, GROUP)
    assert re.match(r"⏰ Due in (2 seconds|1 second): <b>#1</b> Task 1", before)
    assert at.startswith("⏰ Due now: <b>#1</b> Task 1")
    kept = json.loads((tmp_path / str(GROUP) / "group.json").read_text())["bounties"][0]
    assert sorted(kept["reminded"]) == [f"at@{due}", f"before@{due}"]
    assert alarm.get(GROUP) is None


async def test_done_before_the_due_cancels_the_reminder(tmp_path: Path) -> None:
    store = Store(tmp_path)
    due = int(time.time()) + LEAD + 2
    book = GroupBook(GROUP, 2, (soon(1, due),))
    store.write_sync(FileKey.group(GROUP), book)
    send = Recorder()
    pool, alarm = wired(store, send)
    alarm.start()
    job = await pool.submit(req(1, "done", "1", user=5))
    assert await job.done
    await asyncio.sleep(LEAD + 3)
    await pool.close()
    await alarm.close()
    assert reminded(send, GROUP) == []


async def test_a_reminder_not_recorded_is_not_sent_again_and_is_recorded_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the record of a sent reminder: it is not sent again meanwhile,
    and the record is written once the disk takes it."""
    monkeypatch.setattr(pool_module, "RECORD_RETRY_SECONDS", 1)
    store = FaultyStore(tmp_path, "write", 42, "raise")
    due = int(time.time()) + 1
    store.write_sync(FileKey.user(42), UserBook(42, 2, (soon(1, due, added=1),)))
    send = Recorder()
    pool, alarm = wired(store, send)
    alarm.start()
    await eventually(lambda: len(reminded(send, 42)) == 1, seconds=10)
    await asyncio.sleep(2.5)  # two tries to record it have failed by now
    assert len(reminded(send, 42)) == 1
    store.active = False
    await eventually(
        lambda: recorded(tmp_path, 42),
        seconds=5,
    )
    await pool.close()
    await alarm.close()
    assert len(reminded(send, 42)) == 1


class Blocked(Recorder):
    """A chat that blocked the bot: every send to it is refused for good (403)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def __call__(
        self, chat_id: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        self.refused += 1
        raise Undeliverable("Forbidden: bot was blocked by the user", shut_out=True)


async def test_a_chat_that_blocked_the_bot_is_not_tried_forever(tmp_path: Path) -> None:
    store = Store(tmp_path)
    due = int(time.time()) + 1
    store.write_sync(FileKey.user(43), UserBook(43, 2, (soon(1, due, added=1),)))
    send = Blocked()
    pool, alarm = wired(store, send)
    alarm.start()
    await eventually(
        lambda: recorded(tmp_path, 43),
        seconds=10,
    )
    await asyncio.sleep(1.5)
    await pool.close()
    await alarm.close()
    assert send.refused == 1
    assert alarm.get(43) is None


class HeldBack(Recorder):
    """Each text naming one of `held` waits for that one's event."""

    def __init__(self, *held: str) -> None:
        super().__init__()
        self.held = {name: asyncio.Event() for name in held}

    async def __call__(
        self, chat_id: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        for name, release in self.held.items():
            if name in text:
                await release.wait()
        await super().__call__(chat_id, text, reply_to, thread)


async def test_a_reminder_out_while_another_is_being_recorded_is_not_sent_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's record is on its way to disk when B comes out: B is recorded by a write of
    its own, not taken for recorded by A's (and so sent again)."""
    monkeypatch.setattr(reminders, "GATHER_SECONDS", 0)
    store = FaultyStore(tmp_path, "write", 44, "hang")
    now = int(time.time())
    store.write_sync(
        FileKey.user(44), UserBook(44, 3, (soon(1, now + 1, added=1), soon(2, now + 2, added=1)))
    )
    send = HeldBack("<b>#1</b>", "<b>#2</b>")
    pool, alarm = wired(store, send)
    alarm.start()
    await asyncio.sleep(3)  # both due, both on their way
    assert reminded(send, 44) == []
    send.held["<b>#1</b>"].set()
    await eventually(lambda: len(reminded(send, 44)) == 1, seconds=5)  # A out
    await asyncio.sleep(0.5)  # A's record is in its (hanging) write
    send.held["<b>#2</b>"].set()
    await eventually(lambda: len(reminded(send, 44)) == 2, seconds=5)  # B out meanwhile
    await asyncio.sleep(0.3)
    store.release.set()
    await eventually(lambda: recorded_all(tmp_path, 44), seconds=5)
    await asyncio.sleep(1.5)
    await pool.close()
    await alarm.close()
    assert [text.split("</b>")[0] for text in reminded(send, 44)] == [
        "⏰ Due now: <b>#1",
        "⏰ Due now: <b>#2",
    ]


def recorded_all(root: Path, user: int) -> bool:
    bounties = json.loads((root / str(user) / "user.json").read_text())["bounties"]
    return all("reminded" in b for b in bounties)


async def test_a_worker_stays_while_its_reminder_is_on_its_way(tmp_path: Path) -> None:
    """Idle past its time while the sender still retries a reminder: the worker stays
    (what is on its way lives only there), so the reminder is recorded, not sent again
    by a next worker."""
    store = Store(tmp_path)
    due = int(time.time()) + 1
    store.write_sync(FileKey.user(45), UserBook(45, 2, (soon(1, due, added=1),)))
    send = Recorder()
    send.gate = asyncio.Event()  # Telegram unreachable for a while
    pool = Pool(store, Outbox(send), tz=UTC, idle_seconds=0.2)  # type: ignore[arg-type]

    async def submit(chat_id: int) -> None:
        await pool.submit(Request(0, chat_id, "private", None, 0, REMIND))

    alarm = Alarm(store.root, submit, tz=UTC, lead=LEAD)
    pool.alarm, pool.remind_lead = alarm, LEAD
    alarm.start()
    await eventually(lambda: pool.active == 1, seconds=5)
    await asyncio.sleep(1.0)  # five idle timeouts
    assert pool.active == 1
    send.gate.set()
    await eventually(lambda: recorded(tmp_path, 45), seconds=5)
    await asyncio.sleep(1.0)
    await pool.close()
    await alarm.close()
    assert len(reminded(send, 45)) == 1
