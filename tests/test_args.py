"""The argument grammar: commands, /add and /edit arguments, ids."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jigaido.core.args import (
    MAX_LINK,
    MAX_TEXT,
    AddArgs,
    Due,
    EditArgs,
    parse_add,
    parse_edit,
    parse_id,
    parse_zone,
    split_command,
    zone,
)
from jigaido.core.errors import BadInput

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday afternoon, UTC.
NOW = datetime(2025, 3, 12, 15, 30, tzinfo=UTC)
# Saturday evening before Berlin's clocks go forward (Sunday 2025-03-30, 02:00 → 03:00).
NOW_BERLIN = datetime(2025, 3, 29, 20, 0, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def due_of(raw: str, now: datetime = NOW) -> Due | None:
    return parse_add(f"x {raw}", now).due


# --- split_command ----------------------------------------------------------------------


def test_split_plain_command() -> None:
    """A command and its arguments are split, the arguments stripped."""
    assert split_command("/add  buy milk  ", "JigBot") == ("add", "buy milk")


def test_split_no_arguments() -> None:
    """A command alone has empty arguments."""
    assert split_command("/bounty", "JigBot") == ("bounty", "")


def test_split_lowercases_name() -> None:
    """Command names match case-insensitively."""
    assert split_command("/Add x", "JigBot") == ("add", "x")


def test_split_this_bot_mention() -> None:
    """A command addressed to this bot works, whatever the mention's case."""
    assert split_command("/add@jigbot x", "JigBot") == ("add", "x")
    assert split_command("/ADD@JIGBOT", "JigBot") == ("add", "")


def test_split_other_bot_mention() -> None:
    """A command addressed to another bot is not ours."""
    assert split_command("/add@other_bot x", "JigBot") is None
    assert split_command("/add@ x", "JigBot") is None


def test_split_newline_after_command() -> None:
    """The command may be followed by a newline; inner lines and spaces are kept."""
    assert split_command("/add\nline one\n  line  two\n", "JigBot") == (
        "add",
        "line one\n  line  two",
    )


def test_split_not_commands() -> None:
    """Ordinary text, a lone slash and malformed names are not commands."""
    for text in ["hello", " /add x", "", "/", "/ add", "/add-x", "/добавить", "/" + "a" * 33]:
        assert split_command(text, "JigBot") is None, text


def test_split_longest_name() -> None:
    """A 32-character name is still a command."""
    assert split_command("/" + "a" * 32, "JigBot") == ("a" * 32, "")


# --- parse_add: text and link -----------------------------------------------------------


def test_add_text_only() -> None:
    """Without link or due everything is the text."""
    assert parse_add("fix the login bug", NOW) == AddArgs("fix the login bug", None, None)


def test_add_keeps_inner_spacing_and_lines() -> None:
    """Inner spaces and line breaks are kept; the outer whitespace goes."""
    raw = "  first  line\n\n  second line \n https://example.com/a  tomorrow \n"
    args = parse_add(raw, NOW)
    assert args.text == "first  line\n\n  second line"
    assert args.link == "https://example.com/a"
    assert args.due == Due(utc(2025, 3, 13), all_day=True)


def test_add_link_then_due() -> None:
    """A link followed by a due date: both are taken."""
    args = parse_add("read docs https://example.com 2025-04-01", NOW)
    assert args == AddArgs("read docs", "https://example.com", Due(utc(2025, 4, 1), True))


def test_add_due_then_link() -> None:
    """A due date followed by a link: both are taken."""
    args = parse_add("read docs 2025-04-01 https://example.com", NOW)
    assert args == AddArgs("read docs", "https://example.com", Due(utc(2025, 4, 1), True))


def test_add_date_time_then_link() -> None:
    """A two-token due followed by a link: both are taken."""
    args = parse_add("call 2025-04-01 09:15 http://example.com/x?y=1", NOW)
    assert args == AddArgs(
        "call", "http://example.com/x?y=1", Due(utc(2025, 4, 1, 9, 15), all_day=False)
    )


