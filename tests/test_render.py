from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jigaido.core.model import Bounty
from jigaido.core.render import (
    LIST_LINES,
    LIST_TEXT,
    LOCAL_CLOCK_AHEAD,
    LOCAL_CLOCK_PAST,
    MESSAGE_LIMIT,
    bounty_block,
    bounty_card,
    due_html,
    escape,
    format_due,
    is_overdue,
    render_list,
    shorten,
    sort_key,
    split_messages,
    visible_length,
)
from tests.e2e.fakeapi import html_times, parse_html

BERLIN = ZoneInfo("Europe/Berlin")
WJ = "\u2060"
NOW = int(datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp())


class _Parsed(HTMLParser):
    """The text of an HTML fragment, refusing one whose tags do not balance."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []
        self.links: list[str | None] = []
        self.feed(fragment)
        self.close()
        assert self.open == [], f"unclosed {self.open} in {fragment!r}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"stray </{tag}>"
        assert self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def text_of(fragment: str) -> str:
    return "".join(_Parsed(fragment).text)


def bounty(
    id: int = 1,
    text: str = "do it",
    link: str | None = None,
    due: int | None = None,
    all_day: bool = False,
) -> Bounty:
    return Bounty(id=id, text=text, link=link, due_date_ts=due, created_at=0, due_all_day=all_day)


def local_ts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: ZoneInfo = BERLIN
) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=tz).timestamp())


# --- escaping -------------------------------------------------------------------------


def test_escape_shows_tags_literally() -> None:
    """A bounty text of `<b>x</b>` is shown as those characters, not as bold."""
    assert escape("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert text_of(escape("<b>x</b>")) == "<b>x</b>"


def test_escape_keeps_entity_text_literal() -> None:
    """A text that is already `&amp;` is shown as `&amp;`, not as `&`."""
    assert text_of(escape("&amp;")) == "&amp;"


def test_escape_defuses_mentions() -> None:
    """Every `@` is followed by a word joiner so `@user` does not notify anyone."""
    assert escape("ping @user and @@x") == f"ping @{WJ}user and @{WJ}@{WJ}x"


def test_block_escapes_text_and_link() -> None:
    """Text and link are escaped; quotes in a link cannot break out of href."""
    link = 'https://e.com/?q="a"&b=<c>'
    block = bounty_block(bounty(id=3, text="<i>hi</i>\nline 2", link=link), NOW, UTC)
    parsed = _Parsed(block)
    assert parsed.links == [link]
    assert "".join(parsed.text) == f"#3 <i>hi</i>\nline 2\n🔗 {link}"
    assert block.startswith("<b>#3</b> &lt;i&gt;")


def test_block_shows_due_and_overdue() -> None:
    """The due line appears only with a due date; the overdue mark only once passed."""
    assert "📅" not in bounty_block(bounty(), NOW, UTC)
    due = local_ts(2025, 3, 1, 13, 30, tz=ZoneInfo("UTC"))
    assert text_of(bounty_block(bounty(due=due), NOW, UTC)).endswith("📅 2025-03-01 13:30")
    late = bounty_block(bounty(due=due), due + 1, UTC)
    assert late.endswith("2025-03-01 13:30</tg-time> ⚠️ <b>overdue</b>")
    assert "overdue" not in bounty_block(replace(bounty(due=due), status="done"), due + 1, UTC)


def test_block_shows_claimer_and_done_escaped() -> None:
    """A claimed bounty names its claimer, a done one says done with its day and who
    did it; names are escaped and cannot mention anyone."""
    claimed = replace(bounty(), status="claimed", claimed_by_user_id=5, claimed_by_name="<A> @a")
    assert text_of(bounty_block(claimed, NOW, UTC)) == f"#1 do it\n🙋 <A> @{WJ}a"
    nameless = replace(claimed, claimed_by_name=None)
    assert bounty_block(nameless, NOW, UTC).endswith("🙋 user 5")
    done = replace(
        bounty(due=NOW - 86400), status="done", done_at=NOW, done_by_user_id=6,
        done_by_name="Bob & co",
    )  # fmt: skip
    shown = text_of(bounty_block(done, NOW, UTC))
    assert shown.endswith("✅ done 2025-03-01 by Bob & co")
    assert "overdue" not in shown
    assert "🙋" not in shown


def test_card_has_every_field_and_the_state() -> None:
    """A card shows text, link, due, state, trackers and who added it (in a group)."""
    b = Bounty(
        4, "Fix <it>", "https://x.org/4", NOW + 3600, NOW - 86400, created_by_user_id=5,
        created_by_name="Ann", status="claimed", claimed_by_user_id=6, claimed_by_name="Bob",
        tracked_by=(6, 7),
    )  # fmt: skip
    card = text_of(bounty_card(b, NOW, UTC, in_group=True))
    assert card == (
        "#4 Fix <it>\n🔗 https://x.org/4\n📅 due 2025-03-01 13:00\n🙋 claimed by Bob\n"
        "👀 tracked by 2 people\n➕ added 2025-02-28 by Ann"
    )
    open_one = replace(b, status="open", claimed_by_user_id=None, due_date_ts=None, tracked_by=())
    assert "🟢 open: /claim 4 to take it" in bounty_card(open_one, NOW, UTC, in_group=True)
    assert "tracked by 0 people" in bounty_card(open_one, NOW, UTC, in_group=True)
    assert "📅 no due date" in bounty_card(open_one, NOW, UTC, in_group=True)
    done = replace(b, status="done", done_at=NOW, done_by_user_id=None, done_by_name=None)
    assert "✅ <b>done</b> 2025-03-01 (claimed by Bob)" in bounty_card(
        done, NOW, UTC, in_group=True
    )
    personal = replace(b, created_by_user_id=None, created_by_name=None, tracked_by=())
    dm = text_of(bounty_card(personal, NOW, UTC, in_group=False))
    assert dm.endswith("➕ added 2025-02-28")
    assert "tracked" not in dm
    for in_group in (True, False):
        parse_html(bounty_card(b, NOW, UTC, in_group=in_group))


# --- lists on a phone -------------------------------------------------------------------


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def first_line(block: str) -> str:
    return text_of(block).split("\n")[0]


def test_a_long_text_is_shortened_in_a_list_and_whole_on_its_card() -> None:
    """A 1,000-character text shows in a list as its first words, cut at a word, ending
    "…" and naming the card; the card shows all of it."""
    text = " ".join(f"word{i}" for i in range(200))[:1000]
    b = bounty(id=7, text=text)
    line = first_line(bounty_block(b, NOW, UTC))
    assert line.endswith("… (all: /bounty 7)")
    shown = line.removeprefix("#7 ").removesuffix("… (all: /bounty 7)")
    assert text.startswith(shown + " ")  # a whole word, then the space it was cut at
    assert LIST_TEXT // 2 < utf16(shown) + 1 <= LIST_TEXT
    assert text_of(bounty_card(b, NOW, UTC, in_group=True)).startswith(f"#7 {text}\n")


def test_a_text_up_to_the_limit_is_whole() -> None:
    """Exactly LIST_TEXT UTF-16 units (astral characters count two) show whole; one more
    and the text is shortened to fit, "…" included."""
    for unit in ("x", "🎯"):
        fits = unit * (LIST_TEXT // utf16(unit))
        assert utf16(fits) == LIST_TEXT
        assert shorten(fits) is None
        assert first_line(bounty_block(bounty(text=fits), NOW, UTC)) == f"#1 {fits}"
        short = shorten(fits + unit)
        assert short is not None
        assert short.endswith("…")
        assert utf16(short) <= LIST_TEXT
        assert (fits + unit).startswith(short.removesuffix("…"))


def test_many_lines_are_shortened_to_a_few() -> None:
    """A short text over many lines shows its first LIST_LINES lines in a list."""
    text = "\n".join(f"step {i}" for i in range(1, 10))
    short = shorten(text)
    assert short == "\n".join(f"step {i}" for i in range(1, LIST_LINES + 1)) + "…"
    assert shorten("\n".join(["a"] * LIST_LINES)) is None


def test_shortening_keeps_escaping_and_whole_characters() -> None:
    """A cut never lands inside an entity (the text is cut before it is escaped), nor
    between a letter and its accent, nor inside an emoji sequence."""
    b = bounty(text="&<>@" * 100)
    block = bounty_block(b, NOW, UTC)
    parse_html(block)
    shown = first_line(block).removeprefix("#1 ").removesuffix("… (all: /bounty 1)")
    assert ("&<>@" * 100).startswith(shown.replace(WJ, ""))
    accents = shorten("e\u0301" * 150)
    assert accents is not None
    assert accents.endswith("e\u0301…")
    family = "👩\u200d👩\u200d👧"
    joined = shorten(family * 40)
    assert joined is not None
    assert joined.endswith(family + "…")


def test_a_list_says_who_added_it_and_how_many_track_it() -> None:
    """In a group's list each bounty names who added it and, when any do, how many
    track it; escaped. A personal bounty (no creator, no trackers) says neither."""
    b = replace(bounty(), created_by_user_id=5, created_by_name="<Ann> @a", tracked_by=(5, 6))
    assert text_of(bounty_block(b, NOW, UTC)).endswith(
        f"\n➕ added by <Ann> @{WJ}a · 👀 2 tracking"
    )
    untracked = replace(b, tracked_by=())
    assert text_of(bounty_block(untracked, NOW, UTC)).endswith("\n➕ added by <Ann> @\u2060a")
    nameless = replace(b, created_by_name=None, tracked_by=(9,))
    assert text_of(bounty_block(nameless, NOW, UTC)) == "#1 do it\n👀 1 tracking"
    assert text_of(bounty_block(bounty(), NOW, UTC)) == "#1 do it"


@settings(deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=1000),
    id=st.integers(min_value=1, max_value=10**16),
    name=st.none() | st.text(max_size=64),
)
def test_shortened_blocks_property(text: str, id: int, name: str | None) -> None:
    """Any text: the list shows at most LIST_TEXT units on at most LIST_LINES lines, a
    prefix of the text, as HTML Telegram parses; the card holds the whole text."""
    short = shorten(text)
    if short is None:
        assert utf16(text) <= LIST_TEXT
        assert text.count("\n") < LIST_LINES
    else:
        assert utf16(short) <= LIST_TEXT
        assert short.count("\n") < LIST_LINES
        assert short.endswith("…")
        assert text.startswith(short.removesuffix("…"))
    b = Bounty(id, text, None, None, 0, created_by_user_id=5, created_by_name=name, tracked_by=(5,))
    block = bounty_block(b, NOW, UTC)
    parse_html(block)
    _Parsed(block)
    hint = len(f" (all: /bounty {id})") if short is not None else 0
    meta = visible_length(escape(f"\n➕ added by {name} · ")) if name else 1
    bound = len(f"#{id} ") + utf16(escape(short or text)) + hint + meta + len("👀 1 tracking") + 1
    assert visible_length(block) <= bound
    card = bounty_card(b, NOW, UTC, in_group=True)
    parse_html(card)
    assert f"<b>#{id}</b> {escape(text)}\n" in card


# --- the date_time entity ---------------------------------------------------------------


def test_timed_due_near_now_is_a_date_time_entity_with_the_chat_zone_text() -> None:
    """A due with a time, within the window Telegram takes, is a tg-time entity around
    the chat-zone text, so each reader sees their own clock."""
    due = local_ts(2025, 3, 20, 18, 30)
    html = due_html(due, False, NOW, BERLIN)
    assert html == f'<tg-time unix="{due}" format="wdt">2025-03-20 18:30</tg-time>'
    assert parse_html(html) == "2025-03-20 18:30"
    assert html_times(html) == [due]
    assert visible_length(html) == len("2025-03-20 18:30")


@pytest.mark.parametrize(
    ("due", "all_day"),
    [
        (NOW + 86400, True),  # a calendar day is the chat's day, in every reader's zone
        (NOW + LOCAL_CLOCK_AHEAD + 1, False),  # Telegram refuses dates years ahead
        (NOW - LOCAL_CLOCK_PAST - 1, False),
        (-5, False),
        (2**31, False),
    ],
    ids=["all-day", "far-ahead", "long-ago", "negative", "past-int32"],
)
def test_other_dues_are_plain_text(due: int, all_day: bool) -> None:
    """An all-day due, and times Telegram would refuse or could not carry, are text."""
    html = due_html(due, all_day, NOW, UTC)
    assert "<" not in html
    assert html == format_due(due, all_day, UTC)


def test_a_cut_inside_a_date_time_keeps_both_pieces_valid() -> None:
    """Splitting a block inside a tg-time closes and reopens it whole, never as <tg>."""
    due = NOW + 3600
    block = "x " * 30 + f'<tg-time unix="{due}" format="wdt">aaaa bbbb cccc dddd</tg-time>'
    messages = split_messages([block], limit=70)
    assert len(messages) == 2
    for message in messages:
        parse_html(message)
        assert "</tg>" not in message
    assert "".join(parse_html(m) for m in messages) == parse_html(block)


# --- dates ----------------------------------------------------------------------------


def test_format_due_in_zone() -> None:
    """Dates show in the chat's zone, with a time only when one was given."""
    ts = int(datetime(2025, 3, 1, 23, 30, tzinfo=UTC).timestamp())
    assert format_due(ts, False, UTC) == "2025-03-01 23:30"
    assert format_due(ts, False, BERLIN) == "2025-03-02 00:30"
    assert format_due(ts, True, BERLIN) == "2025-03-02"


