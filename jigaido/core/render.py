"""Bounties as HTML for Telegram's `parse_mode=HTML`, split to fit its message limit.

Pure: no aiogram, no I/O, no clock (`now` is passed in). Every piece of user text goes
through `escape`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from jigaido.core.model import Bounty

MESSAGE_LIMIT = 4096

_SEP = "\n\n"
_WORD_JOINER = "\u2060"

# Telegram's HTML has only paired tags and the entities `&lt; &gt; &amp; &quot;` plus
# numeric ones; these two patterns are the whole grammar the splitter has to respect.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_TOKEN = re.compile(f"{_TAG.pattern}|{_ENTITY.pattern}|.", re.DOTALL)
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")  # tg-time, tg-spoiler
_BREAKS = {"\n": 2, " ": 1}


def escape(text: str) -> str:
    """`text` safe as an HTML text node, with every `@` unable to mention anyone."""
    # The word joiner is invisible but stops Telegram from reading `@name` as a
    # mention, which would notify that user each time a list is shown.
    return html.escape(text, quote=False).replace("@", "@" + _WORD_JOINER)


def visible_length(html_text: str) -> int:
    """What Telegram counts against its limit: the parsed text in UTF-16 code units."""
    text = _ENTITY.sub(lambda m: html.unescape(m.group()), _TAG.sub("", html_text))
    return _utf16_len(text)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def plain(html_text: str) -> str:
    """What a reader sees of `html_text`: tags dropped, entities decoded, no word joiners
    (a toast, say, which mentions no one)."""
    text = _ENTITY.sub(lambda m: html.unescape(m.group()), _TAG.sub("", html_text))
    return text.replace(_WORD_JOINER, "")


def format_due(ts: int, all_day: bool, tz: tzinfo) -> str:
    """`ts` as the chat's calendar day, with the time unless `all_day`; the raw number,
    marked, when no date can be shown for it."""
    when = _local(ts, tz)
    if when is None:
        return f"not a date: {_raw(ts)}"
    # Not strftime: `%Y` is not zero-padded for years below 1000 on every platform.
    day = f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
    return day if all_day else f"{day} {when.hour:02d}:{when.minute:02d}"


# Telegram's date_time entity shows a moment in each reader's own zone and format.
# Telegram refuses a message whose entity lies too far ahead (ENTITY_DATE_INVALID: seen
# for about three years on, tdlib/telegram-bot-api#852) and cannot carry one past 2038,
# and a refused message is an answer lost; so only times near now get one, and the
# rest show the chat-zone text alone. "wdt": weekday, short date, short time.
LOCAL_CLOCK_PAST = 366 * 86400
LOCAL_CLOCK_AHEAD = 730 * 86400
LOCAL_CLOCK_FORMAT = "wdt"


_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def spell_due(ts: int, all_day: bool, tz: tzinfo, now: int) -> str:
    """`ts` as people say it, "Fri 4 Dec 09:30" (the year only when it is not this
    one): what an answer shows, so that a date read wrongly from a command is seen at
    once. `format_due`'s text when no date can be shown for it."""
    when, today = _local(ts, tz), _local(now, tz)
    if when is None:
        return format_due(ts, all_day, tz)
    day = f"{_WEEKDAY_NAMES[when.weekday()]} {when.day} {_MONTH_NAMES[when.month - 1]}"
    if today is None or today.year != when.year:
        day += f" {when.year:04d}"
    return day if all_day else f"{day} {when.hour:02d}:{when.minute:02d}"


def due_html(ts: int, all_day: bool, now: int, tz: tzinfo, *, spelled: bool = False) -> str:
    """`format_due` (or `spell_due`) as HTML: a timed due near `now` inside a date_time
    entity, so each reader sees it on their own clock. A calendar day stays the chat's
    day: moved to another zone it would name the wrong one."""
    shown = escape(spell_due(ts, all_day, tz, now) if spelled else format_due(ts, all_day, tz))
    near = now - LOCAL_CLOCK_PAST <= ts <= now + LOCAL_CLOCK_AHEAD
    if all_day or not near or not 0 < ts < 2**31:  # the entity's time is a positive int32
        return shown
    return f'<tg-time unix="{ts}" format="{LOCAL_CLOCK_FORMAT}">{shown}</tg-time>'


def format_day(ts: int, tz: tzinfo) -> str:
    """The chat's calendar day of `ts` (when something was added or done)."""
    return format_due(ts, True, tz)