def test_add_only_one_link_and_one_due() -> None:
    """A second link or due before the taken ones stays in the text."""
    args = parse_add("see https://a.example 2025-01-01 https://b.example 2025-02-01", NOW)
    assert args.text == "see https://a.example 2025-01-01"
    assert args.link == "https://b.example"
    assert args.due == Due(utc(2025, 2, 1), True)


def test_add_due_words_inside_text_stay_text() -> None:
    """Due-like words that are not at the end are part of the text."""
    args = parse_add("do it today or tomorrow, not 3d later please", NOW)
    assert args == AddArgs("do it today or tomorrow, not 3d later please", None, None)


def test_add_link_scheme_case_insensitive() -> None:
    """HTTPS:// counts as a link and is kept as written."""
    assert parse_add("x HTTPS://Example.com/Path", NOW).link == "HTTPS://Example.com/Path"


def test_add_non_http_links_are_text() -> None:
    """www.… and ftp://… are not links, just text."""
    assert parse_add("x www.example.com", NOW) == AddArgs("x www.example.com", None, None)
    assert parse_add("x ftp://example.com", NOW) == AddArgs("x ftp://example.com", None, None)


def test_add_link_without_host_refused() -> None:
    """http(s):// without a host is refused."""
    for link in ["https://", "http:///path", "https://user@", "http://[::1"]:
        with pytest.raises(BadInput, match="Not a link"):
            parse_add(f"x {link}", NOW)


def test_add_link_length_limit() -> None:
    """A 2,048-character link is fine; 2,049 is refused, saying both lengths."""
    base = "https://example.com/"
    ok = base + "a" * (MAX_LINK - len(base))
    assert parse_add(f"x {ok}", NOW).link == ok
    with pytest.raises(BadInput, match=r"2,049 characters; the limit is 2,048"):
        parse_add(f"x {ok}a", NOW)


def test_add_empty_text_refused() -> None:
    """No text, or only a link and a due, is refused with the usage."""
    for raw in [None, "", "   ", "https://example.com", "tomorrow", "https://example.com 3d"]:
        with pytest.raises(BadInput, match=r"needs a text\. Usage: /add <text> \[link\] \[due\]"):
            parse_add(raw, NOW)


def test_add_text_length_limit() -> None:
    """1,000 characters are fine; 1,001 are refused, saying both lengths."""
    assert parse_add("a" * MAX_TEXT, NOW).text == "a" * MAX_TEXT
    with pytest.raises(BadInput, match=r"1,001 characters; the limit is 1,000"):
        parse_add("a" * (MAX_TEXT + 1), NOW)


def test_add_text_limit_after_stripping() -> None:
    """The limit counts the text without surrounding whitespace, link and due."""
    args = parse_add("  " + "a" * MAX_TEXT + "  https://example.com 3d", NOW)
    assert len(args.text) == MAX_TEXT


# --- parse_add: due formats ---------------------------------------------------------------


def test_due_iso_date() -> None:
    """YYYY-MM-DD is local midnight starting that day, all day."""
    assert due_of("2025-04-01") == Due(utc(2025, 4, 1), all_day=True)


def test_due_iso_date_time() -> None:
    """YYYY-MM-DD HH:MM is that local time, not all day."""
    assert due_of("2025-04-01 17:05") == Due(utc(2025, 4, 1, 17, 5), all_day=False)
    assert due_of("2025-04-01 7:05") == Due(utc(2025, 4, 1, 7, 5), all_day=False)


def test_due_past_date_accepted() -> None:
    """A date in the past is accepted (the list shows it overdue)."""
    assert due_of("2020-01-01") == Due(utc(2020, 1, 1), all_day=True)


def test_due_today_tomorrow() -> None:
    """today and tomorrow are local midnights, all day, case-insensitive."""
    assert due_of("today") == Due(utc(2025, 3, 12), all_day=True)
    assert due_of("Tomorrow") == Due(utc(2025, 3, 13), all_day=True)


