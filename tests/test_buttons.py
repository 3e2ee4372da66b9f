"""Buttons in the pure core: callback data (64 bytes, versioned, read without trusting
it), the keyboards of cards and paged lists, the pages, and presses applied through
`execute` as their commands are; with property tests over arbitrary data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jigaido.core import buttons
from jigaido.core.buttons import (
    DATA_LIMIT,
    PAGE_SIZE,
    Button,
    Page,
    Press,
    Unreadable,
    card_keyboard,
    card_text,
    decode,
    encode,
    page_keyboard,
    pages,
    toast,
)
from jigaido.core.commands import (
    FOREIGN_BUTTON,
    NOT_A_BUTTON,
    OLD_BUTTON,
    PRESS,
    Outcome,
    Request,
    execute,
    files_needed,
    needs_admin,
)
from jigaido.core.model import Bounty, Doc, FileKey, GroupBook, TrackList, UserBook
from jigaido.core.render import MESSAGE_LIMIT, plain, visible_length

NOW = 1_790_000_000
GROUP = -1001234567890
OTHER_GROUP = -1009876543210
ANN, BOB, CY = 456, 789, 321
BIG = 10**16 - 1  # the largest id the data carries


def bounty(id: int = 1, **kw: object) -> Bounty:
    fields: dict[str, object] = {
        "text": f"task {id}",
        "link": None,
        "due_date_ts": None,
        "created_at": NOW - 60,
        "created_by_user_id": ANN,
        "created_by_name": "Ann",
    }
    fields.update(kw)
    return Bounty(id, **fields)  # type: ignore[arg-type]


def labels(keyboard: buttons.Keyboard) -> list[list[str]]:
    return [[b.text for b in row] for row in keyboard]


# --- callback data -------------------------------------------------------------------


PRESSES = [Press(verb, GROUP, 7) for verb in ("track", "claim", "unclaim", "done", "reopen")]
PAGES = [
    Page(GROUP, "open", 2),
    Page(GROUP, "done", 1),
    Page(GROUP, "mine", 3, ANN),
    Page(ANN, "mine", 1),
    Page(ANN, "open", 999_999),
]


@pytest.mark.parametrize("pressed", [*PRESSES, *PAGES])
def test_data_comes_back_as_it_was_made(pressed: Press | Page) -> None:
    """What encode makes, decode reads back as the same press or page."""
    data = encode(pressed)
    assert data is not None
    assert data.startswith("j1:")
    assert decode(data) == pressed


def test_the_longest_data_fits_telegrams_64_bytes() -> None:
    """The largest ids (16 digits, negative chats) still fit 64 bytes of ASCII."""
    longest = [
        Press("unclaim", -BIG, BIG),
        Page(-BIG, "mine", 999_999, BIG),
    ]
    for pressed in longest:
        data = encode(pressed)
        assert data is not None
        assert data.isascii()
        assert len(data.encode()) <= DATA_LIMIT
        assert decode(data) == pressed


@pytest.mark.parametrize(
    "pressed",
    [
        Press("claim", GROUP, BIG + 1),
        Press("claim", -(BIG + 1), 1),
        Press("claim", GROUP, 0),
        Page(GROUP, "open", 0),
        Page(GROUP, "open", 1_000_000),
        Page(GROUP, "mine", 1, 0),
        Page(GROUP, "open", 1, ANN),
    ],
)
def test_what_cannot_be_carried_gets_no_data(pressed: Press | Page) -> None:
    """An id too long for the data (or a page out of range) gets no data, rather than
    data that would not fit or would mean something else."""
    assert encode(pressed) is None


def test_a_card_of_a_bounty_whose_id_is_too_long_has_no_buttons() -> None:
    """A hand-edited id beyond 16 digits: the card is shown without buttons."""
    assert card_keyboard(bounty(BIG + 1), GROUP, in_group=True) == ()


@pytest.mark.parametrize("data", ["j0:c:-1001:1", "j2:c:-1001:1", "j12:p:5:o:1", "j7:"])
def test_another_versions_data_is_recognised_as_old(data: str) -> None:
    """Data of another version is Unreadable(old=True): its toast says the button is old."""
    assert decode(data) == Unreadable(old=True)


@pytest.mark.parametrize(
    "data",
    [
        "", "track:1", "j1", "j1:", "j1:c:-1001", "j1:c:-1001:1:2", "j1:q:-1001:1",
        "j1:c:-1001:01", "j1:c:-01001:1", "j1:c:0:1", "j1:c:-1001:0", "j1:c:-1001:-1",
        "j1:c:+1001:1", "j1:c: -1001:1", "j1:c:-1001:1\n", "j1:c:-١٠٠١:1",
        "j1:c:-1001:12345678901234567", "j1:p:-1001:x:1", "j1:p:-1001:o:0",
        "j1:p:-1001:o:1234567", "j1:p:-1001:m0:1", "j1:p:-1001:od:1", "J1:c:-1001:1",
    ],
)  # fmt: skip
def test_garbage_is_unreadable_never_an_error(data: str) -> None:
    """Near misses (leading zeros, signs, spaces, other digits, too long) are not ours."""
    assert decode(data) == Unreadable(old=False)


@given(st.text(max_size=80))
def test_decode_never_raises_and_reads_only_what_encode_makes(data: str) -> None:
    """Whatever a client sends: decode gives a press, a page or Unreadable; and what it
    reads as a press or page is exactly the data encode makes for it."""
    pressed = decode(data)
    if not isinstance(pressed, Unreadable):
        assert encode(pressed) == data


@given(
    st.sampled_from(["track", "claim", "unclaim", "done", "reopen"]),
    st.integers(-(10**17), 10**17),
    st.integers(-5, 10**17),
)
def test_encoded_data_always_fits(verb: buttons.Verb, chat: int, bounty_id: int) -> None:
    """Any ids: the data is None or at most 64 bytes, and reads back as made."""
    data = encode(Press(verb, chat, bounty_id))
    if data is not None:
        assert len(data.encode()) <= DATA_LIMIT
        assert decode(data) == Press(verb, chat, bounty_id)


# --- keyboards -----------------------------------------------------------------------


def test_an_open_bounty_in_a_group_offers_claim_done_and_tracking() -> None:
    """Open: Claim and Done, and one Track / Untrack that does what the presser needs."""
    keyboard = card_keyboard(bounty(3), GROUP, in_group=True)
    assert labels(keyboard) == [["🙋 Claim", "✅ Done"], ["👀 Track / Untrack"]]
    assert [decode(b.data) for row in keyboard for b in row] == [
        Press("claim", GROUP, 3),
        Press("done", GROUP, 3),
        Press("track", GROUP, 3),
    ]


def test_a_claimed_bounty_offers_unclaim_and_a_done_one_reopen() -> None:
    """Buttons follow the state (the same for every viewer): claimed gives Unclaim and
    Done; done gives only Reopen (and tracking, allowed for done ones too)."""
    claimed = bounty(3, status="claimed", claimed_by_user_id=BOB)
    assert labels(card_keyboard(claimed, GROUP, in_group=True)) == [
        ["↩️ Unclaim", "✅ Done"],
        ["👀 Track / Untrack"],
    ]
    done = bounty(3, status="done", done_at=NOW)
    assert labels(card_keyboard(done, GROUP, in_group=True)) == [
        ["🔄 Reopen"],
        ["👀 Track / Untrack"],
    ]


def test_a_personal_card_offers_only_done_or_reopen() -> None:
    """In a DM there is no claiming or tracking: only Done, or Reopen once done."""
    assert labels(card_keyboard(bounty(1), ANN, in_group=False)) == [["✅ Done"]]
    done = bounty(1, status="done", done_at=NOW)
    assert card_keyboard(done, ANN, in_group=False) == ((Button("🔄 Reopen", f"j1:r:{ANN}:1"),),)


def test_page_buttons_go_back_and_forth_within_the_list() -> None:
    """No ◀ on the first page, no ▶ on the last; in between both, each to its neighbour."""
    assert labels(page_keyboard(GROUP, "open", 1, 3)) == [["▶"]]
    middle = page_keyboard(GROUP, "open", 2, 3)
    assert [decode(b.data) for b in middle[0]] == [
        Page(GROUP, "open", 1),
        Page(GROUP, "open", 3),
    ]
    assert labels(page_keyboard(GROUP, "open", 3, 3)) == [["◀"]]
    assert page_keyboard(GROUP, "open", 1, 1) == ()
    assert decode(page_keyboard(GROUP, "mine", 1, 2, ANN)[0][0].data) == Page(GROUP, "mine", 2, ANN)


# --- pages ---------------------------------------------------------------------------


def test_ten_bounties_that_fit_are_one_message_without_pages() -> None:
    """Up to ten bounties in one message: the list as before, no "page 1/1"."""
    shown = pages("Mine", [bounty(i) for i in range(1, 11)], NOW, UTC)
    assert len(shown) == 1
    assert shown[0].startswith("<b>Mine</b> (10)\n\n<b>#1</b> task 1")


def test_more_than_ten_are_paged_ten_a_page_in_order() -> None:
    """Eleven or more: pages of at most ten, in the order given, "page k/n" in each."""
    shown = pages("Mine", [bounty(i) for i in range(1, 26)], NOW, UTC)
    assert len(shown) == 3
    for k, page in enumerate(shown, start=1):
        assert page.startswith(f"<b>Mine</b> (25) · page {k}/3\n\n")
    ids = [[int(x) for x in _ids(page)] for page in shown]
    assert ids == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]


def test_long_bounties_move_whole_to_the_next_page() -> None:
    """Pages also end before 4,096 characters, and a bounty is never cut between two
    (long links: a list shortens long texts)."""
    long = [
        bounty(i, text=f"{i:02d} " + "é" * 995, link=f"https://e.org/{i}/" + "p" * 1500)
        for i in range(1, 9)
    ]
    shown = pages("Mine", long, NOW, UTC)
    assert len(shown) > 1
    for page in shown:
        assert visible_length(page) <= MESSAGE_LIMIT
    joined = "\n".join(shown)
    for b in long:
        assert f"<b>#{b.id}</b> {b.text[:100]}" in joined
        assert f">{b.link}</a>" in joined
    assert [int(x) for page in shown for x in _ids(page)] == list(range(1, 9))
    assert all(len(_ids(page)) <= PAGE_SIZE for page in shown)


def test_a_bounty_too_long_for_a_page_is_cut_over_pages_and_nothing_is_lost() -> None:
    """Only a bounty longer than a whole page (a hand-edited file, its link of 9,000
    characters) is cut: over as many pages as it needs, every character kept."""
    huge = bounty(2, link="https://e.org/" + "x" * 9000)
    shown = pages("Mine", [bounty(1), huge, bounty(3)], NOW, UTC)
    assert len(shown) >= 4
    for page in shown:
        assert visible_length(page) <= MESSAGE_LIMIT
    body = "".join(plain(p.split("\n\n", 1)[1]) for p in shown)
    assert body.count("x") == 9000


def test_page_numbers_outside_the_list_are_brought_back_into_it() -> None:
    """A list that shrank since its message was sent: page 5 of 2 is page 2."""
    assert buttons.clamp(5, 2) == 2
    assert buttons.clamp(0, 2) == 1
    assert buttons.clamp(3, 0) == 1


def _ids(page: str) -> list[str]:
    import re

    return re.findall(r"(?m)^<b>#(\d+)</b>", page)


# --- texts ---------------------------------------------------------------------------


def test_a_toast_is_plain_text_of_at_most_200_characters() -> None:
    """Tags dropped, entities decoded, word joiners gone, one line, cut with an ellipsis."""
    assert toast("🙋 <b>Ann</b> claimed <b>#1</b>: a &lt;b&gt; @\u2060x") == (
        "🙋 Ann claimed #1: a <b> @x"
    )
    long = toast("⚠️ " + "🎯" * 300)
    assert long.endswith("…")
    assert len(long.encode("utf-16-le")) // 2 <= 200


def test_a_card_always_fits_one_message_for_its_edit() -> None:
    """The longest card (1,000 characters outside the BMP, a 2,048-character link) is
    shortened to one message, saying where all of it is."""
    huge = bounty(
        4,
        text="🎯" * 1000,
        link="https://x.org/" + "a" * 2034,
        status="claimed",
        claimed_by_user_id=BOB,
        claimed_by_name="B" * 64,
    )
    text = card_text(huge, NOW, UTC, in_group=True)
    assert visible_length(text) <= MESSAGE_LIMIT
    assert "(/bounty 4 shows all of it)" in text
    assert card_text(bounty(4), NOW, UTC, in_group=True) == (
        "<b>#4</b> task 4\n📅 no due date\n🟢 open: /claim 4 to take it\n"
        "👀 tracked by 0 people\n➕ added 2026-09-21 by Ann"
    )


# --- presses, through execute --------------------------------------------------------


class Chat:
    """A chat's files in memory, and requests as the router builds them."""

    def __init__(self, chat_id: int = GROUP) -> None:
        self.chat_id = chat_id
        self.docs: dict[FileKey, Doc] = {}
        self.ids = count(1000)

    def request(self, command: str, args: str = "", user: int = ANN, **kw: object) -> Request:
        kind = "group" if self.chat_id < 0 else "private"
        uid = next(self.ids)
        fields: dict[str, object] = {"user_name": {ANN: "Ann", BOB: "Bob", CY: "Cy"}.get(user)}
        if kind == "group":
            fields["admin"] = False
        fields.update(kw)
        return Request(uid, self.chat_id, kind, user, uid, command, args, **fields)  # type: ignore[arg-type]

    def run(self, req: Request) -> Outcome:
        needed = files_needed(req)
        outcome = execute(req, {k: self.docs.get(k) for k in needed}, NOW, UTC)
        assert set(outcome.changed) <= set(needed)
        self.docs.update(outcome.changed)
        return outcome

    def press(self, data: str, user: int = ANN, **kw: object) -> Outcome:
        outcome = self.run(self.request(PRESS, data, user, callback_id="q", **kw))
        assert outcome.messages == ()  # a press answers with a toast and an edit
        return outcome

    def book(self) -> GroupBook | UserBook:
        key = FileKey.group(self.chat_id) if self.chat_id < 0 else FileKey.user(self.chat_id)
        book = self.docs[key]
        assert isinstance(book, GroupBook | UserBook)
        return book

    def bounty(self, bounty_id: int) -> Bounty:
        [found] = [b for b in self.book().bounties if b.id == bounty_id]
        return found


