"""The argument grammar of the commands (SPEC section 4, "Arguments").

Pure: no aiogram, no I/O (but the standard library's time zone database), no clock;
the caller passes `now`, an aware datetime in the chat's time zone. Every user mistake
raises `BadInput` with a short plain-text message.

The optional link and due date are taken off the end of the arguments, so a text may
contain anything, including words like "today", as long as they are not last.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from jigaido.core.errors import BadInput

__all__ = [
    "FIRST_DUE_DAY",
    "LAST_DUE_DAY",
    "MAX_LINK",
    "MAX_TEXT",
    "AddArgs",
    "Due",
    "EditArgs",
    "parse_add",
    "parse_edit",
    "parse_id",
    "parse_zone",
    "split_command",
    "zone",
]

MAX_TEXT = 1000
MAX_LINK = 2048
# Bot API clients see ids as JSON numbers; above 2**53 they stop being exact.
MAX_ID = 2**53
MAX_AHEAD = timedelta(days=3653)  # ten years, leap days included
# The days a due date may fall on, in the chat's zone. A stored due must survive every
# later use in any zone the chat may switch to: shown, its day's end, a reminder a day
# before, Telegram's date_time entity. That entity carries a signed 32-bit Unix time
# (MTProto `date:int`, TDLib `unix_time:int32`), which ends 2038-01-19 03:14:07 UTC:
# 2037 is the last whole year, and even at an offset of -23:59 its last day ends before
# 2038-01-02 UTC. 1970-01-01 starts before the epoch east of Greenwich, and its
# reminder a day earlier everywhere; from 1971 on every zone is well past it.
FIRST_DUE_DAY = date(1971, 1, 1)
LAST_DUE_DAY = date(2037, 12, 31)

ADD_USAGE = "Usage: /add <text> [link] [due]"
EDIT_USAGE = (
    "Usage: /edit <id> [text] [link] [due]. "
    "Add nolink to remove the link, nodue to remove the due date."
)
ID_HINT = "Give the bounty's id, a number like 3."
ZONE_EXAMPLE = "an IANA time zone name such as Europe/Berlin, America/New_York or UTC"
# In the database, but no zone a chat can mean: the host's own setting, and tzdata's
# placeholder for "not configured".
_NOT_ZONES = frozenset({"localtime", "Factory"})

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?=\s|$)")
_TOKEN = re.compile(r"\S+")
_ID = re.compile(r"#?([0-9]+)")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_LIKE = re.compile(r"([0-9]+)[-/.]([0-9]+)[-/.]([0-9]+)")
_TIME_LIKE = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_RELATIVE = re.compile(r"([0-9]+)([hdw])")
_LINK_START = re.compile(r"https?://", re.IGNORECASE)
_RELATIVE_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_DAY_OF_MONTH = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)?")
_DOTTED_DAY = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.(?:([0-9]{4}))?")
_ISO_MOMENT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{1,2}:[0-9]{2})(?::00)?")
_AMOUNT = re.compile(r"[0-9]+")
_UNITS = {
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h",
    "day": "d", "days": "d",
    "week": "w", "weeks": "w", "wk": "w", "wks": "w",
}  # fmt: skip
# The longest due phrase: "on next friday at 18:00".
_LONGEST_DUE = 5


@dataclass(frozen=True, slots=True)
class Due:
    ts: int  # Unix seconds
    all_day: bool  # given as a calendar day (no time): ts is local midnight starting that day
    # What it was read from, as written: shown back so that a misreading is seen at once.
    words: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class AddArgs:
    text: str
    link: str | None
    due: Due | None


@dataclass(frozen=True, slots=True)
class EditArgs:
    id: int
    text: str | None  # None: keep
    link: str | None  # None: keep (unless clear_link)
    due: Due | None  # None: keep (unless clear_due)
    clear_link: bool
    clear_due: bool


def split_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """`(name, args)` of a command message, or None if it is not a command for this bot.

    `name` is lower-cased; `args` is the rest with the surrounding whitespace stripped.
    """
    match = _COMMAND.match(text)
    if match is None:
        return None
    mention = match.group(2)
    if mention is not None and mention.lower() != bot_username.removeprefix("@").lower():
        return None
    return match.group(1).lower(), text[match.end() :].strip()


def parse_add(raw: str | None, now: datetime) -> AddArgs:
    """`/add <text> [link] [due]`: link and due in either order, at the end."""
    _check_now(now)
    body = raw or ""
    tail = _take_tail(body, now, keywords=False)
    text = body[: tail.start].strip()
    if not text:
        raise BadInput(f"A bounty needs a text. {ADD_USAGE}")
    return AddArgs(text=_check_text(text), link=tail.link, due=tail.due)


def parse_edit(raw: str | None, now: datetime) -> EditArgs:
    """`/edit <id> [text] [link] [due]`, plus the trailing keywords nolink and nodue."""
    _check_now(now)
    first = _TOKEN.search(raw or "")
    if raw is None or first is None:
        raise BadInput(f"{ID_HINT} {EDIT_USAGE}")
    bounty_id = parse_id(first.group())
    rest = raw[first.end() :]
    tail = _take_tail(rest, now, keywords=True)
    if tail.link is not None and tail.clear_link:
        raise BadInput("Give a link or nolink, not both.")
    if tail.due is not None and tail.clear_due:
        raise BadInput("Give a due date or nodue, not both.")
    text = rest[: tail.start].strip() or None
    if (
        text is None
        and tail.link is None
        and tail.due is None
        and not (tail.clear_link or tail.clear_due)
    ):
        raise BadInput(f"Nothing to change. {EDIT_USAGE}")
    return EditArgs(
        id=bounty_id,
        text=None if text is None else _check_text(text),
        link=tail.link,
        due=tail.due,
        clear_link=tail.clear_link,
        clear_due=tail.clear_due,
    )


def parse_id(raw: str | None) -> int:
    """A bounty id: a positive integer, optionally written `#3`."""
    value = (raw or "").strip()
    if not value:
        raise BadInput(ID_HINT)
    match = _ID.fullmatch(value)
    digits = "" if match is None else match.group(1).lstrip("0")
    if not digits:
        raise BadInput(f"“{_show(value)}” is not a bounty id: use a positive number like 3.")
    # The length test keeps int() away from absurdly long digit strings.
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        raise BadInput(f"“{_show(value)}” is too large for a bounty id.")
    return int(digits)


def parse_zone(raw: str) -> str:
    """The canonical IANA name for `raw` (`europe/berlin` is Europe/Berlin), or
    BadInput with an example, and a guess when `raw` is a zone's city (`Berlin`)."""
    value = raw.strip()
    if not value:
        raise BadInput(f"Give a time zone: {ZONE_EXAMPLE}.")
    zones = _zones()
    exact = zones.get(value) or zones.get(value.casefold())
    if exact is not None:
        return exact
    city = value.replace(" ", "_").casefold()
    guesses = sorted({z for z in zones.values() if z.rsplit("/", 1)[-1].casefold() == city})
    hint = f" Did you mean {' or '.join(guesses[:3])}?" if guesses else ""
    raise BadInput(
        f"“{_show(value)}” is not a time zone I know.{hint} Use {ZONE_EXAMPLE} "
        "(for example /timezone Europe/Berlin)."
    )