def person(name: str | None, user_id: int | None) -> str:
    """Someone as lists show them, escaped: the name Telegram gave, else their id."""
    if name:
        return escape(name)
    return f"user {user_id}" if user_id is not None else "an anonymous admin"


def is_overdue(b: Bounty, now: int, tz: tzinfo) -> bool:
    if b.due_date_ts is None or b.done:
        return False
    when = _local(b.due_date_ts, tz) if b.due_all_day else None
    if when is None or when.date() == date.max:
        # Timed; or all day, but no calendar holds the day or its end: the moment will do.
        return now > b.due_date_ts
    # The whole local day counts. Its end comes from the calendar, not +86400: days
    # on which the clocks change last 23 or 25 hours.
    next_midnight = datetime.combine(when.date() + timedelta(days=1), time(), tzinfo=tz)
    return now >= next_midnight.timestamp()


def sort_key(b: Bounty) -> tuple[bool, int, int]:
    """Soonest due first, undated last, then by id."""
    return (b.due_date_ts is None, b.due_date_ts or 0, b.id)


# A bounty's text in a list, as a phone shows it: at most this many UTF-16 units ("…"
# included) on at most this many lines. A list is for finding a bounty; its card
# (`/bounty <id>`), which the shortened text names, shows all of it.
LIST_TEXT = 200
LIST_LINES = 4


def bounty_block(b: Bounty, now: int, tz: tzinfo) -> str:
    """A bounty as lists show it: id, text (shortened when long), link, due, who is on
    it, done, and in a group who added it and how many track it."""
    short = shorten(b.text)
    text = escape(b.text) if short is None else f"{escape(short)} <i>(all: /bounty {b.id})</i>"
    lines = [f"<b>#{b.id}</b> {text}"]
    if b.link is not None:
        lines.append(f'🔗 <a href="{html.escape(b.link, quote=True)}">{escape(b.link)}</a>')
    if b.due_date_ts is not None:
        lines.append(f"📅 {_due_line(b, now, tz)}")
    if b.status == "claimed":
        lines.append(f"🙋 {person(b.claimed_by_name, b.claimed_by_user_id)}")
    elif b.done:
        lines.append(_done_line(b, tz))
    # Personal bounties keep no creator and no trackers: nothing to say in a DM. A
    # creator known only by id (a v1 file) is left to the card: "user 456" says nothing.
    who = [f"➕ added by {escape(b.created_by_name)}"] if b.created_by_name else []
    if b.tracked_by:
        who.append(f"👀 {len(b.tracked_by)} tracking")
    if who:
        lines.append(" · ".join(who))
    return "\n".join(lines)


def shorten(text: str, limit: int = LIST_TEXT, max_lines: int = LIST_LINES) -> str | None:
    """`text` cut to at most `limit` UTF-16 units and `max_lines` lines, ending "…",
    at a word boundary where one is near; None when it fits whole. Cut as plain text,
    before escaping, so never inside an entity, a tag or a surrogate pair."""
    lines = text.split("\n")
    if _utf16_len(text) <= limit and len(lines) <= max_lines:
        return None
    head = "\n".join(lines[:max_lines])
    room = limit - 1  # for "…"
    end = 0
    used = 0
    for ch in head:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            break
        end += 1
    if end < len(head):
        # The last space or line break in the second half, else as far as fits, but not
        # between a character and the marks or joiners that belong to it.
        space = max(head.rfind(" ", 0, end + 1), head.rfind("\n", 0, end + 1))
        if space * 2 >= end:
            end = space
        else:
            while end > 0 and _clings(head[end - 1], head[end]):
                end -= 1
    return head[:end].rstrip() + "…"


def _clings(before: str, after: str) -> bool:
    """Whether a cut between `before` and `after` would split what a reader sees as one
    character: a combining mark, a variation selector, an emoji joined by a ZWJ."""
    return (
        unicodedata.combining(after) > 0
        or unicodedata.category(after) in ("Mn", "Me")
        or after in "\u200d\ufe0e\ufe0f"
        or before == "\u200d"
        or "\U0001f3fb" <= after <= "\U0001f3ff"  # skin tones
    )


