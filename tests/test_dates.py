"""Due dates end to end: whatever the grammar accepts can be stored, shown, edited and
reminded of in every time zone, and whatever a file holds renders without raising."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jigaido.core.args import FIRST_DUE_DAY, LAST_DUE_DAY, parse_add, parse_edit
from jigaido.core.commands import ChatKind, Request, execute
from jigaido.core.errors import BadInput
from jigaido.core.model import Bounty, Doc, FileKey, GroupBook, TrackList, UserBook
from jigaido.core.render import MESSAGE_LIMIT, bounty_block, format_due, is_overdue, render_list
from tests.e2e.fakeapi import parse_html, utf16_len

GROUP = -100777
USER = 42
NOW = 1_790_000_000  # 2026-09-21
# Telegram's date_time entity carries a signed 32-bit time (MTProto `date:int`).
ENTITY_MAX = 2**31 - 1
# What v1 stored for /add x 9999-12-31 in UTC.
YEAR_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())

ALL_ZONES = sorted(available_timezones())
ZONES = st.one_of(
    # The far ends, odd offsets, and DST both ways, always in play; then any zone at all.
    st.sampled_from(
        ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Africa/Monrovia", "America/St_Johns", "Europe/Berlin",
         "America/Sao_Paulo", "Pacific/Apia"]
    ),
    st.sampled_from(ALL_ZONES),
).map(ZoneInfo)  # fmt: skip


def _window(day: date, days: int = 6) -> st.SearchStrategy[datetime]:
    start = datetime.combine(day, time())
    return st.datetimes(start - timedelta(days=days), start + timedelta(days=days))


# Clocks near the ends of the range, ten years before the first day (where relative dues
# start to reach it), at datetime's own limits, and anywhere.
NAIVE_NOWS = st.one_of(
    _window(FIRST_DUE_DAY),
    _window(LAST_DUE_DAY),
    _window(FIRST_DUE_DAY - timedelta(days=3653)),
    st.datetimes(datetime(9999, 12, 20), datetime.max),
    st.datetimes(datetime.min, datetime(1, 1, 10)),
    st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)),
    st.datetimes(),
)


def _iso(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


DATES = st.one_of(
    st.dates(FIRST_DUE_DAY - timedelta(days=3), FIRST_DUE_DAY + timedelta(days=3)),
    st.dates(LAST_DUE_DAY - timedelta(days=3), LAST_DUE_DAY + timedelta(days=3)),
    st.dates(date(9999, 12, 25), date.max),
    st.dates(date.min, date(1, 1, 5)),
    st.dates(),
).map(_iso)
CLOCKS = st.one_of(
    st.sampled_from(["00:00", "23:59", "0:00", "24:00", "12:60"]),
    st.times().map(lambda t: f"{t.hour:02d}:{t.minute:02d}"),
)
DAY_WORDS = st.sampled_from(
    ["today", "tomorrow", "monday", "tue", "wednesday", "thu", "fri", "saturday", "sun"]
)
RELATIVE = st.one_of(
    st.tuples(st.integers(1, 10**8), st.sampled_from("hdw")).map(lambda p: f"{p[0]}{p[1]}"),
    st.sampled_from(["87672h", "87673h", "3653d", "3654d", "521w", "522w", "1h", "1d", "1w"]),
)
DUES = st.one_of(
    DATES,
    st.tuples(st.one_of(DATES, DAY_WORDS), CLOCKS).map(" ".join),
    DAY_WORDS,
    RELATIVE,
    st.sampled_from(["0000-01-01", "2037-12-32", "2038-02-29", "1970-01-01", "9999-12-31"]),
)
# Timestamps a file may hold: the grammar's, v1's, and anything an operator typed.
ANY_TS = st.one_of(
    st.integers(),
    st.integers(-(2**64), 2**64),
    st.integers(-62135596800 - 2 * 86400, -62135596800 + 2 * 86400),  # datetime.min, UTC
    st.integers(YEAR_9999 - 86400, YEAR_9999 + 3 * 86400),  # datetime.max, UTC
    st.integers(-2 * 86400, 2 * 86400),
    st.sampled_from([10**4000, -(10**4000), 2**63 - 1, -(2**63), ENTITY_MAX]),
)


def _check_messages(messages: list[str]) -> None:
    for message in messages:
        plain = parse_html(message)  # raises if Telegram would refuse the markup
        assert utf16_len(plain) <= MESSAGE_LIMIT


def _day_end(ts: int, zone: ZoneInfo) -> int:
    day = datetime.fromtimestamp(ts, zone).date()
    return int(datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).timestamp())


# --- the original bug, through the commands ------------------------------------------


def test_add_of_year_9999_is_refused_with_the_range() -> None:
    """/add x 9999-12-31 is refused, saying the allowed range, and stores nothing."""
    request = Request(1, GROUP, "group", USER, 7, "add", "x 9999-12-31")
    outcome = execute(request, {FileKey.group(GROUP): None}, NOW, UTC)
    assert outcome.messages == (
        "⚠️ Out of range: 9999-12-31. A due date must be from 1971-01-01 to 2037-12-31.",
    )
    assert not outcome.changed


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"])
def test_v1_book_with_year_9999_lists_in_group_and_dm(zone: str) -> None:
    """A book v1 wrote with 9999-12-31 answers /bounty and /my, in a group and a DM."""
    tz = ZoneInfo(zone)
    due = Bounty(1, "someday", None, YEAR_9999, NOW - 100, USER, due_all_day=True)
    other = Bounty(2, "soon", None, NOW + 3600, NOW - 100, USER)
    docs: dict[FileKey, Doc | None] = {
        FileKey.group(GROUP): GroupBook(GROUP, 3, (due, other)),
        FileKey.tracking(GROUP, USER): TrackList(USER, (1, 2)),
        FileKey.user(USER): UserBook(USER, 3, (due, other)),
    }
    chats: list[tuple[int, ChatKind, str]] = [
        (GROUP, "group", "bounty"),
        (GROUP, "group", "my"),
        (USER, "private", "bounty"),
        (USER, "private", "my"),
    ]
    for chat, kind, command in chats:
        outcome = execute(Request(1, chat, kind, USER, 7, command), docs, NOW, tz)
        [message] = outcome.messages
        _check_messages([message])
        assert "#1</b> someday" in message
        assert "#2</b> soon" in message
        assert "overdue" not in message
    # Shown as its day in the chat's zone, though in +14 that day's end is past year 9999.
    shown = {"UTC": "9999-12-31", "Pacific/Kiritimati": "9999-12-31", "Etc/GMT+12": "9999-12-30"}
    assert format_due(YEAR_9999, True, tz) == shown[zone]


def test_v1_year_9999_bounty_can_be_edited_back_into_range() -> None:
    """/edit gives a v1 year-9999 bounty a due the grammar accepts."""
    book = GroupBook(GROUP, 2, (Bounty(1, "someday", None, YEAR_9999, 0, USER, True),))
    request = Request(2, GROUP, "group", USER, 7, "edit", "1 tomorrow")
    outcome = execute(request, {FileKey.group(GROUP): book}, NOW, UTC)
    assert outcome.messages == ("✏️ Updated <b>#1</b>: due Tue 22 Sep",)
    [edited] = outcome.changed.values()
    assert isinstance(edited, GroupBook)
    assert edited.bounties[0].due_date_ts == int(datetime(2026, 9, 22, tzinfo=UTC).timestamp())


# --- properties -----------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(due=DUES, naive_now=NAIVE_NOWS, zone=ZONES, shown_in=ZONES, edit=st.booleans())
def test_accepted_due_survives_every_later_use(
    due: str, naive_now: datetime, zone: ZoneInfo, shown_in: ZoneInfo, edit: bool
) -> None:
    """A due /add or /edit accepts, in any zone and from any clock, is a positive 32-bit
    time whose reminder a day early, whose day's end and whose date exist in every zone,
    and it renders; what they refuse, they refuse with the range or another BadInput."""
    now = naive_now.replace(tzinfo=zone)
    try:
        parsed = parse_edit(f"1 {due}", now).due if edit else parse_add(f"x {due}", now).due
    except BadInput:
        return  # a refusal is an answer; which one, test_args checks
    if parsed is None:
        return  # kept as text ("meet 24:00" is not a due)
    ts = parsed.ts
    assert ts - 86400 > 0  # the reminder a day before, at a positive time
    assert ts <= ENTITY_MAX
    assert FIRST_DUE_DAY <= datetime.fromtimestamp(ts, zone).date() <= LAST_DUE_DAY
    # The chat may switch to another zone: the date and the day's end must exist there too.
    assert 0 < _day_end(ts, shown_in) <= ENTITY_MAX
    assert not format_due(ts, parsed.all_day, shown_in).startswith("not a date")
    b = Bounty(1, "x", None, ts, 0, USER, parsed.all_day)
    for tz in (zone, shown_in):
        is_overdue(b, int(now.timestamp()), tz)
        _check_messages(render_list("L", [b], NOW, tz, empty="none"))


@settings(max_examples=1000, deadline=None)
@given(ts=ANY_TS, all_day=st.booleans(), zone=ZONES, now=st.integers(-(2**40), 2**40))
def test_render_is_total_for_any_stored_timestamp(
    ts: int, all_day: bool, zone: ZoneInfo, now: int
) -> None:
    """Any integer a file may hold formats, is or is not overdue, and lists as valid
    HTML in any zone; one no calendar holds shows as not a date, with the fix."""
    b = Bounty(3, "x", None, ts, 0, USER, all_day)
    shown = format_due(ts, all_day, zone)
    assert isinstance(is_overdue(b, now, zone), bool)
    block = bounty_block(b, now, zone)
    if shown.startswith("not a date"):
        assert block.endswith(f"📅 ⚠️ {shown} (fix it with /edit 3 and a new due, or nodue)")
    else:
        assert shown[:4].isdigit()
    _check_messages(render_list("L", [b, Bounty(4, "y", None, None, 0, USER)], now, zone, empty=""))