def test_overdue_timed() -> None:
    """A timed bounty is overdue only after its moment; an undated one never."""
    b = bounty(due=1000)
    assert not is_overdue(b, 1000, UTC)
    assert is_overdue(b, 1001, UTC)
    assert not is_overdue(bounty(), 10**12, UTC)


def test_overdue_all_day_lasts_until_next_local_midnight() -> None:
    """An all-day bounty counts its whole local day and is overdue at the next midnight."""
    b = bounty(due=local_ts(2025, 3, 1), all_day=True)
    midnight = local_ts(2025, 3, 2)
    assert not is_overdue(b, local_ts(2025, 3, 1, 23, 59), BERLIN)
    assert not is_overdue(b, midnight - 1, BERLIN)
    assert is_overdue(b, midnight, BERLIN)
    assert is_overdue(b, midnight + 1, BERLIN)


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2025, 3, 30), 23), ((2025, 10, 26), 25)],
    ids=["spring-forward", "fall-back"],
)
def test_overdue_all_day_on_dst_day(day: tuple[int, int, int], hours: int) -> None:
    """On a day with a clock change the end is the calendar's midnight, not +24 h."""
    start = local_ts(*day)
    midnight = int(
        datetime.combine(
            datetime(*day).date() + timedelta(days=1), datetime.min.time(), BERLIN
        ).timestamp()
    )
    assert midnight - start == hours * 3600
    b = bounty(due=start, all_day=True)
    assert not is_overdue(b, midnight - 1, BERLIN)
    assert is_overdue(b, midnight, BERLIN)
    assert is_overdue(b, start + 86400, BERLIN) == (hours < 24)


