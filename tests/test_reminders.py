"""The reminders' pure core: when they fall due, which are owed, how a sent one is
recorded, and what the message says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from jigaido.core import reminders
from jigaido.core.model import Bounty, GroupBook, UserBook
from jigaido.core.reminders import (
    GATHER_SECONDS,
    LEAD_SECONDS,
    TOO_LATE,
    Reminder,
    gather_until,
    mark_sent,
    message,
    moment,
    next_moment,
    owed,
    planned,
    skip_passed,
)

DAY = 24 * 3600
T0 = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp())
BERLIN = ZoneInfo("Europe/Berlin")


def bounty(
    i: int = 1, *, due: int | None = T0 + 3 * DAY, created: int = T0, **kw: object
) -> Bounty:
    return Bounty(i, f"Task {i}", None, due, created, created_by_user_id=5, **kw)  # type: ignore[arg-type]


def test_a_bounty_is_reminded_a_day_before_and_at_its_due_time() -> None:
    """Added three days ahead: a reminder 24 h before and one at the due time."""
    b = bounty()
    assert planned(b, LEAD_SECONDS, UTC) == [
        Reminder(1, "before", T0 + 3 * DAY, T0 + 2 * DAY),
        Reminder(1, "at", T0 + 3 * DAY, T0 + 3 * DAY),
    ]


def test_no_reminder_before_when_added_within_the_lead() -> None:
    """Added less than 24 h before its due: only the one at the due time."""
    assert [r.kind for r in planned(bounty(due=T0 + 3600), LEAD_SECONDS, UTC)] == ["at"]


def test_an_all_day_due_is_reminded_at_nine_in_the_chats_zone() -> None:
    """A due given as a day is reminded at 09:00 of that day, in the chat's zone."""
    midnight = int(datetime(2026, 12, 24, tzinfo=BERLIN).timestamp())
    b = bounty(due=midnight, due_all_day=True)
    assert moment(b, BERLIN) == int(datetime(2026, 12, 24, 9, tzinfo=BERLIN).timestamp())


def test_done_ends_them_and_a_sent_one_is_not_owed_again() -> None:
    """A done bounty owes none; a recorded one is not owed again; a changed due plans
    anew (the record names the due it was for)."""
    b = bounty()
    assert planned(replace(b, status="done"), LEAD_SECONDS, UTC) == []
    book = GroupBook(-1, 2, (b,))
    [first] = owed(book, T0 + 2 * DAY, LEAD_SECONDS, UTC)
    sent = mark_sent(book, [first])
    assert sent.bounties[0].reminded == (f"before@{T0 + 3 * DAY}",)
    assert owed(sent, T0 + 2 * DAY + 60, LEAD_SECONDS, UTC) == []
    moved = replace(sent, bounties=(replace(sent.bounties[0], due_date_ts=T0 + 5 * DAY),))
    assert [r.kind for r in owed(moved, T0 + 4 * DAY, LEAD_SECONDS, UTC)] == ["before"]
    assert mark_sent(moved, owed(moved, T0 + 4 * DAY, LEAD_SECONDS, UTC)).bounties[0].reminded == (
        f"before@{T0 + 5 * DAY}",
    )


def test_after_a_long_downtime_only_what_is_still_worth_it_is_owed() -> None:
    """Down across the due time: the reminder at the due is owed (late), the one before
    it is overtaken; more than 24 h overdue, nothing is owed any more."""
    book = UserBook(7, 2, (bounty(),))
    late = owed(book, T0 + 3 * DAY + 3600, LEAD_SECONDS, UTC)
    assert [r.kind for r in late] == ["at"]
    assert "late" in message(book, late, T0 + 3 * DAY + 3600, UTC)
    assert owed(book, T0 + 3 * DAY + TOO_LATE + 1, LEAD_SECONDS, UTC) == []
    assert next_moment(book, T0 + 3 * DAY + TOO_LATE + 1, LEAD_SECONDS, UTC) is None


def test_next_moment_is_the_earliest_unsent() -> None:
    """The chat's next moment is its earliest reminder still to send; none when off."""
    book = GroupBook(-1, 3, (bounty(1), bounty(2, due=T0 + DAY * 10)))
    assert next_moment(book, T0, LEAD_SECONDS, UTC) == T0 + 2 * DAY
    assert next_moment(replace(book, reminders=False), T0, LEAD_SECONDS, UTC) is None


def test_reminders_due_within_seconds_of_each_other_wait_for_the_last() -> None:
    """Three bounties due 0, 4 and 8 s apart, and one 30 s later: the first waits for
    the third (one message), never beyond GATHER_SECONDS, and not for the fourth; a
    bounty's own next reminder is not waited for."""
    due = T0 + 3 * DAY
    dues = {1: due, 2: due + 4, 3: due + 8, 4: due + 30}
    # Added a minute ahead: only the reminders at the due.
    book = GroupBook(-1, 5, tuple(bounty(i, due=d, created=due - 60) for i, d in dues.items()))
    first = owed(book, due, LEAD_SECONDS, UTC)
    assert [r.bounty_id for r in first] == [1]
    assert gather_until(book, first, due, LEAD_SECONDS, UTC) == due + 8
    assert 8 <= GATHER_SECONDS < 30
    later = owed(book, due + 8, LEAD_SECONDS, UTC)
    assert [r.bounty_id for r in later] == [1, 2, 3]
    assert gather_until(book, later, due + 8, LEAD_SECONDS, UTC) is None
    alone = GroupBook(-1, 2, (bounty(1, due=due, created=due - 5),))
    lead = 3  # its "at" comes 3 s after its "before"
    before = owed(alone, due - lead, lead, UTC)
    assert [r.kind for r in before] == ["before"]
    assert gather_until(alone, before, due - lead, lead, UTC) is None