def test_due_relative() -> None:
    """<N>h is exactly that long from now; <N>d and <N>w name the day that far ahead (a
    whole day, as a weekday does: not the minute the command was sent)."""
    now_ts = int(NOW.timestamp())
    assert due_of("12h") == Due(now_ts + 12 * 3600, all_day=False)
    assert due_of("3d") == Due(utc(2025, 3, 15), all_day=True)
    assert due_of("2W") == Due(utc(2025, 3, 26), all_day=True)


def test_due_relative_zero_refused() -> None:
    """0h / 0d / 0w are refused."""
    for token in ["0h", "0d", "00w"]:
        with pytest.raises(BadInput, match=f"Not a due: {token}"):
            due_of(token)


def test_due_relative_ten_years() -> None:
    """Up to ten years ahead is fine; more, or an absurd number, is refused."""
    assert due_of("520w") == Due(utc(2035, 2, 28), all_day=True)
    for token in ["3654d", "600w", "87700h", "99999999999999999999999999d"]:
        with pytest.raises(BadInput, match="Too far ahead"):
            due_of(token)


def test_due_weekday_next_occurrence() -> None:
    """A weekday name is its next occurrence, full or short, as people write it: lower
    case or capitalised. In capitals it is an acronym (the SAT), and stays text."""
    # NOW is a Wednesday, 2025-03-12.
    assert due_of("thursday") == Due(utc(2025, 3, 13), all_day=True)
    assert due_of("Fri") == Due(utc(2025, 3, 14), all_day=True)
    assert due_of("Monday") == Due(utc(2025, 3, 17), all_day=True)
    assert due_of("tue") == Due(utc(2025, 3, 18), all_day=True)
    assert due_of("MONDAY") is None
    assert parse_add("Study for the SAT", NOW) == AddArgs("Study for the SAT", None, None)


def test_due_weekday_same_day_is_next_week() -> None:
    """Said on a Wednesday, wednesday means seven days ahead."""
    assert due_of("wednesday") == Due(utc(2025, 3, 19), all_day=True)
    assert due_of("wed") == Due(utc(2025, 3, 19), all_day=True)


def test_due_day_word_with_time() -> None:
    """today/tomorrow/a weekday followed by HH:MM is that time on that day."""
    assert due_of("tomorrow 08:00") == Due(utc(2025, 3, 13, 8, 0), all_day=False)
    assert due_of("fri 18:30") == Due(utc(2025, 3, 14, 18, 30), all_day=False)


def test_bare_time_is_text() -> None:
    """A time without a day before it stays text."""
    assert parse_add("standup 10:30", NOW) == AddArgs("standup 10:30", None, None)


def test_bad_dates_refused() -> None:
    """Tokens that look like dates but are not valid YYYY-MM-DD are refused."""
    for token in ["2025-02-30", "2025-13-01", "2025-2-3", "2025/02/03", "30.02.2025", "3/4/25"]:
        with pytest.raises(BadInput) as info:
            due_of(token)
        assert str(info.value) == f"Not a date: {token}. Use YYYY-MM-DD."


def test_bad_date_before_link_refused() -> None:
    """A bad date is refused also when a link follows it."""
    with pytest.raises(BadInput, match="Not a date: 2025-02-30"):
        parse_add("x 2025-02-30 https://example.com", NOW)


def test_year_out_of_range_refused() -> None:
    """Dates outside 1971 to 2037 are refused, saying the range; the bounds are fine."""
    for token in ["1970-12-31", "1970-01-01", "0000-01-01", "2038-01-01", "9999-12-31"]:
        with pytest.raises(BadInput) as info:
            due_of(token)
        assert str(info.value) == (
            f"Out of range: {token}. A due date must be from 1971-01-01 to 2037-12-31."
        )
    assert due_of("1971-01-01") == Due(utc(1971, 1, 1), all_day=True)
    assert due_of("2037-12-31 23:59") == Due(utc(2037, 12, 31, 23, 59), all_day=False)