# --- timestamps no calendar holds ---------------------------------------------------

# What v1 stored for 9999-12-31 in UTC: the end of that day is past datetime.max.
YEAR_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14


def test_last_day_datetime_holds_is_shown_and_not_overdue() -> None:
    """An all-day 9999-12-31 shows as that day and is not overdue, though its end
    cannot be computed."""
    b = bounty(due=YEAR_9999, all_day=True)
    assert format_due(YEAR_9999, True, UTC) == "9999-12-31"
    assert not is_overdue(b, NOW, UTC)
    assert bounty_block(b, NOW, UTC).endswith("📅 9999-12-31")


def test_date_pushed_past_year_9999_by_the_zone_shows_the_raw_value() -> None:
    """A moment that is year 10000 in the chat's zone shows as its number, with the fix."""
    ts = int(datetime(9999, 12, 31, 12, tzinfo=UTC).timestamp())
    assert format_due(ts, False, KIRITIMATI) == f"not a date: {ts}"
    b = bounty(id=4, due=ts, all_day=True)
    assert not is_overdue(b, NOW, KIRITIMATI)
    assert bounty_block(b, NOW, KIRITIMATI).endswith(
        f"📅 ⚠️ not a date: {ts} (fix it with /edit 4 and a new due, or nodue)"
    )


