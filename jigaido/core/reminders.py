"""Reminders (SPEC section 8): when each bounty's fall due, which are owed now, how a
sent one is recorded, and what the message says.

Pure: no disk, no clock (`now` comes in). A bounty with a due date that is not done
gets a reminder `lead` seconds before it is due (when it was added more than `lead`
before) and one at its due time; a due given as a whole day is reminded at 09:00 of
that day in the chat's zone. A sent reminder is recorded in the bounty itself
(`reminded`: "kind@due"), so a changed due date plans anew and `/done` ends them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, tzinfo
from typing import Literal, TypeVar

from jigaido.core import render
from jigaido.core.model import Bounty, GroupBook, UserBook

Book = TypeVar("Book", bound=GroupBook | UserBook)
Kind = Literal["before", "at"]

LEAD_SECONDS = 24 * 3600
# A reminder this far past its moment is sent marked late (the bot was down).
LATE_AFTER = 120
# A bounty more than this overdue gets no reminder any more, not even a late one.
TOO_LATE = 24 * 3600
# When a due given as a whole day is reminded: its morning, not its midnight.
ALL_DAY_AT = time(9, 0)
# Reminders of a chat falling due within this many seconds of each other go as one
# message, the first held back until the last of them is due (never longer than this).
GATHER_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Reminder:
    bounty_id: int
    kind: Kind
    due: int  # the due_date_ts it is for
    when: int  # when it falls due

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.due}"


def moment(b: Bounty, tz: tzinfo) -> int | None:
    """When a bounty is due, for its reminders: its time, or 09:00 of its day."""
    if b.due_date_ts is None:
        return None
    if not b.due_all_day:
        return b.due_date_ts
    return _morning(b.due_date_ts, tz)


@functools.lru_cache(maxsize=4096)
def _morning(due_date_ts: int, tz: tzinfo) -> int:
    """09:00 of the day `due_date_ts` falls on in `tz`: cached, since a chat's every
    write asks again for all its bounties (zone arithmetic is the costly part)."""
    try:
        day = datetime.fromtimestamp(due_date_ts, tz).date()
        return int(datetime.combine(day, ALL_DAY_AT, tzinfo=tz).timestamp())
    except (OverflowError, OSError, ValueError):
        return due_date_ts  # a date no calendar holds (a hand edit): the stamp will do


def planned(b: Bounty, lead: int, tz: tzinfo) -> list[Reminder]:
    """The bounty's reminders not yet sent, earliest first (none once it is done)."""
    at = moment(b, tz)
    if at is None or b.done or b.due_date_ts is None:
        return []
    found = []
    if at - b.created_at > lead:
        found.append(Reminder(b.id, "before", b.due_date_ts, at - lead))
    found.append(Reminder(b.id, "at", b.due_date_ts, at))
    return [r for r in found if r.key not in b.reminded]


def _live(r: Reminder, at: int, now: int) -> bool:
    """Still worth sending at `now`: its bounty not over a day overdue, and a reminder
    "before" not overtaken by the due time itself."""
    if now - at > TOO_LATE:
        return False
    return r.kind == "at" or now < at


def owed(book: GroupBook | UserBook, now: int, lead: int, tz: tzinfo) -> list[Reminder]:
    """The reminders of `book` that are due at `now` and still worth sending."""
    if not book.reminders:
        return []
    found = []
    for b in book.bounties:
        at = moment(b, tz)
        for r in planned(b, lead, tz):
            if at is not None and r.when <= now and _live(r, at, now):
                found.append(r)
    return sorted(found, key=lambda r: (r.when, r.bounty_id))


def gather_until(
    book: GroupBook | UserBook, owed: Sequence[Reminder], now: int, lead: int, tz: tzinfo
) -> int | None:
    """When to send `owed` so that what falls due within GATHER_SECONDS of the first of
    them goes in the same message: the moment of the last such reminder (of another
    bounty) still to come, or None to send now. Never later than GATHER_SECONDS after
    the first came due."""
    if not owed:
        return None
    horizon = min(r.when for r in owed) + GATHER_SECONDS
    owing = {r.bounty_id for r in owed}  # a bounty's own next reminder is news of its own
    coming = [
        r.when
        for b in book.bounties
        if b.id not in owing
        for r in planned(b, lead, tz)
        if now < r.when <= horizon
    ]
    return max(coming) if coming else None