@pytest.fixture
def chat() -> Chat:
    c = Chat()
    c.run(c.request("add", "Fix login"))
    return c


def test_the_answer_to_add_carries_the_cards_buttons() -> None:
    """/add answers as before, with the card's buttons under it; /bounty <id> too."""
    c = Chat()
    added = c.run(c.request("add", "Fix login"))
    assert added.messages == ("✅ Added <b>#1</b>: Fix login",)
    assert added.keyboard == card_keyboard(c.bounty(1), GROUP, in_group=True)
    assert added.merged is None  # merged, it is its text alone
    card = c.run(c.request("bounty", "1"))
    assert card.keyboard == added.keyboard
    dm = Chat(ANN)
    assert labels(dm.run(dm.request("add", "Renew passport")).keyboard) == [["✅ Done"]]


def test_a_press_is_its_command_for_the_presser_and_the_card_shows_the_result(
    chat: Chat,
) -> None:
    """Claim pressed by Bob: claimed by Bob on disk, a toast saying so, and the card
    edited to its new state with the buttons that now apply."""
    out = chat.press(f"j1:c:{GROUP}:1", BOB)
    assert out.toast == "🙋 Bob claimed #1: Fix login"
    assert chat.bounty(1).claimed_by_user_id == BOB
    assert out.edit is not None
    assert out.edit.text is not None
    assert "🙋 claimed by Bob" in out.edit.text
    assert labels(out.edit.keyboard)[0] == ["↩️ Unclaim", "✅ Done"]