@pytest.mark.parametrize(
    ("ts", "shown", "overdue"),
    [
        (10**20, "a number of about 21 digits", False),
        (-(10**5000), "a negative number of about 5,001 digits", True),
        (2**63 - 1, str(2**63 - 1), False),
        (-(2**63), str(-(2**63)), True),
    ],
    ids=["huge", "over-4300-digits", "int64-max", "int64-min"],
)
def test_hand_edited_timestamps_render(ts: int, shown: str, overdue: bool) -> None:
    """Any integer renders, as a short raw value; one far in the past counts overdue."""
    b = bounty(due=ts, all_day=True)
    assert format_due(ts, True, BERLIN) == f"not a date: {shown}"
    assert is_overdue(b, NOW, BERLIN) == overdue
    [message] = render_list("L", [b, bounty(id=2, due=NOW)], NOW, BERLIN, empty="none")
    assert f"not a date: {shown} (fix it with /edit 1" in text_of(message)


def test_dates_before_the_epoch_and_zero_are_dates() -> None:
    """0 and negative timestamps within the calendar show as dates, overdue."""
    for ts, day in [(0, "1970-01-01"), (-1, "1969-12-31"), (-62135596800, "0001-01-01")]:
        b = bounty(due=ts, all_day=True)
        assert bounty_block(b, NOW, UTC).endswith(f"📅 {day} ⚠️ <b>overdue</b>")