@functools.cache
def _zones() -> dict[str, str]:
    """Every zone of the database by its case-folded name (and by itself): read once,
    only when a name is not found at once."""
    names = available_timezones() - _NOT_ZONES
    return {**{n.casefold(): n for n in names}, **{n: n for n in names}}


def zone(name: str | None, default: tzinfo) -> tzinfo:
    """The chat's stored zone, or `default` when it has none (or the host's database
    lost it since it was set: dates then show in the bot's zone rather than not at all)."""
    if name is None:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


# --- the tail: link, due and keywords at the end ------------------------------------------


@dataclass(slots=True)
class _Tail:
    start: int  # where the tail begins in the parsed string; the text is before it
    link: str | None = None
    due: Due | None = None
    clear_link: bool = False
    clear_due: bool = False


def _take_tail(body: str, now: datetime, *, keywords: bool) -> _Tail:
    tokens = [(m.start(), m.group()) for m in _TOKEN.finditer(body)]
    tail = _Tail(start=len(body))
    end = len(tokens)  # tokens[:end] are not yet taken
    while end > 0:
        token = tokens[end - 1][1]
        word = token.lower()
        if keywords and word == "nolink":
            tail.clear_link = True
            used = 1
        elif keywords and word == "nodue":
            tail.clear_due = True
            used = 1
        elif tail.link is None and _LINK_START.match(token):
            tail.link = _check_link(token)
            used = 1
        elif tail.due is None and (
            found := _due_at_end([t for _, t in tokens[max(0, end - _LONGEST_DUE) : end]], now)
        ):
            tail.due, used = found
        else:
            break
        end -= used
        tail.start = tokens[end][0]
    return tail


