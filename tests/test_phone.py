import pytest

from jigaido.core import render
from jigaido.face.phone import BadHTML, keyboard, to_plain


def test_entities_are_decoded_and_tags_dropped() -> None:
    """A phone shows the text, not the markup: `&lt;b&gt;` is `<b>`, `<b>` is gone."""
    assert to_plain("<b>#1</b> a &lt;b&gt;x&lt;/b&gt; &amp; &quot;q&quot; &#128512;") == (
        '#1 a <b>x</b> & "q" 😀'
    )


def test_escaped_user_text_reads_as_typed() -> None:
    """What render.escape made of a text (its @ unable to mention) reads as it was typed."""
    typed = "ping @ann about <i>this</i> & that"
    assert to_plain(render.escape(typed)) == typed


def test_a_link_shows_its_address_after_its_text() -> None:
    """A link whose text is not its address shows the address too; one whose text is the
    address shows it once."""
    assert to_plain('<a href="https://e.org/x">the issue</a>') == "the issue (https://e.org/x)"
    assert to_plain('<a href="https://e.org/x">https://e.org/x</a>') == "https://e.org/x"
    assert to_plain('<a href="https://e.org/">https://e.org</a>') == "https://e.org"


def test_a_mention_shows_only_the_name() -> None:
    """A link to a user is a mention: its text is the name, there is no address to show."""
    assert to_plain('hi <a href="tg://user?id=42">Ann</a>') == "hi Ann"


def test_a_quote_is_a_block_of_quoted_lines() -> None:
    """A blockquote starts on its own line, each line marked, and what follows starts a
    new one."""
    assert to_plain("said<blockquote>one\ntwo</blockquote>after") == "said\n> one\n> two\nafter"


def test_line_breaks_and_spacing_are_kept() -> None:
    """Inner spaces and line breaks show as sent."""
    assert to_plain("a  b\n\n<i>c</i>\n") == "a  b\n\nc\n"


def test_a_time_shows_its_text() -> None:
    """A date_time entity shows the text the bot gave it."""
    assert to_plain('due <tg-time unix="1767225600" format="wDT">2026-01-01</tg-time>') == (
        "due 2026-01-01"
    )


@pytest.mark.parametrize(
    "html_text",
    ["<b>open", "<b>x</i>", "x</b>", "<div>x</div>", "<br>", "<b><i>x</b></i>"],
)
def test_markup_telegram_refuses_is_refused(html_text: str) -> None:
    """Unknown tags and tags that do not pair up are refused, as Telegram refuses them."""
    with pytest.raises(BadHTML):
        to_plain(html_text)


def test_terminal_styles_only_when_asked() -> None:
    """With ansi, bold is a terminal style, turned off only when the outer bold closes."""
    assert "\x1b" not in to_plain("<b>a</b>")
    assert to_plain("<b>a <b>b</b> c</b>", ansi=True) == "\x1b[1ma \x1b[1mb c\x1b[22m"


def test_a_styled_link_text_still_counts_as_its_address() -> None:
    """With terminal styles on, a link whose text is its address still shows it once."""
    assert to_plain('<a href="https://e.org/x">https://e.org/x</a>', ansi=True) == (
        "\x1b[4mhttps://e.org/x\x1b[24m"
    )


def test_keyboard_numbers_buttons_across_rows() -> None:
    """One line per row, buttons numbered on from the first."""
    assert keyboard([["Track", "Claim"], ["◀", "▶"]]) == ["[1] Track  [2] Claim", "[3] ◀  [4] ▶"]
    assert keyboard([["Done"]], first=5) == ["[5] Done"]