def next_moment(book: GroupBook | UserBook, now: int, lead: int, tz: tzinfo) -> int | None:
    """When `book` next owes a reminder (at or before `now` if one is owed already);
    None if it never will as it stands."""
    if not book.reminders:
        return None
    # `planned` and `_live` spelled out without building reminders: this runs after
    # every write of a chat's bounties, over all of them.
    soonest: int | None = None
    for b in book.bounties:
        due = b.due_date_ts
        if due is None or b.status == "done":
            continue
        at = _morning(due, tz) if b.due_all_day else due
        for when, key in ((at - lead, "before"), (at, "at")):
            if key == "before" and at - b.created_at <= lead:
                continue  # added within the lead: no reminder before
            if b.reminded and f"{key}@{due}" in b.reminded:
                continue
            then = max(now, when)
            if then - at > TOO_LATE or (key == "before" and then >= at):
                continue
            if soonest is None or when < soonest:
                soonest = when
    return soonest


def skip_passed(b: Bounty, now: int, tz: tzinfo) -> Bounty:
    """`b` as its due is set now: a due whose moment has passed already (a day-only due
    of today after 09:00, a time gone by) gets no reminder at it, since nobody was
    offline when it fell due."""
    at = moment(b, tz)
    if at is None or at > now:
        return b
    return _recorded(b, [f"at@{b.due_date_ts}"])


def mark_sent(book: Book, sent: Iterable[Reminder]) -> Book:
    """`book` with `sent` recorded in their bounties (records of an earlier due dropped)."""
    by_bounty: dict[int, list[str]] = {}
    for r in sent:
        by_bounty.setdefault(r.bounty_id, []).append(r.key)
    if not by_bounty:
        return book
    return replace(book, bounties=tuple(_recorded(b, by_bounty.get(b.id)) for b in book.bounties))


def _recorded(b: Bounty, keys: list[str] | None) -> Bounty:
    if keys is None:
        return b
    current = [k for k in b.reminded if k.endswith(f"@{b.due_date_ts}")]
    return replace(b, reminded=tuple(dict.fromkeys(current + keys)))


def message(
    book: GroupBook | UserBook,
    reminders: Sequence[Reminder],
    now: int,
    tz: tzinfo,
    lead: int = LEAD_SECONDS,
) -> str:
    """One message for the reminders owed in a chat at once. In a group each names the
    bounty and mentions its claimer and its trackers by id, so Telegram notifies them."""
    return "\n\n".join(blocks(book, reminders, now, tz, lead))


def blocks(
    book: GroupBook | UserBook,
    reminders: Sequence[Reminder],
    now: int,
    tz: tzinfo,
    lead: int = LEAD_SECONDS,
) -> list[str]:
    """`message`'s blocks, one a reminder, for a sender that splits long messages."""
    by_id = {b.id: b for b in book.bounties}
    found = []
    for r in reminders:
        b = by_id.get(r.bounty_id)
        if b is None or b.due_date_ts is None:
            continue
        found.append(_block(b, r, now, tz, lead, in_group=isinstance(book, GroupBook)))
    return found


def _block(
    b: Bounty, r: Reminder, now: int, tz: tzinfo, lead: int, *, in_group: bool
) -> str:
    assert b.due_date_ts is not None
    due = render.due_html(b.due_date_ts, b.due_all_day, now, tz, spelled=True)
    # What is left, not the lead: a late one (the bot was down) has less.
    head = f"⏰ Due in {_span(r.when + lead - now)}" if r.kind == "before" else "⏰ Due now"
    lines = [f"{head}: <b>#{b.id}</b> {render.escape(b.text)}", f"📅 {due}"]
    if now - r.when > LATE_AFTER:
        lines.append("<i>(late: I was offline when it fell due)</i>")
    if in_group:
        people = _mentions(b)
        if people:
            lines.append(people)
    return "\n".join(lines)


def _span(seconds: int) -> str:
    """`24 hours`, `50 minutes`, `4 seconds`: rounded to the largest unit that says it."""
    for unit, size in (("hour", 2 * 3600), ("minute", 2 * 60)):
        if seconds >= size:
            return f"{round(seconds / (size // 2))} {unit}s"
    seconds = max(seconds, 1)
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _mentions(b: Bounty) -> str:
    """The claimer and the trackers, each a mention by id (names escaped)."""
    mentioned: list[str] = []
    if b.claimed_by_user_id is not None and not b.done:
        name = render.escape(b.claimed_by_name or "claimer")
        mentioned.append(f'🙋 <a href="tg://user?id={b.claimed_by_user_id}">{name}</a>')
    trackers = [u for u in b.tracked_by if u != b.claimed_by_user_id]
    if trackers:
        tell = " ".join(f'<a href="tg://user?id={u}">👤</a>' for u in trackers)
        mentioned.append(f"👀 {tell}")
    return " ".join(mentioned)