# --- sorting --------------------------------------------------------------------------


def test_sort_soonest_first_undated_last_then_id() -> None:
    """Due ascending, undated last, ties broken by id."""
    bs = [
        bounty(id=1),
        bounty(id=2, due=300),
        bounty(id=3, due=100),
        bounty(id=4, due=300),
        bounty(id=0),
        bounty(id=5, due=0),
    ]
    assert [b.id for b in sorted(bs, key=sort_key)] == [5, 3, 2, 4, 0, 1]


# --- visible length -------------------------------------------------------------------


def test_visible_length_ignores_tags_and_counts_entities_once() -> None:
    """Tags count nothing and an entity counts as the character it stands for."""
    assert visible_length('<b>a</b><a href="https://x.y/">&lt;&amp;</a>') == 3
    assert visible_length(escape("<b>x</b>")) == len("<b>x</b>")


def test_visible_length_counts_utf16_units() -> None:
    """A character outside the BMP counts 2, as Telegram counts it."""
    assert visible_length("😀") == 2
    assert visible_length("é⚠️") == 3
    assert visible_length(f"@{WJ}") == 2


# --- splitting ------------------------------------------------------------------------


def ids_in(message: str) -> list[int]:
    return [int(m) for m in re.findall(r"(?m)^#(\d+) ", text_of(message))]


def test_list_of_200_long_bounties_is_split() -> None:
    """200 bounties of 1,000 characters: every message fits, every id once, in order."""
    words = ("lorem ipsum dolor sit amet @someone " * 40)[:1000]
    bs = [bounty(id=i, text=words, due=NOW + i * 60) for i in range(200, 0, -1)]
    messages = render_list("Bounties <here>", bs, NOW, UTC, empty="none")
    total = len(messages)
    assert total > 1
    assert all(visible_length(m) <= MESSAGE_LIMIT for m in messages)
    assert [i for m in messages for i in ids_in(m)] == list(range(1, 201))
    assert messages[0].startswith("<b>Bounties &lt;here&gt;</b> (200)\n\n<b>#1</b> ")
    for n, message in enumerate(messages[1:], start=2):
        assert message.startswith(f"<i>(continued {n}/{total})</i>\n\n<b>#")
    for message in messages:
        _Parsed(message)


def test_render_list_single_message_has_no_marker() -> None:
    """A list that fits in one message is the header and the blocks, nothing more."""
    messages = render_list("Mine", [bounty(id=2), bounty(id=1)], NOW, UTC, empty="none")
    assert messages == ["<b>Mine</b> (2)\n\n<b>#1</b> do it\n\n<b>#2</b> do it"]


def test_render_list_empty() -> None:
    """No bounties gives exactly the `empty` message."""
    assert render_list("Mine", [], NOW, UTC, empty="<i>Nothing yet</i>") == ["<i>Nothing yet</i>"]