def test_a_press_is_checked_against_the_presser(chat: Chat) -> None:
    """Done pressed by someone who neither added nor claimed it and is no admin: a
    refusal toast, nothing changes; the card is shown as it is."""
    out = chat.press(f"j1:d:{GROUP}:1", CY)
    assert out.changed == {}
    assert out.toast is not None
    assert out.toast.startswith("⚠️ Only the person who added it")
    assert not chat.bounty(1).done
    assert out.edit is not None
    assert labels(out.edit.keyboard)[0] == ["🙋 Claim", "✅ Done"]


def test_an_admin_may_press_what_the_creator_may(chat: Chat) -> None:
    """The router asks whether a presser of Done, Reopen or Unclaim is an admin; one
    who is may finish another's bounty."""
    req = chat.request(PRESS, f"j1:d:{GROUP}:1", CY, admin=None, callback_id="q")
    assert needs_admin(req)
    assert not needs_admin(replace(req, args=f"j1:c:{GROUP}:1"))
    assert not needs_admin(replace(req, args="garbage"))
    out = chat.press(f"j1:d:{GROUP}:1", CY, admin=True)
    assert out.toast == "🎉 Done: #1 Fix login"
    assert chat.bounty(1).done


def test_track_untrack_does_what_the_presser_needs(chat: Chat) -> None:
    """One button for every viewer: it tracks for whoever does not track it yet and
    untracks for whoever does, keeping the tracking file and the card's count in step."""
    first = chat.press(f"j1:t:{GROUP}:1", BOB)
    assert first.toast == "👀 You now track #1: Fix login"
    assert chat.docs[FileKey.tracking(GROUP, BOB)] == TrackList(
        BOB, (1,), chat.docs[FileKey.tracking(GROUP, BOB)].applied
    )
    assert first.edit is not None
    assert "👀 tracked by 1 person" in (first.edit.text or "")
    again = chat.press(f"j1:t:{GROUP}:1", BOB)
    assert again.toast == "You no longer track #1."
    assert chat.bounty(1).tracked_by == ()


