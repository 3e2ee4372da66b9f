"""Part 6: reminders. 100,000 bounties with due dates over 10,000 chats: the memory of
the plan (the index of each chat's next moment and the timer's heap), and start-up to
the first getUpdates with that index beside an empty data directory; then 1,000
reminders falling due within the same minute in 100 chats, against a fake Bot API
enforcing Telegram's limits: all out, merged, no 429.
"""

from __future__ import annotations

import re
import tempfile
import time
import tracemalloc
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bench.common import Row, median
from bench.startup import bot_start
from jigaido.core import reminders
from jigaido.core.model import Bounty, FileKey, GroupBook, UserBook
from jigaido.shell.alarm import INDEX_FILE, Alarm, read_index, scan
from jigaido.shell.store import Store
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess
from tests.limits import most_in_any_window

CHATS, PER_CHAT = 10_000, 10
BURST_CHATS, BURST_PER_CHAT = 100, 10
PLAN_MB = 30.0
STARTUP_ADDED = 0.1
RUNS = 5  # starts of each kind, interleaved; the fastest of each compared
SHOWN = re.compile(r"⏰ Due now: #(\d+) ")


def fill(root: Path, chats: int, per_chat: int, first_due: int, spread: int) -> None:
    """`chats` chats (half groups, half private), `per_chat` due bounties each."""
    store = Store(root)
    for n in range(chats):
        chat = -(1_000_000 + n) if n % 2 else 1_000_000 + n
        bounties = tuple(
            Bounty(
                i,
                f"Task {n}-{i}",
                None,
                first_due + (n * per_chat + i) % spread,
                first_due - 7 * 86400,
                created_by_user_id=5 if chat < 0 else None,
            )
            for i in range(1, per_chat + 1)
        )
        book = (
            GroupBook(chat, per_chat + 1, bounties)
            if chat < 0
            else UserBook(chat, per_chat + 1, bounties)
        )
        store.write_sync(FileKey(chat, "group.json" if chat < 0 else "user.json"), book)


async def plan_memory(root: Path) -> tuple[float, int]:
    """MB the timer holds for the plan (its index and heap), and its entries."""
    moments = scan(root, int(time.time()), 86400, UTC)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()

    async def nothing(chat_id: int) -> None:
        """The submit of an alarm that never rings here."""

    elsewhere = root.parent / "plan-index"  # where its index is saved: not the bot's
    elsewhere.mkdir(exist_ok=True)
    alarm = Alarm(elsewhere, nothing, tz=UTC)
    for chat_id, moment in moments.items():
        alarm.update(chat_id, moment)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return grown / 2**20, len(alarm)


def replan_ms(bounties: int = 1000, rounds: int = 20) -> tuple[float, float]:
    """Milliseconds to find a book's next moment after a write (every write does it),
    for a group of `bounties` due bounties, half of them due as a day: next_moment, and
    its definition spelled out (each bounty's planned reminders, each checked live)."""
    now = int(time.time())
    tz = ZoneInfo("Europe/Berlin")
    book = GroupBook(
        -1,
        bounties + 1,
        tuple(
            Bounty(i, f"t{i}", None, now + 3 * 86400 + i * 60, now, due_all_day=i % 2 == 0)
            for i in range(1, bounties + 1)
        ),
    )

    def at(b: Bounty) -> int:
        """The bounty's due moment, worked out afresh (as before the cache)."""
        assert b.due_date_ts is not None
        if not b.due_all_day:
            return b.due_date_ts
        return int(reminders._morning.__wrapped__(b.due_date_ts, tz))

    def definition() -> int | None:
        found = [
            r.when
            for b in book.bounties
            for r in reminders.planned(b, 86400, tz)
            if reminders._live(r, at(b), max(now, r.when))
        ]
        return min(found, default=None)

    started = time.perf_counter()
    for _ in range(rounds):
        fast = reminders.next_moment(book, now, 86400, tz)
    fast_ms = (time.perf_counter() - started) * 1000 / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        slow = definition()
    assert fast == slow, (fast, slow)
    return fast_ms, (time.perf_counter() - started) * 1000 / rounds