def test_block_exactly_at_limit_is_not_cut() -> None:
    """A block of exactly the limit is one message; one unit more and it is cut."""
    block = "<b>#1</b> " + "x" * (MESSAGE_LIMIT - 3)
    assert visible_length(block) == MESSAGE_LIMIT
    assert split_messages([block]) == [block]
    assert split_messages(["a", block, "b"]) == ["a", block, "b"]
    assert len(split_messages([block + "x"])) == 2


def test_blocks_are_joined_by_blank_lines() -> None:
    """Blocks share a message separated by a blank line, after the header."""
    assert split_messages(["a", "b"], header="<b>H</b>") == ["<b>H</b>\n\na\n\nb"]
    assert split_messages(["aaaa", "bbbb"], limit=9) == ["aaaa", "bbbb"]
    assert split_messages(["aaa", "bbbb"], limit=9) == ["aaa\n\nbbbb"]
    assert split_messages([]) == [""]


def test_oversized_block_is_cut_into_valid_pieces() -> None:
    """A block longer than the limit is cut at spaces into balanced HTML, losing nothing."""
    link = "https://example.com/" + "p" * 300
    text = " ".join(f"word{i}" for i in range(400)) + " @user <b>"
    block = f'<b>#7</b> <i>{escape(text)}</i>\n🔗 <a href="{link}">{escape(link)}</a>'
    limit = 200
    messages = split_messages([block], header="<b>List</b>", limit=limit)
    assert len(messages) > 5
    assert all(visible_length(m) <= limit for m in messages)
    parsed = [_Parsed(m) for m in messages]
    assert "".join("".join(p.text) for p in parsed) == "List\n\n" + text_of(block)
    assert all(p.links in ([], [link]) for p in parsed)
    # Cut at word boundaries wherever the text has them.
    assert all(m.endswith(" </i>") for m in messages[:3])


def test_cut_prefers_line_breaks() -> None:
    """Within a too-long block, a line break in the second half is the cut point."""
    block = "a" * 40 + "\n" + "b b b " * 5
    assert split_messages([block], limit=50) == ["a" * 40 + "\n", "b b b " * 5]


def test_cut_never_splits_a_surrogate_pair() -> None:
    """Astral characters stay whole, even when one unit of room is left."""
    messages = split_messages(["😀" * 5], header="x", limit=6)
    assert messages == ["x\n\n😀", "😀😀😀", "😀"]


def test_limit_below_two_is_refused() -> None:
    """A limit that could not hold one astral character is a programming error."""
    with pytest.raises(ValueError, match="at least 2"):
        split_messages(["x"], limit=1)


def matches(joined: str, header: str, texts: list[str]) -> bool:
    """Whether `joined` is header and texts in order, each pair separated by a blank
    line or by nothing (a message boundary)."""
    positions = {0}
    parts = ([header] if header else []) + texts
    for i, part in enumerate(parts):
        seps = ("\n\n", "") if i else ("",)
        positions = {
            p + len(sep) + len(part)
            for p in positions
            for sep in seps
            if joined.startswith(sep + part, p)
        }
    return len(joined) in positions


@settings(deadline=None)  # timing varies on shared CI machines; size is bounded anyway
@given(
    texts=st.lists(st.text(max_size=400), max_size=12),
    bold=st.lists(st.booleans(), min_size=12, max_size=12),
    header=st.text(max_size=80),
    limit=st.integers(min_value=64, max_value=300),
)
def test_split_property(texts: list[str], bold: list[bool], header: str, limit: int) -> None:
    """Any blocks: every message fits, parses balanced, and together they say it all."""
    blocks = [f"<b>{escape(t)}</b>" if b else escape(t) for t, b in zip(texts, bold, strict=False)]
    head = f"<b>{escape(header)}</b>" if header else ""
    messages = split_messages(blocks, header=head, limit=limit)
    assert messages
    assert all(visible_length(m) <= limit for m in messages)
    visible = [text_of(m) for m in messages]
    assert all(
        visible_length(m) == len(v.encode("utf-16-le")) // 2
        for m, v in zip(messages, visible, strict=True)
    )
    assert matches("".join(visible), text_of(head), [text_of(b) for b in blocks])