def test_a_redelivered_press_is_answered_again_not_applied_again(chat: Chat) -> None:
    """The same update (Telegram delivering it again after a crash) is answered with
    the same toast and changes nothing more: a Track / Untrack press does not undo itself."""
    req = chat.request(PRESS, f"j1:t:{GROUP}:1", BOB, callback_id="q")
    first = chat.run(req)
    again = chat.run(req)
    assert again.toast == first.toast == "👀 You now track #1: Fix login"
    assert again.changed == {}
    assert chat.bounty(1).tracked_by == (BOB,)


def test_a_press_recorded_in_only_one_file_is_completed_not_flipped(chat: Chat) -> None:
    """A crash between the two writes of a Track press (group.json written, the
    tracking file not): the redelivery decides from the tracking file, as the first
    time, and completes it rather than untracking."""
    req = chat.request(PRESS, f"j1:t:{GROUP}:1", BOB, callback_id="q")
    group_key = FileKey.group(GROUP)
    first = chat.run(req)
    del chat.docs[FileKey.tracking(GROUP, BOB)]  # its write was lost
    assert chat.docs[group_key] == first.changed[group_key]
    again = chat.run(req)
    assert again.toast == first.toast
    assert set(again.changed) == {FileKey.tracking(GROUP, BOB)}
    tracks = chat.docs[FileKey.tracking(GROUP, BOB)]
    assert isinstance(tracks, TrackList)
    assert tracks.tracked == (1,)