def test_out_of_range_date_with_time_refused() -> None:
    """A date out of range is refused with a time after it too, not kept as text."""
    with pytest.raises(BadInput, match=r"^Out of range: 2038-01-01\. A due date"):
        due_of("2038-01-01 00:00")
    with pytest.raises(BadInput, match=r"^Out of range: 9999-12-31\. A due date"):
        parse_edit("5 new text 9999-12-31 23:59 https://example.com", NOW)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo"])
def test_range_bounds_fit_every_use_in_far_zones(zone: str) -> None:
    """At UTC+14 and UTC-12 the first and last days stay positive 32-bit times, with a
    reminder a day earlier and the day's end."""
    now = datetime(2025, 3, 12, 12, tzinfo=ZoneInfo(zone))
    first, last = due_of("1971-01-01", now), due_of("2037-12-31 23:59", now)
    assert first is not None
    assert last is not None
    assert first.ts - 86400 > 0
    assert last.ts + 86400 < 2**31


def test_day_words_at_the_last_day() -> None:
    """On 2037-12-31 today and its weekday are fine; tomorrow and later ones are refused."""
    now = datetime(2037, 12, 31, 23, 30, tzinfo=UTC)  # a Thursday
    assert due_of("today", now) == Due(utc(2037, 12, 31), all_day=True)
    assert due_of("today 23:59", now) == Due(utc(2037, 12, 31, 23, 59), all_day=False)
    for token in ["tomorrow", "fri", "thursday", "tomorrow 08:00"]:
        with pytest.raises(BadInput, match="A due date must be from 1971-01-01 to 2037-12-31"):
            due_of(token, now)


def test_weekday_past_the_last_day_refused() -> None:
    """Said on Monday 2037-12-28, thursday is in range and friday (2038) is not."""
    now = datetime(2037, 12, 28, 9, tzinfo=UTC)
    assert due_of("thu", now) == Due(utc(2037, 12, 31), all_day=True)
    with pytest.raises(BadInput, match=r"^Out of range: fri"):
        due_of("fri", now)


def test_relative_past_the_last_day_refused() -> None:
    """A relative due within ten years but after 2037 is refused with the range."""
    now = datetime(2037, 12, 31, 23, 30, tzinfo=UTC)
    with pytest.raises(BadInput, match=r"^Out of range: 1h"):
        due_of("1h", now)
    with pytest.raises(BadInput, match=r"^Out of range: 520w"):
        due_of("520w", datetime(2030, 1, 1, tzinfo=UTC))
    assert due_of("1h", datetime(2037, 12, 31, 22, 59, tzinfo=UTC)) == Due(
        utc(2037, 12, 31, 23, 59), all_day=False
    )


def test_relative_from_before_the_first_day() -> None:
    """From a clock set before 1971, a relative due counts only once it lands in range."""
    now = datetime(1970, 12, 31, 12, tzinfo=UTC)
    with pytest.raises(BadInput, match=r"^Out of range: 1h"):
        due_of("1h", now)
    assert due_of("1d", now) == Due(utc(1971, 1, 1), all_day=True)
    assert due_of("3653d", datetime(1961, 1, 1, tzinfo=UTC)) == Due(utc(1971, 1, 2), True)


@pytest.mark.parametrize(
    "now",
    [datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=ZoneInfo("Pacific/Kiritimati"))],
    ids=["datetime.max", "datetime.min"],
)
def test_clock_at_datetime_limits_refuses_without_overflow(now: datetime) -> None:
    """A `now` at datetime's own limits gets a range answer for every kind of due."""
    for token in ["today", "tomorrow", "sunday", "1h", "3d", "520w", "tomorrow 10:00"]:
        with pytest.raises(BadInput, match="A due date must be from"):
            due_of(token, now)


def test_bad_times_refused() -> None:
    """A date followed by an impossible time is refused."""
    for token in ["25:00", "24:00", "12:60", "99:99"]:
        with pytest.raises(BadInput, match=f"Not a time: {token}"):
            due_of(f"2025-04-01 {token}")