def _due_at_end(tokens: list[str], now: datetime) -> tuple[Due, int] | None:
    """The due the last of `tokens` write (a phrase of one to five words, the longest
    that reads as one), with how many it used; None if they end in no due."""
    for used in range(min(len(tokens), _LONGEST_DUE), 0, -1):
        words = tokens[-used:]
        due = _phrase(words, now)
        if due is not None:
            return Due(due.ts, due.all_day, " ".join(words)), used
    return None


def _phrase(words: list[str], now: datetime) -> Due | None:
    """`words` as a whole: [on] DAY [[at] HH:MM], a relative due ([in] 3 days, 3d), or
    an ISO moment (2026-12-24T18:00). A preposition is taken with its due, so it is not
    left dangling at the end of the text ("Call mum on")."""
    if words[0] in ("in", "In"):
        return _relative_words(words[1:], now) if len(words) > 1 else None
    relative = _relative_words(words, now)
    if relative is not None:
        return relative
    if words[0] in ("on", "On", "by", "By") and len(words) > 1:
        words = words[1:]
    clock: time | None = None
    if _TIME_LIKE.fullmatch(words[-1]) and len(words) > 1:
        clock = _clock(words[-1])
        words = words[:-1]
        if len(words) > 1 and words[-1] in ("at", "At"):
            words = words[:-1]
    elif len(words) == 1 and (moment := _ISO_MOMENT.fullmatch(words[0])):
        day = _day([moment.group(1)], now)
        assert day is not None  # an ISO date always names a day, or is refused
        return _at(day, _clock(moment.group(2)), now, shown=words[0], all_day=False)
    day = _day(words, now)
    if day is None:
        return None
    shown = " ".join(words)
    if clock is None:
        return _at(day, time(0), now, shown=shown, all_day=True)
    return _at(day, clock, now, shown=shown, all_day=False)


def _clock(token: str) -> time:
    match = _TIME_LIKE.fullmatch(token)
    assert match is not None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise BadInput(f"Not a time: {token}. Use HH:MM, from 00:00 to 23:59.")
    return time(hour, minute)


def _relative_words(words: list[str], now: datetime) -> Due | None:
    """`3d`, `2w`, `12h`, or `3 days`, `2 weeks`, `12 hours`."""
    if len(words) == 1 and (short := _RELATIVE.fullmatch(words[0].lower())):
        return _relative(words[0], short.group(1), short.group(2), now)
    if len(words) == 2 and _AMOUNT.fullmatch(words[0]) and words[1].lower() in _UNITS:
        return _relative(" ".join(words), words[0], _UNITS[words[1].lower()], now)
    return None


def _written(word: str) -> str | None:
    """A day or month name as people write one, lower case or capitalised ("fri",
    "Friday"); None for anything else, "SAT" among them: in capitals it is an acronym."""
    if word.islower() or (word[:1].isupper() and word[1:].islower()):
        return word.lower()
    return None


def _day(words: list[str], now: datetime) -> date | None:
    """The calendar day `words` name, None if they name none; refuses broken dates."""
    today = now.date()
    if len(words) == 2 and words[0] in ("next", "Next"):
        words = words[1:]  # "next friday": the coming one, as "friday" (the answer says which)
        if _written(words[0]) not in _WEEKDAYS:
            return None
    if len(words) == 2:
        return _month_day(words, today)
    if len(words) != 1:
        return None
    word = words[0]
    name = _written(word)
    if name == "today":
        return today
    weekday = _WEEKDAYS.get(name or "")
    if name == "tomorrow" or weekday is not None:
        if today >= LAST_DUE_DAY:
            # A later day is out of range anyway; near date.max, adding would overflow.
            raise _out_of_range(word)
        if weekday is None:
            return today + timedelta(days=1)
        # Strictly after today: "monday" said on a Monday means next week.
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    iso = _ISO_DATE.fullmatch(word)
    if iso is not None:
        year, month, day = (int(part) for part in iso.groups())
        return _calendar(year, month, day, word)
    dotted = _DOTTED_DAY.fullmatch(word)
    if dotted is not None:  # 24.12. or 24.12.2026, as written in much of Europe
        day, month = int(dotted.group(1)), int(dotted.group(2))
        if dotted.group(3) is not None:
            return _calendar(int(dotted.group(3)), month, day, word)
        return _coming(month, day, today, word)
    if _looks_like_date(word.lower()):
        raise BadInput(f"Not a date: {word}. Use YYYY-MM-DD.")
    return None


