"""Inline buttons: their callback data, the keyboards of cards and paged lists, and the
pages themselves.

Pure: no aiogram, no I/O. `decode` is total: whatever a client sends as callback data
(Telegram lets any client send any bytes for a button of the bot's message) comes back
as a `Press`, a `Page` or an `Unreadable`, never an exception.

Callback data is ASCII, at most 64 bytes (Telegram's limit), and starts with its
version, so a button on an old message either still works or is recognised as old:

    j1:c:-1001234567890:12      claim #12 (x: unclaim, d: done, r: reopen,
                                t: track or untrack, whichever the presser needs)
    j1:p:-1001234567890:o:3     page 3 of the open bounties (d: the recently done,
                                m: a DM's /my, m456: what user 456 tracks in the group)

The chat id is in the data so that a press whose data names another chat (forged, or
copied from another chat's message) is recognised and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Literal

from jigaido.core import render
from jigaido.core.model import Bounty

VERSION = "j1"
DATA_LIMIT = 64  # bytes of callback_data Telegram takes
PAGE_SIZE = 10  # bounties a page shows at most
TOAST_LIMIT = 200  # characters of an answerCallbackQuery text

Verb = Literal["track", "claim", "unclaim", "done", "reopen"]
ListName = Literal["open", "done", "mine"]

_VERB_CODES: dict[Verb, str] = {
    "track": "t",
    "claim": "c",
    "unclaim": "x",
    "done": "d",
    "reopen": "r",
}
_VERBS = {code: verb for verb, code in _VERB_CODES.items()}
_LIST_CODES: dict[ListName, str] = {"open": "o", "done": "d", "mine": "m"}
_LISTS = {code: name for name, code in _LIST_CODES.items()}

# Ids of at most 16 digits: every Telegram chat id (52 bits) and any bounty id a chat
# could reach; the longest data, a page of someone's tracked list, is 47 bytes.
_ID = r"[1-9][0-9]{0,15}"
_PRESS = re.compile(rf"j1:([txcdr]):(-?{_ID}):({_ID})")
_PAGE = re.compile(rf"j1:p:(-?{_ID}):(?:([od])|m({_ID})?):([1-9][0-9]{{0,5}})")
_ANY_VERSION = re.compile(r"j[0-9]+:")
_MAX_ID = 10**16 - 1
_MAX_PAGE = 999_999


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str  # callback_data


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class Press:
    """A card's button: do `verb` to bounty `bounty_id` of chat `chat_id`."""

    verb: Verb
    chat_id: int
    bounty_id: int


@dataclass(frozen=True, slots=True)
class Page:
    """A paged list's button: show page `page` of list `name` of chat `chat_id` (for
    "mine" in a group, what `owner` tracks there)."""

    chat_id: int
    name: ListName
    page: int
    owner: int | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Data the bot did not make: `old` when it is another version's."""

    old: bool


@dataclass(frozen=True, slots=True)
class Edit:
    """What a pressed message becomes: its new text (None: the text stays) and buttons."""

    text: str | None
    keyboard: Keyboard = ()


def encode(pressed: Press | Page) -> str | None:
    """The callback data for `pressed`; None when an id is too long to fit."""
    if isinstance(pressed, Press):
        if not _fits(pressed.chat_id) or not _fits(pressed.bounty_id, positive=True):
            return None
        return f"{VERSION}:{_VERB_CODES[pressed.verb]}:{pressed.chat_id}:{pressed.bounty_id}"
    which = _LIST_CODES[pressed.name]
    if pressed.owner is not None:
        if pressed.name != "mine" or not _fits(pressed.owner, positive=True):
            return None
        which += str(pressed.owner)
    if not _fits(pressed.chat_id) or not 1 <= pressed.page <= _MAX_PAGE:
        return None
    return f"{VERSION}:p:{pressed.chat_id}:{which}:{pressed.page}"


def decode(data: str) -> Press | Page | Unreadable:
    """What `data` asks for, or Unreadable; never raises."""
    if (m := _PRESS.fullmatch(data)) is not None:
        return Press(_VERBS[m[1]], int(m[2]), int(m[3]))
    if (m := _PAGE.fullmatch(data)) is not None:
        name: ListName = _LISTS[m[2]] if m[2] else "mine"
        return Page(int(m[1]), name, int(m[4]), int(m[3]) if m[3] else None)
    old = _ANY_VERSION.match(data) is not None and not data.startswith(f"{VERSION}:")
    return Unreadable(old=old)


def _fits(value: int, *, positive: bool = False) -> bool:
    low = 1 if positive else -_MAX_ID
    return low <= value <= _MAX_ID and value != 0


# --- keyboards ------------------------------------------------------------------------