def test_numbers_that_are_not_dates_are_text() -> None:
    """Version numbers and phone numbers are not mistaken for dates."""
    for text in ["upgrade to 3.12.1", "call 555-123-4567", "build 10.0.19041"]:
        assert parse_add(text, NOW) == AddArgs(text, None, None)


# --- parse_add in a zone with DST -----------------------------------------------------------


def test_berlin_today_and_tomorrow_across_dst() -> None:
    """Local midnights use the offset of their own day: CET today, CET on the change day."""
    assert due_of("today", NOW_BERLIN) == Due(utc(2025, 3, 28, 23), all_day=True)
    assert due_of("tomorrow", NOW_BERLIN) == Due(utc(2025, 3, 29, 23), all_day=True)
    assert due_of("sun", NOW_BERLIN) == Due(utc(2025, 3, 29, 23), all_day=True)


def test_berlin_date_after_dst_change() -> None:
    """The day after the change starts at 00:00 CEST (UTC+2)."""
    assert due_of("2025-03-31", NOW_BERLIN) == Due(utc(2025, 3, 30, 22), all_day=True)
    assert due_of("monday", NOW_BERLIN) == Due(utc(2025, 3, 30, 22), all_day=True)


def test_berlin_date_time() -> None:
    """YYYY-MM-DD HH:MM is Berlin wall time, winter and summer."""
    assert due_of("2025-01-15 09:00", NOW_BERLIN) == Due(utc(2025, 1, 15, 8), all_day=False)
    assert due_of("2025-07-15 09:00", NOW_BERLIN) == Due(utc(2025, 7, 15, 7), all_day=False)


def test_berlin_hours_are_elapsed_hours() -> None:
    """12h across the clock change is 12 real hours."""
    now_ts = int(NOW_BERLIN.timestamp())
    assert due_of("12h", NOW_BERLIN) == Due(now_ts + 12 * 3600, all_day=False)


def test_berlin_days_name_the_local_day() -> None:
    """1d across the clock change is tomorrow's local day, from its local midnight."""
    assert due_of("1d", NOW_BERLIN) == Due(utc(2025, 3, 29, 23), all_day=True)


def test_berlin_fall_back_day() -> None:
    """On the autumn change day midnight is still CEST; the next day starts in CET."""
    now = datetime(2025, 10, 25, 12, 0, tzinfo=BERLIN)
    assert due_of("tomorrow", now) == Due(utc(2025, 10, 25, 22), all_day=True)
    assert due_of("2025-10-27", now) == Due(utc(2025, 10, 26, 23), all_day=True)


def test_naive_now_is_a_programming_error() -> None:
    """A naive now is the caller's bug, not the user's."""
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_add("x", datetime(2025, 1, 1))


# --- parse_id -------------------------------------------------------------------------------


def test_id_accepted_forms() -> None:
    """5, surrounding spaces and #5 are the id 5."""
    assert parse_id("5") == 5
    assert parse_id(" 5 ") == 5
    assert parse_id("#5") == 5
    assert parse_id("007") == 7
    assert parse_id(str(2**53)) == 2**53


def test_id_missing() -> None:
    """No id asks for one."""
    for raw in [None, "", "  "]:
        with pytest.raises(BadInput, match=r"^Give the bounty's id, a number like 3\.$"):
            parse_id(raw)


def test_id_bad_values_named() -> None:
    """Anything that is not a positive integer is refused, naming it."""
    for raw in ["0", "-1", "abc", "5 6", "1.5", "#", "+5", "٥", "#0"]:
        with pytest.raises(BadInput, match=re.escape(f"“{raw}” is not a bounty id")):
            parse_id(raw)


def test_id_too_large() -> None:
    """Ids above 2**53 are refused, long digit strings too, shortened in the message."""
    with pytest.raises(BadInput, match=f"“{2**53 + 1}” is too large"):
        parse_id(str(2**53 + 1))
    with pytest.raises(BadInput, match="is too large") as info:
        parse_id("9" * 5000)
    assert len(str(info.value)) < 100