def test_the_group_message_mentions_the_claimer_and_the_trackers() -> None:
    """In a group the reminder names the bounty and mentions its claimer (by name,
    escaped) and its trackers by id, so Telegram notifies them."""
    b = bounty(
        status="claimed", claimed_by_user_id=8, claimed_by_name="<Bob>", tracked_by=(9, 8, 10)
    )
    book = GroupBook(-1, 2, (b,))
    text = message(book, owed(book, T0 + 3 * DAY, LEAD_SECONDS, UTC), T0 + 3 * DAY, UTC)
    assert text.startswith("⏰ Due now: <b>#1</b> Task 1\n📅 ")
    assert '🙋 <a href="tg://user?id=8">&lt;Bob&gt;</a>' in text
    assert '<a href="tg://user?id=9">👤</a> <a href="tg://user?id=10">👤</a>' in text


@given(
    st.integers(-(10**12), 10**12),
    st.integers(0, 4 * DAY),
    st.booleans(),
    st.integers(0, 10 * DAY),
)
def test_anything_a_file_holds_plans_without_raising(
    due: int, age: int, all_day: bool, later: int
) -> None:
    """Any stamp a file may hold: planning, owing and the message never raise, and a
    reminder once recorded is never owed again."""
    book = GroupBook(-1, 2, (bounty(due=due, created=due - age, due_all_day=all_day),))
    now = due + later - 2 * DAY
    found = owed(book, now, LEAD_SECONDS, UTC)
    message(book, found, now, UTC)
    next_moment(book, now, LEAD_SECONDS, UTC)
    assert owed(mark_sent(book, found), now, LEAD_SECONDS, UTC) == []


def reference_next_moment(book: GroupBook, now: int, lead: int, tz: ZoneInfo) -> int | None:
    """next_moment as the definition reads: the earliest planned reminder still live."""
    if not book.reminders:
        return None
    found = [
        r.when
        for b in book.bounties
        for r in planned(b, lead, tz)
        if reminders._live(r, moment(b, tz) or 0, max(now, r.when))
    ]
    return min(found, default=None)


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(T0 - 3 * DAY, T0 + 3 * DAY)),
            st.integers(0, 3 * DAY),
            st.booleans(),
            st.sampled_from(["open", "claimed", "done"]),
            st.sets(st.sampled_from(["before", "at", "old"])),
        ),
        max_size=8,
    ),
    st.integers(T0 - 2 * DAY, T0 + 4 * DAY),
    st.sampled_from([3600, LEAD_SECONDS]),
    st.booleans(),
)
def test_next_moment_is_the_earliest_live_planned_reminder(
    specs: list[tuple[int | None, int, bool, str, set[str]]],
    now: int,
    lead: int,
    on: bool,
) -> None:
    """The fast next_moment agrees with its definition for any book."""
    bounties = []
    for i, (due, age, all_day, status, sent) in enumerate(specs, start=1):
        keys = tuple(f"{k}@{due if k != 'old' else 1}" for k in sorted(sent))
        created = (due or T0) - age
        bounties.append(
            bounty(i, due=due, created=created, due_all_day=all_day, status=status, reminded=keys)
        )
    book = GroupBook(-1, len(bounties) + 1, tuple(bounties), reminders=on)
    assert next_moment(book, now, lead, BERLIN) == reference_next_moment(book, now, lead, BERLIN)


def test_a_late_reminder_before_says_what_is_left_not_the_lead() -> None:
    """Sent on time it says the lead; sent late (the bot was down) what is left."""
    b = bounty()
    book = GroupBook(-1, 2, (b,))
    [on_time] = owed(book, T0 + 2 * DAY, LEAD_SECONDS, UTC)
    assert message(book, [on_time], T0 + 2 * DAY, UTC).startswith("⏰ Due in 24 hours: ")
    late = T0 + 3 * DAY - 50 * 60
    [r] = owed(book, late, LEAD_SECONDS, UTC)
    assert message(book, [r], late, UTC).startswith("⏰ Due in 50 minutes: ")


def test_a_due_set_after_its_moment_gets_no_reminder_at_it() -> None:
    """A day-only due of today added after 09:00, or a time already gone, is not
    reminded "late": nobody was offline when it fell due. One still ahead is."""
    today = bounty(due=T0 - 12 * 3600, created=T0, due_all_day=True)  # 00:00 today
    assert owed(GroupBook(-1, 2, (skip_passed(today, T0, UTC),)), T0, LEAD_SECONDS, UTC) == []
    ahead = bounty(due=T0 + 60, created=T0)
    assert skip_passed(ahead, T0, UTC) == ahead