def bounty_card(b: Bounty, now: int, tz: tzinfo, *, in_group: bool) -> str:
    """Every field of one bounty, with its state (and in a group who is on it, how many
    track it and who added it)."""
    lines = [f"<b>#{b.id}</b> {escape(b.text)}"]
    if b.link is not None:
        lines.append(f'🔗 <a href="{html.escape(b.link, quote=True)}">{escape(b.link)}</a>')
    lines.append(
        f"📅 due {_due_line(b, now, tz)}" if b.due_date_ts is not None else "📅 no due date"
    )
    if b.done:
        line = _done_line(b, tz, by=in_group)
        if in_group and b.claimed_by_user_id is not None:
            line += f" (claimed by {person(b.claimed_by_name, b.claimed_by_user_id)})"
        lines.append(line)
    elif b.status == "claimed":
        lines.append(f"🙋 claimed by {person(b.claimed_by_name, b.claimed_by_user_id)}")
    else:
        lines.append(f"🟢 open{f': /claim {b.id} to take it' if in_group else ''}")
    if in_group:
        count = len(b.tracked_by)
        lines.append(f"👀 tracked by {count} {'person' if count == 1 else 'people'}")
        added_by = person(b.created_by_name, b.created_by_user_id)
        lines.append(f"➕ added {format_day(b.created_at, tz)} by {added_by}")
    else:
        lines.append(f"➕ added {format_day(b.created_at, tz)}")
    return "\n".join(lines)


def _due_line(b: Bounty, now: int, tz: tzinfo) -> str:
    assert b.due_date_ts is not None
    if _local(b.due_date_ts, tz) is None:
        # A hand-edited file, or a v1 date near 9999 in a far zone: say how to mend it.
        shown = format_due(b.due_date_ts, b.due_all_day, tz)
        return f"⚠️ {shown} (fix it with /edit {b.id} and a new due, or nodue)"
    shown = due_html(b.due_date_ts, b.due_all_day, now, tz)
    return f"{shown} ⚠️ <b>overdue</b>" if is_overdue(b, now, tz) else shown


def _done_line(b: Bounty, tz: tzinfo, *, by: bool = True) -> str:
    line = "✅ <b>done</b>"
    if b.done_at is not None:
        line += f" {format_day(b.done_at, tz)}"
    if by and b.done_by_name is not None:
        line += f" by {escape(b.done_by_name)}"
    return line


# A file may hold any integer (v1 took years up to 9999; operators edit files by hand),
# but datetime holds only the years 1 to 9999.
_FIRST_TS = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
_LAST_TS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())


def _local(ts: int, tz: tzinfo) -> datetime | None:
    """`ts` in `tz`, or None when no calendar date can be shown for it."""
    if not _FIRST_TS <= ts <= _LAST_TS:
        return None
    try:
        return datetime.fromtimestamp(ts, tz)
    except OverflowError:  # within a day of those limits, the zone's offset crossed one
        return None


def _raw(ts: int) -> str:
    # str() refuses integers over 4,300 digits, and a long one would fill the message.
    if abs(ts) < 10**20:
        return str(ts)
    digits = int(ts.bit_length() * 0.30103) + 1  # 0.30103: log10(2)
    return f"a {'negative ' if ts < 0 else ''}number of about {digits:,} digits"


def render_list(
    title: str,
    bounties: Iterable[Bounty],
    now: int,
    tz: tzinfo,
    *,
    empty: str,
    keep_order: bool = False,
) -> list[str]:
    """The bounties as one or more messages, each within `MESSAGE_LIMIT`; `[empty]`
    when there are none. Sorted by `sort_key` unless `keep_order`."""
    ordered = list(bounties) if keep_order else sorted(bounties, key=sort_key)
    if not ordered:
        return [empty]
    blocks = [bounty_block(b, now, tz) for b in ordered]
    header = f"<b>{escape(title)}</b> ({len(ordered)})"
    # The markers' width depends on how many messages there are, which depends on the
    # room the markers leave: widen the reserve until the count fits in it.
    digits = 1
    while True:
        reserve = visible_length(_continued("9" * digits, "9" * digits)) + len(_SEP)
        messages = _pack(blocks, header, MESSAGE_LIMIT, MESSAGE_LIMIT - reserve)
        if len(str(len(messages))) <= digits:
            break
        digits += 1
    total = len(messages)
    return [
        message if i == 0 else _continued(str(i + 1), str(total)) + _SEP + message
        for i, message in enumerate(messages)
    ]


def _continued(index: str, total: str) -> str:
    return f"<i>(continued {index}/{total})</i>"


def split_messages(
    blocks: Sequence[str], *, header: str = "", limit: int = MESSAGE_LIMIT
) -> list[str]:
    """`blocks` (HTML) joined by blank lines into messages of at most `limit` visible
    UTF-16 units, `header` starting the first. A block is cut only when it does not fit
    in a message on its own (or beside the header); the pieces are each valid HTML."""
    return _pack(blocks, header, limit, limit)