# --- parse_edit -------------------------------------------------------------------------------


def test_edit_text_only() -> None:
    """An id and a text change only the text."""
    assert parse_edit("5 new  text\nline", NOW) == EditArgs(
        5, "new  text\nline", None, None, clear_link=False, clear_due=False
    )


def test_edit_text_on_next_line() -> None:
    """The text may start on the line after the id."""
    assert parse_edit("#5\nnew text", NOW).text == "new text"


def test_edit_link_only() -> None:
    """An id and a link change only the link."""
    assert parse_edit("5 https://example.com", NOW) == EditArgs(
        5, None, "https://example.com", None, clear_link=False, clear_due=False
    )


def test_edit_due_only() -> None:
    """An id and a due change only the due."""
    assert parse_edit("5 2025-04-01 10:00", NOW) == EditArgs(
        5, None, None, Due(utc(2025, 4, 1, 10), False), clear_link=False, clear_due=False
    )


def test_edit_everything_either_order() -> None:
    """Text, link and due together, link and due in either order."""
    expected = EditArgs(
        5, "t", "https://e.example", Due(utc(2025, 3, 13), True), clear_link=False, clear_due=False
    )
    assert parse_edit("5 t https://e.example tomorrow", NOW) == expected
    assert parse_edit("5 t tomorrow https://e.example", NOW) == expected


def test_edit_clear_keywords() -> None:
    """nolink and nodue clear, in any order and case."""
    both = EditArgs(5, None, None, None, clear_link=True, clear_due=True)
    assert parse_edit("5 nolink nodue", NOW) == both
    assert parse_edit("5 NoDue NOLINK", NOW) == both
    assert parse_edit("5 nolink", NOW) == EditArgs(5, None, None, None, True, False)


def test_edit_keywords_mixed_with_link_and_due() -> None:
    """A new due with nolink, or a new link with nodue, in any order."""
    assert parse_edit("5 text nolink 3d", NOW) == EditArgs(
        5, "text", None, Due(utc(2025, 3, 15), True), True, False
    )
    assert parse_edit("5 nodue https://e.example", NOW) == EditArgs(
        5, None, "https://e.example", None, False, True
    )


def test_edit_keywords_inside_text_stay_text() -> None:
    """nolink before the text's end is just a word."""
    assert parse_edit("5 nolink please", NOW).text == "nolink please"


def test_edit_conflicts_refused() -> None:
    """A link with nolink, or a due with nodue, is refused."""
    with pytest.raises(BadInput, match="link or nolink"):
        parse_edit("5 https://e.example nolink", NOW)
    with pytest.raises(BadInput, match="due date or nodue"):
        parse_edit("5 nodue tomorrow", NOW)


def test_edit_without_id_shows_usage() -> None:
    """No id at all is refused with the usage, which mentions nolink and nodue."""
    for raw in [None, "", "  \n "]:
        with pytest.raises(BadInput, match=r"/edit <id> \[text\] \[link\] \[due\]") as info:
            parse_edit(raw, NOW)
        assert "nolink" in str(info.value)
        assert "nodue" in str(info.value)


def test_edit_id_alone_shows_usage() -> None:
    """An id with nothing to change is refused with the usage."""
    for raw in ["5", " 5  ", "5 \n  "]:
        with pytest.raises(BadInput, match=r"Nothing to change\. Usage: /edit <id>"):
            parse_edit(raw, NOW)


def test_edit_bad_id_named() -> None:
    """A bad first token is refused as an id."""
    with pytest.raises(BadInput, match="“abc” is not a bounty id"):
        parse_edit("abc new text", NOW)


def test_edit_text_length_limit() -> None:
    """The edit text has the same 1,000-character limit."""
    assert parse_edit("5 " + "a" * MAX_TEXT, NOW).text == "a" * MAX_TEXT
    with pytest.raises(BadInput, match="1,001 characters"):
        parse_edit("5 " + "a" * (MAX_TEXT + 1), NOW)


