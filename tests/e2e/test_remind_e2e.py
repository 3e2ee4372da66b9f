"""Reminders end to end: the real bot, due dates seconds away (JIGAIDO_REMIND_LEAD
shortens the "24 hours before" lead), sent once, late after a downtime, never a day
overdue, and exactly once (barring the instant between a send and its record) through
SIGKILLs."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from pathlib import Path

from jigaido.core.model import Bounty, FileKey, GroupBook, UserBook
from jigaido.shell.alarm import INDEX_FILE
from jigaido.shell.store import Store
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess, Chat

LEAD = 4  # seconds: the reminder "before" comes 4 s ahead of the due
REMIND = {"JIGAIDO_REMIND_LEAD": str(LEAD)}
# Far enough ahead that the bot serves before the first reminder, on a slow machine
# too (a start there takes up to 8 s).
AHEAD = 16
SHOWN = re.compile(r"⏰ (Due in \d+ seconds?|Due now): #(\d+) ")


def bounty(i: int, due: int, *, group: bool, **kw: object) -> Bounty:
    # Added long before its due, so that both reminders apply.
    return Bounty(
        i, f"Task {i}", None, due, due - 3600, created_by_user_id=5 if group else None, **kw
    )  # type: ignore[arg-type]


def reminders_sent(api: FakeBotAPI, chat_id: int) -> list[tuple[str, int]]:
    """(kind, bounty id) of every reminder the chat received, in order."""
    found = []
    for sent in api.sent_to(chat_id):
        for kind, bounty_id in SHOWN.findall(sent.plain):
            found.append(("before" if kind.startswith("Due in") else "at", int(bounty_id)))
    return found


async def test_a_reminder_before_and_at_the_due_mentioning_claimer_and_trackers(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """A group bounty due soon, claimed by Bob and tracked by Cy: a reminder 4 s
    before and one at the due, each mentioning both by id, and both recorded in the
    bounty (no index file: it is rebuilt from the chats' files at start)."""
    data = tmp_path / "data"
    due = int(time.time()) + AHEAD
    b = bounty(
        1, due, group=True, status="claimed", claimed_by_user_id=8, claimed_by_name="Bob",
        tracked_by=(9,),
    )  # fmt: skip
    Store(data).write_sync(FileKey.group(-6001), GroupBook(-6001, 2, (b,)))
    bot = BotProcess(api, data, tmp_path / "bot.log", **REMIND)
    await bot.start()
    await api.wait_until(lambda: len(reminders_sent(api, -6001)) == 2, timeout=AHEAD + 10)
    assert reminders_sent(api, -6001) == [("before", 1), ("at", 1)]
    before, at = api.sent_to(-6001)
    assert at.time - before.time >= LEAD - 1.5
    for sent in (before, at):
        assert 'href="tg://user?id=8">Bob</a>' in sent.text
        assert 'href="tg://user?id=9"' in sent.text
        assert sent.reply_to_message_id is None
    assert await bot.stop() == 0
    kept = json.loads((data / "-6001" / "group.json").read_text())["bounties"][0]
    assert sorted(kept["reminded"]) == [f"at@{due}", f"before@{due}"]
    assert json.loads((data / INDEX_FILE).read_text()) == {"clean": True, "chats": {}}


async def test_down_across_due_times_each_is_sent_once_late_and_none_a_day_overdue(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """Due while the bot was down: sent once at the next start, marked late; a bounty
    more than 24 hours overdue gets none; a done one none; one due soon on time."""
    data = tmp_path / "data"
    store = Store(data)
    now = int(time.time())
    book = UserBook(
        601,
        5,
        (
            bounty(1, now - 3600, group=False),  # an hour overdue: late, once
            bounty(2, now - 25 * 3600, group=False),  # over a day overdue: none
            bounty(3, now - 60, group=False, status="done", done_at=now - 100),
            bounty(4, now + AHEAD, group=False),  # on time
        ),
    )
    store.write_sync(FileKey.user(601), book)
    bot = BotProcess(api, data, tmp_path / "bot.log", **REMIND)
    await bot.start()
    await api.wait_until(lambda: ("at", 4) in reminders_sent(api, 601), timeout=AHEAD + 10)
    sent = reminders_sent(api, 601)
    assert sorted(set(sent)) == [("at", 1), ("at", 4), ("before", 4)]
    assert len(sent) == 3, sent
    late = next(s for s in api.sent_to(601) if "#1 " in s.plain)
    assert "late: I was offline when it fell due" in late.plain
    assert await bot.stop() == 0


async def test_remind_off_stops_them_for_the_chat(api: FakeBotAPI, bot: BotProcess) -> None:
    """/remind off in a DM: nothing more is reminded there; /remind on again."""
    d = Chat(api, 602)
    assert (await d.one("/remind off")).startswith("🔕")
    assert bot.read_json(602, "user.json")["reminders"] is False
    assert (await d.one("/remind")).startswith("🔕")
    assert (await d.one("/remind on")).startswith("🔔")
    assert "reminders" not in bot.read_json(602, "user.json")


async def test_sigkill_while_reminders_fall_due_loses_none(api: FakeBotAPI, tmp_path: Path) -> None:
    """240 reminders of 120 bounties in 12 chats fall due over 12 s while the bot is
    SIGKILLed at random moments and restarted: every reminder is sent (none lost), and
    one is sent twice only for a kill in the instant between its send and its record:
    counted, and at most one reminder batch per kill. The lead is longer than a
    restart, so no reminder "before" is overtaken by its due while the bot is down."""
    data = tmp_path / "data"
    store = Store(data)
    lead = 20
    start = int(time.time()) + AHEAD
    chats = [-6100 - k for k in range(6)] + [6100 + k for k in range(6)]
    for n, chat in enumerate(chats):
        bounties = tuple(
            bounty(i, start + (n + i) % 12 + lead, group=chat < 0) for i in range(1, 11)
        )
        book: GroupBook | UserBook = (
            GroupBook(chat, 11, bounties) if chat < 0 else UserBook(chat, 11, bounties)
        )
        store.write_sync(FileKey(chat, "group.json" if chat < 0 else "user.json"), book)
    rng = random.Random(int(time.time()))
    kills = 0
    deadline = start + 12 + lead + 2
    env = {"JIGAIDO_REMIND_LEAD": str(lead)}
    log_n = 0
    while time.time() < deadline:
        log_n += 1
        bot = BotProcess(api, data, tmp_path / f"bot{log_n}.log", **env)
        await bot.start()
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # a random moment to kill it at
        await bot.kill()
        kills += 1
    final = BotProcess(api, data, tmp_path / "final.log", **env)
    await final.start()
    expected = {
        (chat, kind, i) for chat in chats for i in range(1, 11) for kind in ("before", "at")
    }

    def got() -> list[tuple[int, str, int]]:
        return [(c, kind, i) for c in chats for kind, i in reminders_sent(api, c)]

    await api.wait_until(lambda: expected <= set(got()), timeout=30)
    assert await final.stop() == 0
    sent = got()
    duplicates = len(sent) - len(set(sent))
    assert set(sent) == expected, "never sent: " + str(expected - set(sent))
    # A duplicate needs a kill between a send and its record; each kill can catch at
    # most the one batch each chat had in flight.
    assert duplicates <= kills * len(chats), (duplicates, kills)
    print(f"reminders: {len(expected)} owed, {kills} kills, {duplicates} sent twice")