def card_keyboard(b: Bounty, chat_id: int, *, in_group: bool) -> Keyboard:
    """The buttons of `b`'s card, the same for every viewer: what its state allows
    (a press is checked against the presser). In a DM only Done / Reopen apply."""
    if b.done:
        first = [_button("🔄 Reopen", Press("reopen", chat_id, b.id))]
    elif not in_group:
        first = [_button("✅ Done", Press("done", chat_id, b.id))]
    elif b.status == "claimed":
        first = [
            _button("↩️ Unclaim", Press("unclaim", chat_id, b.id)),
            _button("✅ Done", Press("done", chat_id, b.id)),
        ]
    else:
        first = [
            _button("🙋 Claim", Press("claim", chat_id, b.id)),
            _button("✅ Done", Press("done", chat_id, b.id)),
        ]
    rows = [first]
    if in_group:
        # Who tracks is each viewer's own: one button does whichever the presser needs.
        rows.append([_button("👀 Track / Untrack", Press("track", chat_id, b.id))])
    return _keyboard(rows)


def page_keyboard(
    chat_id: int, name: ListName, page: int, pages: int, owner: int | None = None
) -> Keyboard:
    """◀ and ▶ under page `page` of `pages`: no ◀ on the first, no ▶ on the last."""
    row = []
    if page > 1:
        row.append(_button("◀", Page(chat_id, name, page - 1, owner)))
    if page < pages:
        row.append(_button("▶", Page(chat_id, name, page + 1, owner)))
    return _keyboard([row])


def _button(text: str, pressed: Press | Page) -> Button | None:
    data = encode(pressed)
    return None if data is None else Button(text, data)


def _keyboard(rows: list[list[Button | None]]) -> Keyboard:
    """Without the buttons whose data would not fit, and rows left empty by that."""
    kept = (tuple(b for b in row if b is not None) for row in rows)
    return tuple(row for row in kept if row)


# --- pages ----------------------------------------------------------------------------

_SEP = "\n\n"


def pages(title: str, bounties: list[Bounty], now: int, tz: tzinfo) -> list[str]:
    """The bounties (in the order given) as pages of one message each: at most
    PAGE_SIZE bounties and MESSAGE_LIMIT characters a page, "page k/n" in each header.
    A bounty moves whole to the next page; only one too long for a page of its own is
    cut, over as many pages as it needs. One page (no "page 1/1") when all fit in one."""
    blocks = [render.bounty_block(b, now, tz) for b in bounties]
    head = f"<b>{render.escape(title)}</b> ({len(bounties)})"
    if len(blocks) <= PAGE_SIZE:
        alone = render.split_messages(blocks, header=head)
        if len(alone) == 1:
            return alone
    # The header's width depends on how many pages there are, which depends on the
    # room it leaves: widen its reserve until the count fits in it.
    digits = 1
    while True:
        reserve = render.visible_length(_page_head(head, "9" * digits, "9" * digits))
        grouped = _group(blocks, render.MESSAGE_LIMIT - reserve - len(_SEP))
        if len(str(len(grouped))) <= digits:
            break
        digits += 1
    total = str(len(grouped))
    return [
        _page_head(head, str(k), total) + _SEP + _SEP.join(page)
        for k, page in enumerate(grouped, start=1)
    ]


def _page_head(head: str, page: str, total: str) -> str:
    return f"{head} · page {page}/{total}"


def _group(blocks: list[str], room: int) -> list[list[str]]:
    grouped: list[list[str]] = []
    page: list[str] = []
    used = 0
    for block in blocks:
        width = render.visible_length(block)
        if width > room:
            # Too long for any page: cut, each piece a page of its own, nothing lost.
            if page:
                grouped.append(page)
                page, used = [], 0
            grouped += [[piece] for piece in render.split_messages([block], limit=room)]
            continue
        need = width + (len(_SEP) if page else 0)
        if page and (len(page) >= PAGE_SIZE or used + need > room):
            grouped.append(page)
            page, used, need = [], 0, width
        page.append(block)
        used += need
    if page:
        grouped.append(page)
    return grouped


def clamp(page: int, total: int) -> int:
    """`page` within 1..total: a list that shrank since it was sent shows its last page."""
    return min(max(page, 1), max(total, 1))


# --- texts ----------------------------------------------------------------------------


def card_text(b: Bounty, now: int, tz: tzinfo, *, in_group: bool) -> str:
    """`b`'s card as one message (an edit cannot become two): a text too long for that
    is shortened, saying where the whole of it is."""
    card = render.bounty_card(b, now, tz, in_group=in_group)
    if render.visible_length(card) <= render.MESSAGE_LIMIT:
        return card
    # 600 characters (at most 1,200 UTF-16 units) beside a 2,048-character link fit.
    short = f"{b.text[:600]}… (/bounty {b.id} shows all of it)"
    card = render.bounty_card(replace(b, text=short), now, tz, in_group=in_group)
    if render.visible_length(card) <= render.MESSAGE_LIMIT:
        return card
    return render.split_messages([card])[0]  # a hand-edited file: what fits


def toast(html_text: str) -> str:
    """An answer (HTML) as a toast: plain text of at most TOAST_LIMIT characters."""
    text = " ".join(render.plain(html_text).split())
    if _utf16_len(text) <= TOAST_LIMIT:
        return text
    cut = text[: TOAST_LIMIT - 1]
    while _utf16_len(cut) > TOAST_LIMIT - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