def test_edit_bad_due_refused() -> None:
    """A bad trailing date is refused in /edit too."""
    with pytest.raises(BadInput, match="Not a date: 2025-02-30"):
        parse_edit("5 2025-02-30", NOW)


def test_relative_due_does_not_drift_with_microseconds() -> None:
    """A relative due is whole seconds."""
    now = NOW + timedelta(microseconds=999_999)
    assert due_of("1h", now) == Due(int(NOW.timestamp()) + 3600, all_day=False)


# --- words people write -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "due"),
    [
        # NOW is Wednesday 2025-03-12 15:30 UTC.
        ("Call mum on Friday", "Call mum", Due(utc(2025, 3, 14), True)),
        ("Fix heater next friday", "Fix heater", Due(utc(2025, 3, 14), True)),
        ("Pay rent on next friday at 18:00", "Pay rent", Due(utc(2025, 3, 14, 18), False)),
        ("Meet Ann friday at 09:30", "Meet Ann", Due(utc(2025, 3, 14, 9, 30), False)),
        ("Submit report 3 days", "Submit report", Due(utc(2025, 3, 15), True)),
        ("Submit report in 3 days", "Submit report", Due(utc(2025, 3, 15), True)),
        ("Renew in 2 weeks", "Renew", Due(utc(2025, 3, 26), True)),
        ("Call back in 5 hours", "Call back", Due(utc(2025, 3, 12, 20, 30), False)),
        ("Ship 2026-12-24T18:00", "Ship", Due(utc(2026, 12, 24, 18), False)),
        ("Party dec 24", "Party", Due(utc(2025, 12, 24), True)),
        ("Party 24 Dec", "Party", Due(utc(2025, 12, 24), True)),
        ("Party December 24th 20:00", "Party", Due(utc(2025, 12, 24, 20), False)),
        ("Party on dec 24", "Party", Due(utc(2025, 12, 24), True)),
        ("Taxes by 24.12.", "Taxes", Due(utc(2025, 12, 24), True)),
        ("Taxes 1.3.2026", "Taxes", Due(utc(2026, 3, 1), True)),
        ("Spring march 1", "Spring", Due(utc(2026, 3, 1), True)),  # passed: next year's
        ("Today's plan today", "Today's plan", Due(utc(2025, 3, 12), True)),
    ],
)
def test_due_phrases_as_people_write_them(raw: str, text: str, due: Due) -> None:
    """Prepositions go with their due, so no word is left dangling; days and months by
    name, relative dues in words, ISO `T` times and dotted European dates are read."""
    args = parse_add(raw, NOW)
    assert (args.text, args.due) == (text, due)
    assert args.due is not None
    assert raw.endswith(args.due.words), "the words it was read from, as written"


@pytest.mark.parametrize(
    "raw",
    ["Study for the SAT", "Ask if we MAY", "Room 24", "Flight at 10:30", "Meet on", "Notes in",
     "Version 3.12", "Chapter 3", "Plan next week", "Tell Dec"],
)  # fmt: skip
def test_words_that_name_no_due_stay_text(raw: str) -> None:
    """An acronym in capitals, a bare number or time, a dangling preposition: text."""
    assert parse_add(raw, NOW) == AddArgs(raw, None, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("Party feb 30", "Not a date: feb 30"),
        ("Taxes 31.02.", "Not a date: 31.02."),
        ("Ship 2026-12-24T25:00", "Not a time: 25:00"),
        ("Ship 2026-13-01T10:00", "Not a date: 2026-13-01"),
        ("Old 2038-01-04", "Out of range: 2038-01-04"),
    ],
)
def test_what_looks_like_a_date_but_is_none_is_refused(raw: str, message: str) -> None:
    """A date-like tail that is no date is refused, not kept as text."""
    with pytest.raises(BadInput, match=re.escape(message)):
        parse_add(raw, NOW)