def test_a_press_for_a_deleted_bounty_takes_its_buttons_off(chat: Chat) -> None:
    """The bounty was deleted since its card was sent: a toast, no change, and the card
    loses its buttons (its text stays). An id the chat never had changes nothing at all."""
    chat.run(chat.request("delete", "1"))
    out = chat.press(f"j1:c:{GROUP}:1", BOB)
    assert out.changed == {}
    assert out.toast == "Bounty #1 was deleted, so nothing changed."
    assert out.edit == buttons.Edit(None, ())
    never = chat.press(f"j1:c:{GROUP}:99", BOB)
    assert (never.changed, never.edit) == ({}, None)
    assert never.toast == "There is no bounty #99 here; nothing changed."


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("garbage", NOT_A_BUTTON),
        ("", NOT_A_BUTTON),
        ("j0:c:-1001234567890:1", OLD_BUTTON),
        (f"j1:c:{OTHER_GROUP}:1", FOREIGN_BUTTON),
        (f"j1:p:{OTHER_GROUP}:o:1", FOREIGN_BUTTON),
        (f"j1:p:{GROUP}:m:1", NOT_A_BUTTON),  # a DM's list named in a group
    ],
)
def test_data_the_bot_did_not_make_gets_a_polite_toast_and_changes_nothing(
    chat: Chat, data: str, said: str
) -> None:
    """Garbage, an old version, another chat's id: a toast, no file changed, no edit."""
    before = dict(chat.docs)
    out = chat.press(data, BOB)
    assert (out.toast, out.changed, out.edit) == (said, {}, None)
    assert chat.docs == before


