"""How a phone shows the bot's messages, for `jigaido try`: Telegram's HTML as plain
text (entities decoded, tags dropped, links with their address) and a keyboard as a
numbered line of buttons.

Pure: no aiogram, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from html.parser import HTMLParser

# The tags of Telegram's HTML style; anything else Telegram refuses, and so does this.
TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "tg-spoiler", "span", "blockquote", "tg-emoji", "tg-time",
    }
)  # fmt: skip

# Terminal styles for `ansi=True`: (on, off), the off code undoing only that style.
_STYLES = {
    "b": ("\x1b[1m", "\x1b[22m"),
    "strong": ("\x1b[1m", "\x1b[22m"),
    "i": ("\x1b[3m", "\x1b[23m"),
    "em": ("\x1b[3m", "\x1b[23m"),
    "u": ("\x1b[4m", "\x1b[24m"),
    "ins": ("\x1b[4m", "\x1b[24m"),
    "s": ("\x1b[9m", "\x1b[29m"),
    "strike": ("\x1b[9m", "\x1b[29m"),
    "del": ("\x1b[9m", "\x1b[29m"),
    "a": ("\x1b[4m", "\x1b[24m"),
}
# render.escape puts one after every `@` so that a list mentions nobody; a phone shows
# nothing for it, and some terminals would show a box.
_WORD_JOINER = "\u2060"


class BadHTML(ValueError):
    """Text Telegram would refuse to parse (`Bad Request: can't parse entities`)."""


def to_plain(html_text: str, *, ansi: bool = False) -> str:
    """The text a phone shows for `html_text` (Telegram's HTML style); with `ansi`,
    bold, italic, underline and strikethrough as terminal styles. BadHTML for an
    unknown tag or tags that do not pair up."""
    parser = _Plain(ansi=ansi)
    parser.feed(html_text)
    parser.close()
    if parser.open:
        raise BadHTML(f'can\'t find end tag corresponding to start tag "{parser.open[-1].tag}"')
    return "".join(parser.out)


def keyboard(rows: Sequence[Sequence[str]], first: int = 1) -> list[str]:
    """`[1] Track  [2] Claim`: one line per row of buttons, numbered from `first` on."""
    lines = []
    number = first
    for row in rows:
        cells = []
        for label in row:
            cells.append(f"[{number}] {label}")
            number += 1
        lines.append("  ".join(cells))
    return lines


class _Open:
    __slots__ = ("href", "start", "tag")

    def __init__(self, tag: str, start: int, href: str | None) -> None:
        self.tag = tag
        self.start = start  # index in `out` where its content begins
        self.href = href


class _Plain(HTMLParser):
    def __init__(self, *, ansi: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.out: list[str] = []
        self.open: list[_Open] = []
        self.after_quote = False  # a quote is a block: what follows starts a new line

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            raise BadHTML(f'unsupported start tag "{tag}"')
        href = dict(attrs).get("href") if tag == "a" else None
        self.open.append(_Open(tag, len(self.out), href))
        self._style(tag, on=True)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1].tag != tag:
            raise BadHTML(f'unmatched end tag "{tag}"')
        closing = self.open.pop()
        self._style(tag, on=False)
        if tag == "a":
            self._show_address(closing)
        elif tag == "blockquote":
            self._quote(closing.start)

    def handle_data(self, data: str) -> None:
        if self.after_quote and data and not data.startswith("\n"):
            self.out.append("\n")
        self.after_quote = False
        self.out.append(data.replace(_WORD_JOINER, ""))

    def _style(self, tag: str, *, on: bool) -> None:
        style = _STYLES.get(tag)
        if not self.ansi or style is None:
            return
        if on:
            self.out.append(style[0])
        elif not any(_STYLES.get(o.tag) == style for o in self.open):
            self.out.append(style[1])  # not while an outer tag of the same style is open

    def _show_address(self, link: _Open) -> None:
        """A phone shows a link's text and opens its address on a tap; here the address
        follows the text, unless the text already is the address or names a user."""
        href = link.href
        text = _visible("".join(self.out[link.start :]))
        if not href or href.startswith("tg://user") or text in (href, href.rstrip("/")):
            return
        self.out.append(f" ({href})")

    def _quote(self, start: int) -> None:
        body = "".join(self.out[start:]).strip("\n")
        quoted = "\n".join(f"> {line}" for line in body.split("\n"))
        before = "".join(self.out[:start])
        self.out[start:] = ["\n" if before and not before.endswith("\n") else "", quoted]
        self.after_quote = True


def _visible(text: str) -> str:
    """`text` without terminal styles."""
    for on, off in _STYLES.values():
        text = text.replace(on, "").replace(off, "")
    return text