_DATE_WORDS = {
    *("today", "tomorrow", "next", "on", "by", "in", "at"),
    *("monday", "mon", "tuesday", "tue", "tues", "wednesday", "wed", "thursday", "thu"),
    *("thur", "thurs", "friday", "fri", "saturday", "sat", "sunday", "sun"),
    *("january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june"),
    *("jun", "july", "jul", "august", "aug", "september", "sep", "sept", "october", "oct"),
    *("november", "nov", "december", "dec", "hour", "hours", "hr", "hrs", "day", "days"),
    *("week", "weeks", "wk", "wks"),
}
_PLAIN_WORD = st.from_regex(r"[A-Za-zÀ-ÿ]{1,9}|[0-9]{1,3}", fullmatch=True).filter(
    lambda w: w.lower() not in _DATE_WORDS
)


@given(st.lists(_PLAIN_WORD, min_size=1, max_size=8))
def test_no_text_without_a_date_like_tail_loses_a_word(words: list[str]) -> None:
    """Words that name no day, month, weekday or unit (and numbers among them) are kept
    whole, every one of them: nothing is taken as a due."""
    text = " ".join(words)
    assert parse_add(text, NOW) == AddArgs(text, None, None)


# --- properties -------------------------------------------------------------------------------


@given(st.text(max_size=60))
def test_add_any_input_parses_or_is_refused(raw: str) -> None:
    """Any input either parses or raises BadInput, never anything else."""
    with contextlib.suppress(BadInput):
        args = parse_add(raw, NOW_BERLIN)
        assert args.text == args.text.strip()
        assert 0 < len(args.text) <= MAX_TEXT


@given(st.text(max_size=60))
def test_edit_any_input_parses_or_is_refused(raw: str) -> None:
    """Any /edit input either parses or raises BadInput, never anything else."""
    with contextlib.suppress(BadInput):
        parse_edit(raw, NOW_BERLIN)


@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
def test_add_text_survives_with_link_and_due(text: str) -> None:
    """With a link and a due at the end, the text before them is kept exactly (stripped)."""
    args = parse_add(f"{text} https://example.com 3d", NOW)
    assert args.text == text.strip()
    assert args.link == "https://example.com"


# --- time zones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("  europe/berlin ", "Europe/Berlin"),
        ("AMERICA/NEW_YORK", "America/New_York"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("Etc/GMT+3", "Etc/GMT+3"),
        ("Asia/Kathmandu", "Asia/Kathmandu"),
    ],
)
def test_zone_names_are_taken_in_any_case(raw: str, name: str) -> None:
    """An IANA name is accepted in any letter case and comes back canonical."""
    assert parse_zone(raw) == name


@pytest.mark.parametrize(
    ("raw", "guess"),
    [("Berlin", "Europe/Berlin"), ("new york", "America/New_York"), ("Kolkata", "Asia/Kolkata")],
)
def test_a_city_alone_is_refused_with_the_zone_it_names(raw: str, guess: str) -> None:
    """A city without its region is refused, suggesting the zone, with an example."""
    with pytest.raises(BadInput, match=f"Did you mean {re.escape(guess)}\\?") as caught:
        parse_zone(raw)
    assert "/timezone Europe/Berlin" in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "Mars/Olympus", "localtime", "Factory", "../../etc/passwd", "/etc/x", "x" * 500],
)
def test_what_is_no_zone_is_refused_with_an_example(raw: str) -> None:
    """Anything but a zone of the database, the host's `localtime` included, is refused
    with an example, and a long argument is not echoed whole."""
    with pytest.raises(BadInput, match="Europe/Berlin") as caught:
        parse_zone(raw)
    assert len(str(caught.value)) < 250


def test_a_stored_zone_the_database_lost_falls_back_to_the_bot_zone() -> None:
    """A chat's zone resolves to its ZoneInfo; none, or a name the host no longer has,
    is the bot's zone."""
    assert zone("Europe/Berlin", UTC) == BERLIN
    assert zone(None, BERLIN) is BERLIN
    assert zone("Gone/Away", BERLIN) is BERLIN
    assert zone("../x", BERLIN) is BERLIN