async def burst(tmp: Path) -> dict[str, Any]:
    """1,000 reminders due within one minute (added a week ahead, with a week's lead:
    none before, so these are the only ones)."""
    data = tmp / "burst"
    due = int(time.time()) + 20
    fill(data, BURST_CHATS, BURST_PER_CHAT, due, 40)
    async with FakeBotAPI() as api:
        api.enforce_limits()
        bot = BotProcess(api, data, tmp / "burst.log", JIGAIDO_REMIND_LEAD="604800")
        await bot.start()

        def delivered() -> int:
            return sum(len(SHOWN.findall(s.plain)) for s in api.sent)

        owed = BURST_CHATS * BURST_PER_CHAT
        started = time.monotonic()
        try:
            await api.wait_until(lambda: delivered() >= owed, 180)
        except AssertionError as e:
            print(f"remind: not every reminder went out: {str(e)[:200]}")
        took = time.monotonic() - started
        status = await bot.stop(30)
    shown = [(s.chat_id, i) for s in api.sent for i in SHOWN.findall(s.plain)]
    times = [s.time for s in api.sent]
    per_group = max(
        (
            most_in_any_window([s.time for s in api.sent_to(c)], 60)
            for c in {s.chat_id for s in api.sent}
            if c < 0
        ),
        default=0,
    )
    return {
        "owed": owed,
        "delivered": len(set(shown)),
        "duplicates": len(shown) - len(set(shown)),
        "messages": len(api.sent),
        "floods": api.flood_refusals,
        "overall_1s": most_in_any_window(times, 1),
        "per_group_60s": per_group,
        "seconds": took,
        "exit_status": status,
    }


async def measure() -> tuple[list[Row], dict[str, Any]]:
    part = "6 remind"
    with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as name:
        tmp = Path(name)
        full = tmp / "data-0"
        fill(full, CHATS, PER_CHAT, int(time.time()) + 3 * 86400, 7 * 86400)
        mb, entries = await plan_memory(full)
        # Start-up: the index as a clean stop leaves it, against an empty directory.
        moments = scan(full, int(time.time()), 86400, UTC)
        index = {"clean": True, "chats": {str(c): m for c, m in sorted(moments.items())}}
        (full / INDEX_FILE).write_bytes(orjson.dumps(index))
        with_index, empty = [], []
        for run in range(RUNS):
            empty.append((await bot_start(tmp, 100 + run))[0])  # data-100...: empty
            with_index.append((await bot_start(tmp, 0))[0])  # data-0: `full`
        # The fastest of each: a start is 1-7 s of imports whose noise is far larger
        # than what is measured; the least disturbed start shows what it costs.
        added = min(with_index) - min(empty)
        read_started = time.perf_counter()
        read_index(full / INDEX_FILE)
        read_ms = (time.perf_counter() - read_started) * 1000
        b = await burst(tmp)
    fast_ms, slow_ms = replan_ms()
    rows = [
        Row(
            part,
            f"plan for {CHATS * PER_CHAT:,} bounties in {CHATS:,} chats",
            f"{mb:.1f} MB ({entries:,} chats in the index)",
            f"≤ {PLAN_MB:g} MB",
            mb <= PLAN_MB,
        ),
        Row(
            part,
            "start-up to first getUpdates: with that index / empty (fastest)",
            f"{min(with_index):.2f} / {min(empty):.2f} s (medians {median(with_index):.2f} / "
            f"{median(empty):.2f})",
            "",
            None,
        ),
        Row(
            part,
            "reading that index (done in a thread beside the start)",
            f"{read_ms:.1f} ms",
            "",
            None,
        ),
        Row(
            part,
            "start-up added by the index",
            f"{added:+.2f} s",
            f"≤ {STARTUP_ADDED:g} s",
            added <= STARTUP_ADDED,
        ),
        Row(
            part,
            "next moment of a 1,000-bounty book after a write / its definition",
            f"{fast_ms:.2f} / {slow_ms:.2f} ms ({slow_ms / fast_ms:.1f}×)",
            "",
            None,
        ),
        Row(
            part,
            f"{b['owed']:,} reminders due within a minute: delivered / twice / messages",
            f"{b['delivered']:,} / {b['duplicates']} / {b['messages']:,} in {b['seconds']:.1f} s",
            f"{b['owed']:,} / 0 / merged",
            b["delivered"] == b["owed"] and b["duplicates"] == 0 and b["messages"] < b["owed"],
        ),
        Row(
            part,
            "429s; most overall in 1 s / to a group in 60 s",
            f"{b['floods']}; {b['overall_1s']} / {b['per_group_60s']}",
            "0; ≤ 30 / ≤ 20",
            b["floods"] == 0 and b["overall_1s"] <= 30 and b["per_group_60s"] <= 20,
        ),
    ]
    figures = {
        "plan_mb": mb,
        "plan_chats": entries,
        "startup_with_index_s": with_index,
        "startup_empty_s": empty,
        "index_read_ms": read_ms,
        "replan_ms": fast_ms,
        "replan_definition_ms": slow_ms,
        "startup_added_s": added,
        **{f"burst_{k}": v for k, v in b.items()},
    }
    return rows, figures