def test_a_card_from_before_the_group_moved_still_works() -> None:
    """A card sent before the group became a supergroup names its old id, which
    group.json lists in migrated_from: its buttons keep working."""
    c = Chat()
    c.docs[FileKey.group(GROUP)] = GroupBook(GROUP, 2, (bounty(1),), migrated_from=(-4567,))
    assert c.press("j1:c:-4567:1", BOB).toast == "🙋 Bob claimed #1: task 1"


def test_a_page_press_shows_that_page_of_the_list_as_it_is_now() -> None:
    """▶ shows the next page in the same message; a list that shrank meanwhile shows its
    last page, and one that fits one message loses its buttons."""
    c = Chat()
    for i in range(1, 26):
        c.run(c.request("add", f"task {i}"))
    listing = c.run(c.request("bounty"))
    assert listing.messages[0].startswith("<b>Bounties of this group</b> (25) · page 1/3")
    assert listing.merged is not None
    assert len(listing.merged) == 1
    out = c.press(listing.keyboard[0][0].data, BOB)
    assert (out.toast, out.changed) == ("", {})
    assert out.edit is not None
    assert out.edit.text is not None
    assert out.edit.text.startswith("<b>Bounties of this group</b> (25) · page 2/3")
    assert labels(out.edit.keyboard) == [["◀", "▶"]]
    for i in range(13, 26):
        c.run(c.request("delete", str(i)))
    shrunk = c.press(f"j1:p:{GROUP}:o:3", BOB)
    assert shrunk.edit is not None
    assert shrunk.edit.text is not None
    assert shrunk.edit.text.startswith("<b>Bounties of this group</b> (12) · page 2/2")
    for i in range(3, 13):
        c.run(c.request("delete", str(i)))
    fits = c.press(f"j1:p:{GROUP}:o:2", BOB)
    assert fits.edit == buttons.Edit("<b>Bounties of this group</b> (2)\n\n" + _blocks(c, 1, 2))


def test_the_tracked_list_pages_by_whose_list_it_is() -> None:
    """A group's /my is its asker's: its page buttons name them, so whoever presses
    sees the asker's list, not their own."""
    c = Chat()
    for i in range(1, 13):
        c.run(c.request("add", f"task {i}"))
        c.run(c.request("track", str(i), BOB))
    mine = c.run(c.request("my", user=BOB))
    assert decode(mine.keyboard[0][0].data) == Page(GROUP, "mine", 2, BOB)
    out = c.press(mine.keyboard[0][0].data, ANN)
    assert out.edit is not None
    assert out.edit.text is not None
    assert out.edit.text.startswith("<b>Bounties you track</b> (12) · page 2/2")
    assert FileKey.tracking(GROUP, BOB) in files_needed(c.request(PRESS, mine.keyboard[0][0].data))