def _pack(blocks: Sequence[str], header: str, first_limit: int, rest_limit: int) -> list[str]:
    if min(first_limit, rest_limit) < 2:
        # Below that, a single character outside the BMP could never be placed.
        raise ValueError("a message limit must be at least 2")
    messages: list[str] = []
    parts: list[str] = []
    used = 0
    lone_header = False

    def room() -> int:
        limit = rest_limit if messages else first_limit
        return limit - used - (len(_SEP) if parts else 0)

    def add(piece: str, width: int) -> None:
        nonlocal used
        used += width + (len(_SEP) if parts else 0)
        parts.append(piece)

    def flush() -> None:
        nonlocal used
        if parts:
            messages.append(_SEP.join(parts))
            parts.clear()
            used = 0

    items = [(header, True)] if header else []
    items += [(block, False) for block in blocks]
    for block, is_header in items:
        width = visible_length(block)
        if width > room() and parts and not lone_header:
            flush()
        if width <= room():
            add(block, width)
        else:
            # Too long even for a message of its own, or for the one the header
            # starts (a header alone would be a message saying nothing).
            first, *rest = _cut(block, max(room(), 0), rest_limit)
            if first[1] or not rest:
                add(*first)
            for piece in rest:
                flush()
                add(*piece)
        lone_header = is_header
    flush()
    return messages or [""]


@dataclass(frozen=True, slots=True)
class _Token:
    html: str
    width: int  # visible UTF-16 units; 0 for a tag
    opens: str | None = None  # tag name, for an opening tag
    closes: str | None = None  # tag name, for a closing tag
    breaks: int = 0  # 2 for a line break, 1 for a space: a cut after one reads best


def _tokens(block: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(block):
        tok = m.group()
        tag = _TAG_NAME.match(tok) if len(tok) > 1 and tok[0] == "<" else None
        if tag is not None:
            closing, name = tag.groups()
            out.append(
                _Token(tok, 0, closes=name.lower())
                if closing
                else _Token(tok, 0, opens=name.lower())
            )
            continue
        text = html.unescape(tok) if len(tok) > 1 else tok
        out.append(_Token(tok, _utf16_len(text), breaks=_BREAKS.get(text, 0)))
    return out


def _cut(block: str, first: int, rest: int) -> list[tuple[str, int]]:
    """`block` as pieces of at most `first`, then `rest`, visible units, each closing
    the tags it leaves open and reopening the ones it inherits. The first piece is
    empty (width 0) when not even one character fits in `first`."""
    tokens = _tokens(block)
    pieces: list[tuple[str, int]] = []
    inherited: list[_Token] = []
    start = 0
    budget = first
    while start < len(tokens) or not pieces:
        end, widths = start, [0]
        while end < len(tokens) and widths[-1] + tokens[end].width <= budget:
            widths.append(widths[-1] + tokens[end].width)
            end += 1
        cut = end if end == len(tokens) else _best_cut(tokens, start, end, widths, budget)
        body = tokens[start:cut]
        opened = list(inherited)
        for tok in body:
            _track(opened, tok)
        text = "".join(t.html for t in inherited) + "".join(t.html for t in body)
        text += "".join(f"</{t.opens}>" for t in reversed(opened))
        width = widths[cut - start]
        pieces.append((text if width or cut == len(tokens) else "", width))
        if width or cut == len(tokens):
            inherited, start = opened, cut
        budget = rest
    return pieces


def _best_cut(tokens: list[_Token], start: int, end: int, widths: list[int], budget: int) -> int:
    """Where to end a piece that cannot hold `tokens[start:end + 1]`: after a line break
    or else a space in its second half, else as late as possible; never leaving a tag
    that would open or close an empty element."""
    cut = end
    for kind in (2, 1):
        found = next(
            (
                i + 1
                for i in range(end - 1, start - 1, -1)
                if tokens[i].breaks == kind and widths[i + 1 - start] * 2 >= budget
            ),
            None,
        )
        if found is not None:
            cut = found
            break
    while cut < len(tokens) and tokens[cut].closes is not None:
        cut += 1
    back = cut
    while back > start and tokens[back - 1].opens is not None:
        back -= 1
    # Keep the trailing opening tags only if moving them leaves the piece without text.
    if widths[back - start] > 0:
        cut = back
    return cut


def _track(opened: list[_Token], tok: _Token) -> None:
    if tok.opens is not None:
        opened.append(tok)
    elif tok.closes is not None:
        for i in range(len(opened) - 1, -1, -1):
            if opened[i].opens == tok.closes:
                del opened[i]
                break