def _month_day(words: list[str], today: date) -> date | None:
    """`dec 24`, `24 dec`, `December 24th`: that day's next occurrence (today counts)."""
    first, second = words
    month = _MONTHS.get(_written(first) or "")
    number = _DAY_OF_MONTH.fullmatch(second)
    if month is None or number is None:
        month = _MONTHS.get(_written(second) or "")
        number = _DAY_OF_MONTH.fullmatch(first)
    if month is None or number is None:
        return None
    return _coming(month, int(number.group(1)), today, " ".join(words))


def _coming(month: int, day: int, today: date, shown: str) -> date:
    """`day` of `month` this year, or next year once this year's has passed."""
    for year in (today.year, today.year + 1):
        found = _calendar(year, month, day, shown)
        if found >= today:
            return found
    return found


def _calendar(year: int, month: int, day: int, shown: str) -> date:
    if not FIRST_DUE_DAY.year <= year <= LAST_DUE_DAY.year:
        raise _out_of_range(shown)
    try:
        return date(year, month, day)
    except ValueError:
        raise BadInput(f"Not a date: {_show(shown)}. Use YYYY-MM-DD.") from None


def _looks_like_date(word: str) -> bool:
    # Refused rather than kept as text, so a mistyped due date is not silently lost.
    # Numbers with parts a date never has (phone numbers 555-123-4567) and dotted
    # numbers without a year (versions: 3.12.1) are text.
    match = _DATE_LIKE.fullmatch(word)
    if match is None:
        return False
    lengths = [len(part) for part in match.groups()]
    if any(n not in (1, 2, 4) for n in lengths):
        return False
    return "-" in word or "/" in word or 4 in lengths


def _relative(token: str, count: str, unit: str, now: datetime) -> Due:
    # The length test keeps int() and timedelta away from absurd numbers.
    digits = count.lstrip("0")
    n = int(digits or "0") if len(digits) <= 7 else None
    if n == 0:
        raise BadInput(f"Not a due: {token}. Use a number from 1 up, like 3d.")
    if n is None or n * _RELATIVE_UNIT[unit] > MAX_AHEAD:
        raise BadInput(f"Too far ahead: {_show(token)}. A due can be at most 10 years away.")
    if not FIRST_DUE_DAY - MAX_AHEAD - timedelta(days=1) <= now.date() <= LAST_DUE_DAY:
        # No count can reach the range from such a `now` (a clock gone wrong, or a bot
        # still running after 2037), and near datetime's own limits adding would overflow.
        raise _out_of_range(token)
    if unit == "h":
        # Elapsed hours: wall-clock arithmetic would be off by one across a DST change.
        when = datetime.fromtimestamp(int(now.timestamp()) + n * 3600, now.tzinfo)
        _check_day(when.date(), token)
        return Due(ts=int(when.timestamp()), all_day=False)
    # Days and weeks name a day, not a minute: "3d" said at 21:06 is due at the end of
    # that day, as "friday" is, not at 21:06 (which nobody meant, and which would show
    # "overdue" while the day is still on).
    day = now.date() + n * _RELATIVE_UNIT[unit]
    return _at(day, time(0), now, shown=token, all_day=True)


def _at(day: date, clock: time, now: datetime, *, shown: str, all_day: bool) -> Due:
    _check_day(day, shown)
    # combine() with tzinfo, not replace() on a UTC value, so zoneinfo picks the offset
    # in force on that day.
    return Due(ts=int(datetime.combine(day, clock, tzinfo=now.tzinfo).timestamp()), all_day=all_day)


def _check_day(day: date, shown: str) -> None:
    if not FIRST_DUE_DAY <= day <= LAST_DUE_DAY:
        raise _out_of_range(shown)


def _out_of_range(shown: str) -> BadInput:
    return BadInput(
        f"Out of range: {_show(shown)}. "
        f"A due date must be from {FIRST_DUE_DAY.isoformat()} to {LAST_DUE_DAY.isoformat()}."
    )


# --- checks ---------------------------------------------------------------------------


def _check_text(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise BadInput(
            f"The text is too long: {len(text):,} characters; the limit is {MAX_TEXT:,}."
        )
    return text


def _check_link(token: str) -> str:
    if len(token) > MAX_LINK:
        raise BadInput(
            f"The link is too long: {len(token):,} characters; the limit is {MAX_LINK:,}."
        )
    try:
        host = urlsplit(token).hostname
    except ValueError:  # a malformed [IPv6] host
        host = None
    if not host:
        raise BadInput(f"Not a link: {_show(token)}. Use a full address like https://example.com.")
    return token


def _check_now(now: datetime) -> None:
    # A naive `now` would make timestamp() read the host's zone: a caller's bug.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _show(value: str, limit: int = 40) -> str:
    """`value` shortened for a message, so a huge argument is not echoed back whole."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