def test_a_dm_press_finishes_and_reopens_a_personal_bounty() -> None:
    """In a DM the owner's Done and Reopen work; a group-only button there is refused."""
    c = Chat(ANN)
    c.run(c.request("add", "Renew passport"))
    assert c.press(f"j1:d:{ANN}:1").toast == "🎉 Done: #1 Renew passport"
    assert c.bounty(1).done
    out = c.press(f"j1:r:{ANN}:1")
    assert out.toast == "🔄 Reopened #1: Renew passport."
    assert out.edit is not None
    assert labels(out.edit.keyboard) == [["✅ Done"]]
    refused = c.press(f"j1:c:{ANN}:1")
    assert refused.changed == {}
    assert refused.toast == "/claim works in groups: it claims a bounty of the group."


def _blocks(c: Chat, *ids: int) -> str:
    from jigaido.core.render import bounty_block

    return "\n\n".join(bounty_block(c.bounty(i), NOW, UTC) for i in ids)


# --- property tests: arbitrary data never raises, forged data changes nothing ------

DATA = st.one_of(
    st.text(max_size=70),
    st.builds(
        lambda verb, chat, b: f"j1:{verb}:{chat}:{b}",
        st.sampled_from("txcdrpq"),
        st.sampled_from([GROUP, OTHER_GROUP, ANN, -4567, 0]),
        st.integers(-3, 30),
    ),
    st.builds(
        lambda chat, which, page: f"j1:p:{chat}:{which}:{page}",
        st.sampled_from([GROUP, OTHER_GROUP, ANN]),
        st.sampled_from(["o", "d", "m", f"m{BOB}", "m0", "x"]),
        st.integers(-1, 99),
    ),
)


def _state() -> dict[FileKey, Doc]:
    book = GroupBook(
        GROUP,
        9,
        (
            bounty(1),
            bounty(2, status="claimed", claimed_by_user_id=BOB, tracked_by=(BOB,)),
            bounty(3, status="done", done_at=NOW - 5, done_by_user_id=ANN),
            *(bounty(i) for i in range(4, 9)),
        ),
    )
    return {
        FileKey.group(GROUP): book,
        FileKey.tracking(GROUP, BOB): TrackList(BOB, (2,)),
        FileKey.user(ANN): UserBook(ANN, 3, (bounty(1), bounty(2, status="done", done_at=NOW))),
    }


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    DATA,
    st.sampled_from([GROUP, ANN]),
    st.sampled_from([ANN, BOB, CY]),
    st.sampled_from([None, True, False]),
)
def test_any_press_never_raises_and_forged_data_changes_nothing(
    data: str, chat_id: int, user: int, admin: bool | None
) -> None:
    """Any callback data, in a group or a DM, from anyone: execute never raises, a press
    answers with a toast and never with a message; data that is not a button of this
    chat changes no file and edits nothing; what a press does change is what its
    command would do for the presser."""
    docs = _state()
    kind = "group" if chat_id < 0 else "private"
    user = chat_id if kind == "private" else user
    req = Request(
        77, chat_id, kind, user, 5, PRESS, data, admin=admin if kind == "group" else None,
        callback_id="q",
    )  # fmt: skip
    needed = files_needed(req)
    out = execute(req, {k: docs.get(k) for k in needed}, NOW, UTC)
    assert out.messages == ()
    assert out.toast is not None
    assert len(out.toast.encode("utf-16-le")) // 2 <= 200
    assert set(out.changed) <= set(needed)
    pressed = decode(data)
    mine = not isinstance(pressed, Unreadable) and pressed.chat_id == chat_id
    if not mine:
        assert out.changed == {}
        assert out.edit is None
        return
    if out.edit is not None and out.edit.text is not None:
        assert visible_length(out.edit.text) <= MESSAGE_LIMIT
    if isinstance(pressed, Press) and out.changed:
        verb = pressed.verb
        if verb == "track":
            tracks = docs.get(FileKey.tracking(chat_id, user))
            had = isinstance(tracks, TrackList) and pressed.bounty_id in tracks.tracked
            verb = "untrack" if had else "track"  # type: ignore[assignment]
        typed = replace(req, command=verb, args=str(pressed.bounty_id))
        assert out.changed == execute(typed, {k: docs.get(k) for k in needed}, NOW, UTC).changed
    if isinstance(pressed, Page):
        assert out.changed == {}
