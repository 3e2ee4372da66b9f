"""Command logic: a request and the chat's files in, changed files and an answer out."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from jigaido.core.commands import (
    GROUP_COMMANDS,
    MODERATED,
    PRIVATE_COMMANDS,
    Outcome,
    Request,
    execute,
    files_needed,
    help_text,
    migrate_group,
    needs_admin,
)
from jigaido.core.model import (
    Applied,
    Bounty,
    Doc,
    FileKey,
    GroupBook,
    TrackList,
    UserBook,
    find_applied,
    load,
)
from jigaido.shell.store import encode

BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday afternoon.
NOW = int(datetime(2025, 3, 12, 15, 30, tzinfo=UTC).timestamp())

GROUP_A = -100123
GROUP_B = -100777
ANN = 456
BOB = 789
CY = 321
NAMES = {ANN: "Ann", BOB: "Bob", CY: "Cy"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


class Chats:
    """The chats' files in memory, updated from each outcome as the worker does."""

    def __init__(self, tz: tzinfo = UTC) -> None:
        self.docs: dict[FileKey, Doc] = {}
        self.tz = tz
        self._update_ids = count(1000)

    def request(
        self,
        chat_id: int,
        command: str,
        args: str = "",
        user_id: int | None = ANN,
        *,
        admin: bool | None = False,
        name: str | None = None,
    ) -> Request:
        """A request as the router builds it; in a group, from a member the router found
        is not an admin unless `admin` says otherwise."""
        kind = "private" if chat_id > 0 else "group"
        uid = next(self._update_ids)
        return Request(
            uid, chat_id, kind, user_id, uid + 1, command, args,
            user_name=name if name is not None else NAMES.get(user_id or 0),
            admin=admin if kind == "group" else None,
        )  # fmt: skip

    def run(self, req: Request, now: int = NOW) -> Outcome:
        needed = files_needed(req)
        assert all(k.chat_id == req.chat_id for k in needed)
        outcome = execute(req, {k: self.docs.get(k) for k in needed}, now, self.tz)
        assert set(outcome.changed) <= set(needed), "changed a file it was not given"
        self.docs.update(outcome.changed)
        return outcome

    def send(
        self,
        chat_id: int,
        command: str,
        args: str = "",
        user_id: int | None = ANN,
        *,
        admin: bool | None = False,
    ) -> str:
        """Run one command and return its answer (asserting there is exactly one message)."""
        [answer] = self.run(self.request(chat_id, command, args, user_id, admin=admin)).messages
        return answer

    def group(self, chat_id: int = GROUP_A) -> GroupBook:
        book = self.docs[FileKey.group(chat_id)]
        assert isinstance(book, GroupBook)
        return book

    def user(self, user_id: int = ANN) -> UserBook:
        book = self.docs[FileKey.user(user_id)]
        assert isinstance(book, UserBook)
        return book

    def tracked(self, user_id: int = ANN, chat_id: int = GROUP_A) -> tuple[int, ...]:
        tracks = self.docs[FileKey.tracking(chat_id, user_id)]
        assert isinstance(tracks, TrackList)
        return tracks.tracked

    def bounty(self, bounty_id: int, chat_id: int = GROUP_A) -> Bounty:
        book = self.docs[FileKey(chat_id, "group.json" if chat_id < 0 else "user.json")]
        assert isinstance(book, GroupBook | UserBook)
        [found] = [b for b in book.bounties if b.id == bounty_id]
        return found


@pytest.fixture
def chats() -> Chats:
    return Chats()


def listed_ids(message: str) -> list[int]:
    return [int(m) for m in re.findall(r"<b>#(\d+)</b>", message)]


def assert_refused(chats: Chats, req: Request) -> str:
    """Run `req`, check it changed nothing, and return its single answer."""
    before = dict(chats.docs)
    outcome = chats.run(req)
    assert outcome.changed == {}
    assert chats.docs == before
    [answer] = outcome.messages
    return answer


# --- /add -----------------------------------------------------------------------------------


def test_add_in_group_numbers_from_one(chats: Chats) -> None:
    """Bounties added in a group get ids 1, 2, 3 and record who added them."""
    for n, who in enumerate((ANN, BOB, ANN), start=1):
        assert f"<b>#{n}</b>" in chats.send(GROUP_A, "add", f"task {n}", who)
    book = chats.group()
    assert [(b.id, b.text, b.created_by_user_id) for b in book.bounties] == [
        (1, "task 1", ANN),
        (2, "task 2", BOB),
        (3, "task 3", ANN),
    ]
    assert book.next_id == 4
    assert book.group_id == GROUP_A
    assert all(b.created_at == NOW for b in book.bounties)


def test_add_stores_link_and_due(chats: Chats) -> None:
    """/add keeps the link and the due date given after the text."""
    answer = chats.send(
        GROUP_A, "add", "Fix  login\nbug https://github.com/x/y/issues/1 2025-04-01"
    )
    b = chats.bounty(1)
    assert b.text == "Fix  login\nbug"
    assert b.link == "https://github.com/x/y/issues/1"
    assert b.due_date_ts == utc(2025, 4, 1)
    assert b.due_all_day is True
    assert "2025-04-01" in answer


def test_add_due_uses_the_time_zone() -> None:
    """A due date without a time is local midnight of that day in the bot's zone."""
    chats = Chats(BERLIN)
    chats.send(GROUP_A, "add", "x 2025-04-01 18:30")
    assert chats.bounty(1).due_date_ts == utc(2025, 4, 1, 16, 30)  # CEST is UTC+2


def test_add_escapes_html_in_the_answer(chats: Chats) -> None:
    """The answer to /add shows a text like <b>x</b> literally, escaped."""
    answer = chats.send(GROUP_A, "add", "<b>x</b> & co")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; co" in answer
    assert "<b>x</b>" not in answer
    assert chats.bounty(1).text == "<b>x</b> & co"


def test_add_in_dm_is_personal(chats: Chats) -> None:
    """/add in a DM goes to the user's user.json, without a creator."""
    chats.send(ANN, "add", "Renew passport tomorrow")
    assert set(chats.docs) == {FileKey.user(ANN)}
    book = chats.user()
    assert book.user_id == ANN
    [b] = book.bounties
    assert (b.id, b.text, b.created_by_user_id) == (1, "Renew passport", None)
    assert b.due_date_ts == utc(2025, 3, 13)
    assert "created_by_user_id" not in encode(book).decode()


def test_ids_are_not_reused_after_delete(chats: Chats) -> None:
    """After /delete the next bounty gets a new id, never the deleted one's."""
    for text in ("a", "b", "c"):
        chats.send(GROUP_A, "add", text)
    chats.send(GROUP_A, "delete", "3")
    chats.send(GROUP_A, "delete", "2")
    chats.send(GROUP_A, "add", "d")
    assert [b.id for b in chats.group().bounties] == [1, 4]
    chats.send(ANN, "add", "p")
    chats.send(ANN, "delete", "1")
    chats.send(ANN, "add", "q")
    assert [b.id for b in chats.user().bounties] == [2]


# --- /edit ----------------------------------------------------------------------------------


@pytest.fixture
def with_bounty(chats: Chats) -> Chats:
    chats.send(GROUP_A, "add", "Fix login https://a.example/1 2025-04-01")
    chats.send(GROUP_A, "add", "Other")
    return chats


@pytest.mark.parametrize(
    ("args", "text", "link", "due"),
    [
        ("1 New text", "New text", "https://a.example/1", utc(2025, 4, 1)),
        ("1 https://b.example/2", "Fix login", "https://b.example/2", utc(2025, 4, 1)),
        ("1 2025-05-02 10:00", "Fix login", "https://a.example/1", utc(2025, 5, 2, 10)),
        ("1 nolink", "Fix login", None, utc(2025, 4, 1)),
        ("1 nodue", "Fix login", "https://a.example/1", None),
        ("1 nolink nodue", "Fix login", None, None),
        ("1 Both gone nodue nolink", "Both gone", None, None),
    ],
)
def test_edit_changes_only_given_fields(
    with_bounty: Chats, args: str, text: str, link: str | None, due: int | None
) -> None:
    """/edit changes the fields given, nolink/nodue clear, and everything else stays."""
    before = with_bounty.bounty(1)
    other = with_bounty.bounty(2)
    answer = with_bounty.send(GROUP_A, "edit", args)
    assert answer.startswith("✏️")
    after = with_bounty.bounty(1)
    assert (after.text, after.link, after.due_date_ts) == (text, link, due)
    assert (after.id, after.created_at, after.created_by_user_id) == (
        before.id,
        before.created_at,
        before.created_by_user_id,
    )
    assert after.due_all_day is (due is not None and due == before.due_date_ts)
    assert with_bounty.bounty(2) == other
    assert with_bounty.group().next_id == 3


def test_edit_by_another_user_is_refused(with_bounty: Chats) -> None:
    """Only the creator may /edit a group bounty; anyone else changes nothing."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "edit", "1 Mine now", BOB))
    assert answer.startswith("⚠️")
    assert "#1" in answer


def test_delete_by_another_user_is_refused(with_bounty: Chats) -> None:
    """Only the creator may /delete a group bounty."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "delete", "1", BOB))
    assert answer.startswith("⚠️")
    assert with_bounty.send(GROUP_A, "delete", "1", ANN).startswith("🗑")
    assert [b.id for b in with_bounty.group().bounties] == [2]


@pytest.mark.parametrize("command", ["edit", "delete", "track"])
def test_unknown_id_is_named(with_bounty: Chats, command: str) -> None:
    """An id the chat does not have gets a clear message naming it, and nothing changes."""
    args = "42 new text" if command == "edit" else "42"
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, command, args))
    assert answer.startswith("⚠️")
    assert "#42" in answer


def test_edit_and_delete_in_dm(chats: Chats) -> None:
    """In a DM the user edits and deletes their own personal bounties."""
    chats.send(ANN, "add", "a https://a.example")
    chats.send(ANN, "add", "b")
    chats.send(ANN, "edit", "1 A nolink")
    assert (chats.bounty(1, ANN).text, chats.bounty(1, ANN).link) == ("A", None)
    chats.send(ANN, "delete", "2")
    assert [b.id for b in chats.user().bounties] == [1]
    answer = assert_refused(chats, chats.request(ANN, "edit", "2 gone"))
    assert answer.startswith("⚠️")
    assert "#2" in answer


# --- /track, /untrack, /my ------------------------------------------------------------------


def test_track_and_untrack(with_bounty: Chats) -> None:
    """/track and /untrack edit the user's own tracking file in this group."""
    chats = with_bounty
    assert "#2" in chats.send(GROUP_A, "track", "2")
    assert chats.tracked() == (2,)
    chats.send(GROUP_A, "track", "1")
    assert chats.tracked() == (2, 1)
    chats.send(GROUP_A, "track", "#1", BOB)
    assert chats.tracked(BOB) == (1,)
    assert "#2" in chats.send(GROUP_A, "untrack", "2")
    assert chats.tracked() == (1,)
    assert chats.tracked(BOB) == (1,)
    assert FileKey.tracking(GROUP_A, ANN) == FileKey(GROUP_A, f"{ANN}.json")


def test_track_twice_says_already(with_bounty: Chats) -> None:
    """Tracking a bounty already tracked says so and changes nothing."""
    with_bounty.send(GROUP_A, "track", "1")
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "track", "1"))
    assert "already" in answer
    assert with_bounty.tracked() == (1,)


def test_untrack_not_tracked_says_so(with_bounty: Chats) -> None:
    """Untracking a bounty not tracked says so and changes nothing."""
    with_bounty.send(GROUP_A, "track", "1")
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "untrack", "2"))
    assert "don't track" in answer
    assert "#2" in answer


def test_untrack_a_deleted_bounty(with_bounty: Chats) -> None:
    """A tracked bounty deleted since can still be untracked."""
    with_bounty.send(GROUP_A, "track", "1", BOB)
    with_bounty.send(GROUP_A, "delete", "1", ANN)
    with_bounty.send(GROUP_A, "untrack", "1", BOB)
    assert with_bounty.tracked(BOB) == ()


def test_my_in_group_lists_tracked_bounties_that_exist(with_bounty: Chats) -> None:
    """/my in a group lists the bounties this user tracks there that still exist."""
    chats = with_bounty
    chats.send(GROUP_A, "add", "third")
    chats.send(GROUP_A, "track", "2", BOB)
    chats.send(GROUP_A, "track", "3", BOB)
    chats.send(GROUP_A, "track", "1", ANN)
    chats.send(GROUP_A, "delete", "3", ANN)
    [message] = chats.run(chats.request(GROUP_A, "my", user_id=BOB)).messages
    assert listed_ids(message) == [2]
    assert "Other" in message
    assert "Fix login" not in message


def test_my_in_group_with_nothing_tracked(with_bounty: Chats) -> None:
    """/my without tracked bounties says how to track one, and creates no file."""
    outcome = with_bounty.run(with_bounty.request(GROUP_A, "my", user_id=BOB))
    assert outcome.changed == {}
    [message] = outcome.messages
    assert "/track" in message
    assert listed_ids(message) == []


def test_my_in_dm_lists_personal_bounties(chats: Chats) -> None:
    """/my in a DM lists the user's personal bounties, like /bounty."""
    chats.send(GROUP_A, "add", "group one")
    chats.send(ANN, "add", "mine 2025-03-20")
    chats.send(ANN, "add", "also mine")
    [my] = chats.run(chats.request(ANN, "my")).messages
    [bounty] = chats.run(chats.request(ANN, "bounty")).messages
    assert my == bounty
    assert listed_ids(my) == [1, 2]
    assert "group one" not in my


# --- /bounty --------------------------------------------------------------------------------


def test_bounty_lists_sorted_by_due_then_id(chats: Chats) -> None:
    """/bounty lists soonest due first, undated last, ties by id."""
    for args in (
        "undated",
        "late 2025-04-01",
        "soon 2025-03-14 10:00",
        "also undated",
        "same day 2025-04-01",
        "overdue 2025-03-01",
    ):
        chats.send(GROUP_A, "add", args)
    outcome = chats.run(chats.request(GROUP_A, "bounty"))
    assert outcome.changed == {}
    [message] = outcome.messages
    assert listed_ids(message) == [6, 3, 2, 5, 1, 4]
    assert "overdue" in message


def test_bounty_without_bounties(chats: Chats) -> None:
    """/bounty on an empty or missing book says there are none and creates nothing."""
    for chat in (GROUP_A, ANN):
        outcome = chats.run(chats.request(chat, "bounty"))
        assert outcome.changed == {}
        [message] = outcome.messages
        assert "No bounties yet" in message
    assert chats.docs == {}


def test_bounty_escapes_text(chats: Chats) -> None:
    """A bounty text with HTML is listed literally."""
    chats.send(GROUP_A, "add", "<i>hi</i> @ann")
    [message] = chats.run(chats.request(GROUP_A, "bounty")).messages
    assert "&lt;i&gt;hi&lt;/i&gt;" in message
    assert "<i>hi" not in message
    assert "@ann" not in message  # a mention would notify on every listing


# --- /start, /help, unknown -----------------------------------------------------------------


@pytest.mark.parametrize("chat_id", [GROUP_A, ANN], ids=["group", "dm"])
def test_start_creates_a_missing_file(chats: Chats, chat_id: int) -> None:
    """/start creates the chat's file when it is missing."""
    outcome = chats.run(chats.request(chat_id, "start"))
    [key] = outcome.changed
    assert key == (FileKey.group(chat_id) if chat_id < 0 else FileKey.user(chat_id))
    doc = outcome.changed[key]
    assert isinstance(doc, GroupBook | UserBook)
    assert (doc.bounties, doc.next_id) == ((), 1)
    assert outcome.messages[0].startswith("👋")


@pytest.mark.parametrize("chat_id", [GROUP_A, ANN], ids=["group", "dm"])
def test_start_never_changes_an_existing_file(chats: Chats, chat_id: int) -> None:
    """/start on a chat that has a file leaves it exactly as it is."""
    chats.send(chat_id, "add", "keep me")
    chats.send(chat_id, "add", "and me")
    chats.send(chat_id, "delete", "2")
    answer = assert_refused(chats, chats.request(chat_id, "start"))
    assert answer.startswith("👋")


def test_help_differs_by_chat_kind(chats: Chats) -> None:
    """/help lists the commands that work in this kind of chat, with examples."""
    [group] = chats.run(chats.request(GROUP_A, "help")).messages
    [dm] = chats.run(chats.request(ANN, "help")).messages
    assert group == help_text("group")
    assert dm == help_text("private")
    assert group != dm
    for cmd in GROUP_COMMANDS:
        if cmd not in ("start", "help"):
            assert f"/{cmd}" in group
    assert "/track" not in dm
    assert "/untrack" not in dm
    for text in (group, dm):
        assert "e.g." in text
        assert "nolink" in text
        assert "nodue" in text
    assert chats.docs == {}


@pytest.mark.parametrize("command", ["track", "untrack", "claim", "unclaim"])
def test_track_in_dm_says_groups_only(chats: Chats, command: str) -> None:
    """/track, /untrack, /claim and /unclaim in a DM say they work in groups, touching
    nothing."""
    req = chats.request(ANN, command, "1")
    assert files_needed(req) == ()
    answer = assert_refused(chats, req)
    assert "group" in answer


def test_unknown_command_in_dm_gets_a_hint(chats: Chats) -> None:
    """An unknown command in a DM gets a short hint pointing at /help."""
    answer = assert_refused(chats, chats.request(ANN, "frobnicate"))
    assert "/frobnicate" in answer
    assert "/help" in answer


# --- no user --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("add", "x"), ("track", "1"), ("untrack", "1"), ("my", ""), ("edit", "1 y"),
        ("delete", "1"), ("claim", "1"), ("unclaim", "1"), ("done", "1"), ("reopen", "1"),
    ],
)  # fmt: skip
def test_group_command_without_user(with_bounty: Chats, command: str, args: str) -> None:
    """In a group a command that needs a user answers so when there is none, changing nothing."""
    req = with_bounty.request(GROUP_A, command, args, user_id=None)
    assert files_needed(req) == (FileKey.group(GROUP_A),)
    answer = assert_refused(with_bounty, req)
    assert f"/{command}" in answer
    assert "who you are" in answer


def test_bounty_without_user_works(with_bounty: Chats) -> None:
    """/bounty needs no user: a channel or an anonymous admin can list."""
    [message] = with_bounty.run(with_bounty.request(GROUP_A, "bounty", user_id=None)).messages
    assert listed_ids(message) == [1, 2]


# --- isolation ------------------------------------------------------------------------------


def test_groups_are_isolated(chats: Chats) -> None:
    """Commands in group B never change, show or track group A's bounties."""
    chats.send(GROUP_A, "add", "secret of A")
    chats.send(GROUP_A, "track", "1")
    a_docs = {k: v for k, v in chats.docs.items() if k.chat_id == GROUP_A}

    assert "#1" in chats.send(GROUP_B, "add", "first of B")
    assert chats.group(GROUP_B).bounties[0].id == 1
    [listing] = chats.run(chats.request(GROUP_B, "bounty")).messages
    assert "secret of A" not in listing
    assert chats.send(GROUP_B, "track", "2").startswith("⚠️")
    chats.send(GROUP_B, "track", "1")
    [my_b] = chats.run(chats.request(GROUP_B, "my")).messages
    assert "secret of A" not in my_b
    assert chats.send(GROUP_B, "delete", "1", BOB).startswith("⚠️")
    chats.send(GROUP_B, "delete", "1")
    chats.send(ANN, "add", "personal")

    assert {k: v for k, v in chats.docs.items() if k.chat_id == GROUP_A} == a_docs
    assert chats.tracked(ANN, GROUP_B) == (1,)


# --- applied records and dedupe ------------------------------------------------------------


CHANGING = [
    (GROUP_A, "add", "new one"),
    (GROUP_A, "edit", "1 renamed"),
    (GROUP_A, "delete", "1"),
    (GROUP_A, "track", "1"),
    (GROUP_A, "untrack", "2"),
    (GROUP_A, "claim", "1"),
    (GROUP_A, "done", "1"),
    (GROUP_B, "start", ""),
    (ANN, "add", "mine"),
    (ANN, "edit", "1 nodue"),
    (ANN, "delete", "1"),
    (ANN, "done", "1"),
    (ANN, "timezone", "Asia/Tokyo"),
    (BOB, "start", ""),
]


@pytest.fixture
def populated(with_bounty: Chats) -> Chats:
    with_bounty.send(GROUP_A, "track", "2")
    with_bounty.send(ANN, "add", "personal 2025-04-01")
    return with_bounty


@pytest.mark.parametrize(("chat_id", "command", "args"), CHANGING)
def test_changed_docs_record_the_update(
    populated: Chats, chat_id: int, command: str, args: str
) -> None:
    """Every changed file carries a record of the update id with the answer it got."""
    req = populated.request(chat_id, command, args)
    outcome = populated.run(req)
    assert outcome.changed
    [answer] = outcome.messages
    for doc in outcome.changed.values():
        assert find_applied(doc, req.update_id, NOW) == Applied(req.update_id, NOW, answer)


@pytest.mark.parametrize(("chat_id", "command", "args"), CHANGING)
def test_redelivered_update_is_not_applied_twice(
    populated: Chats, chat_id: int, command: str, args: str
) -> None:
    """The same update id again on the changed files gets the same answer and no change."""
    req = populated.request(chat_id, command, args)
    first = populated.run(req)
    snapshot = dict(populated.docs)
    again = populated.run(req, now=NOW + 60)
    assert again.messages == first.messages
    assert again.changed == {}
    assert populated.docs == snapshot


def test_an_add_redelivered_does_not_add_twice(chats: Chats) -> None:
    """A redelivered /add does not create a second bounty."""
    req = chats.request(GROUP_A, "add", "once")
    chats.run(req)
    chats.run(req)
    chats.run(req)
    assert [b.text for b in chats.group().bounties] == ["once"]


def test_update_id_reused_after_a_day_is_applied(chats: Chats) -> None:
    """A record older than 24 hours no longer blocks the same update id."""
    req = chats.request(GROUP_A, "add", "first")
    chats.run(req)
    later = replace(req, args="second")
    chats.run(later, now=NOW + 2 * 86400)
    assert [b.text for b in chats.group().bounties] == ["first", "second"]


def test_answer_of_a_read_is_not_recorded(with_bounty: Chats) -> None:
    """A command that changes nothing adds no record."""
    outcome = with_bounty.run(with_bounty.request(GROUP_A, "bounty"))
    assert outcome.changed == {}


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chat_id", "command", "args"),
    [
        (GROUP_A, "add", ""),
        (GROUP_A, "add", "   \n "),
        (GROUP_A, "add", "x" * 1001),
        (GROUP_A, "add", "x 2025-02-30"),
        (GROUP_A, "add", "x 2025-13-01"),
        (GROUP_A, "add", "https://a.example 2025-04-01"),
        (GROUP_A, "edit", ""),
        (GROUP_A, "edit", "1"),
        (GROUP_A, "edit", "abc text"),
        (GROUP_A, "edit", "0 text"),
        (GROUP_A, "edit", "1 " + "y" * 1001),
        (GROUP_A, "edit", "1 2025-02-30"),
        (GROUP_A, "edit", "1 https://b.example nolink"),
        (GROUP_A, "delete", "abc"),
        (GROUP_A, "delete", "0"),
        (GROUP_A, "delete", ""),
        (GROUP_A, "delete", "-1"),
        (GROUP_A, "track", "abc"),
        (GROUP_A, "track", "0"),
        (GROUP_A, "untrack", "1.5"),
        (ANN, "add", ""),
        (ANN, "add", "x" * 1001),
        (ANN, "edit", "abc"),
        (ANN, "delete", "0"),
    ],
)
def test_bad_input_is_refused(populated: Chats, chat_id: int, command: str, args: str) -> None:
    """Bad arguments get a ⚠️ message and change nothing."""
    answer = assert_refused(populated, populated.request(chat_id, command, args))
    assert answer.startswith("⚠️")


def test_bad_input_message_is_escaped(chats: Chats) -> None:
    """A bad id echoed back in the warning is HTML-escaped."""
    answer = assert_refused(chats, chats.request(GROUP_A, "delete", "<b>"))
    assert answer.startswith("⚠️")
    assert "&lt;b&gt;" in answer
    assert "<b>" not in answer


def test_text_of_1000_characters_is_accepted(chats: Chats) -> None:
    """A text of exactly 1,000 characters is the longest allowed."""
    assert chats.send(GROUP_A, "add", "x" * 1000).startswith("✅")
    assert len(chats.bounty(1).text) == 1000


# --- files_needed ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [*GROUP_COMMANDS, "unknown"])
def test_files_needed_in_group(command: str) -> None:
    """A group command needs group.json, plus the user's tracking file for track/untrack/my."""
    req = Request(1, GROUP_A, "group", BOB, 2, command, "1")
    expected: tuple[FileKey, ...]
    if command == "help":
        expected = ()
    elif command in ("track", "untrack", "my"):
        expected = (FileKey.group(GROUP_A), FileKey(GROUP_A, f"{BOB}.json"))
    else:
        expected = (FileKey.group(GROUP_A),)
    assert files_needed(req) == expected


@pytest.mark.parametrize("command", [*PRIVATE_COMMANDS, "track", "untrack", "claim", "unknown"])
def test_files_needed_in_dm(command: str) -> None:
    """A DM command needs the user's user.json, except help and commands that do nothing."""
    req = Request(1, ANN, "private", ANN, 2, command)
    needs_book = command in PRIVATE_COMMANDS and command != "help"
    assert files_needed(req) == ((FileKey.user(ANN),) if needs_book else ())


# --- migrate_group --------------------------------------------------------------------------

OLD_ID = -4567
NEW_ID = -1004567


def _book(group_id: int, next_id: int, *texts_by_id: tuple[int, str]) -> GroupBook:
    return GroupBook(
        group_id=group_id,
        next_id=next_id,
        bounties=tuple(
            Bounty(i, t, None, None, NOW, created_by_user_id=ANN) for i, t in texts_by_id
        ),
    )


OLD_BOOK = _book(OLD_ID, 5, (1, "old one"), (2, "old two"), (4, "old four"))
RACED_BOOK = replace(
    _book(NEW_ID, 3, (1, "raced one"), (2, "raced two")), applied=(Applied(77, NOW, "raced"),)
)
OLD_BOOK = replace(OLD_BOOK, applied=(Applied(70, NOW, "old"), Applied(80, NOW, "later")))


def test_migrate_keeps_old_ids_and_renumbers_raced_ones() -> None:
    """Old bounties keep their ids; ones already under the new id follow with fresh ids."""
    merged, _ = migrate_group(OLD_ID, NEW_ID, OLD_BOOK, RACED_BOOK, {}, {})
    assert merged.group_id == NEW_ID
    assert [(b.id, b.text) for b in merged.bounties] == [
        (1, "old one"),
        (2, "old two"),
        (4, "old four"),
        (5, "raced one"),
        (6, "raced two"),
    ]
    assert merged.next_id == 7
    assert OLD_ID in merged.migrated_from
    assert Applied(77, NOW, "raced") in merged.applied
    ids = [r.update_id for r in merged.applied]
    assert ids == sorted(ids), "a merge keeps the records sorted, as lookups need"
    assert load(FileKey.group(NEW_ID), encode(merged)) == merged


def test_migrate_without_raced_bounties() -> None:
    """With nothing under the new id, the old book moves unchanged but for its id."""
    merged, tracks = migrate_group(
        OLD_ID, NEW_ID, OLD_BOOK, None, {ANN: TrackList(ANN, (2, 4))}, {}
    )
    assert merged.bounties == OLD_BOOK.bounties
    assert merged.next_id == OLD_BOOK.next_id
    assert merged.migrated_from == (OLD_ID,)
    assert tracks == {ANN: TrackList(ANN, (2, 4))}


def test_migrate_merges_tracking_with_renumbering() -> None:
    """Tracking files of both ids merge, ids tracked under the new id follow the renumbering."""
    old_tracks = {ANN: TrackList(ANN, (4,)), 111: TrackList(111, (1,))}
    new_tracks = {ANN: TrackList(ANN, (2,)), BOB: TrackList(BOB, (1, 2))}
    _, tracks = migrate_group(OLD_ID, NEW_ID, OLD_BOOK, RACED_BOOK, old_tracks, new_tracks)
    assert tracks == {
        111: TrackList(111, (1,)),
        ANN: TrackList(ANN, (4, 6)),
        BOB: TrackList(BOB, (5, 6)),
    }


def test_migrate_drops_tracking_of_a_raced_bounty_deleted_before_the_move() -> None:
    """A bounty filed under the new id, tracked, then deleted before the move: its tracking
    entry goes, instead of landing on the old group's bounty with the same id."""
    raced = replace(RACED_BOOK, bounties=RACED_BOOK.bounties[1:])  # "raced one" (#1) deleted
    new_tracks = {BOB: TrackList(BOB, (1, 2))}
    _, tracks = migrate_group(OLD_ID, NEW_ID, OLD_BOOK, raced, {}, new_tracks)
    assert tracks == {BOB: TrackList(BOB, (5,))}  # "raced two", renumbered; not old #1


def test_migrate_keeps_the_tracking_files_dedupe_records() -> None:
    """The tracking files' applied records move with them, sorted, from both ids."""
    old_tracks = {ANN: TrackList(ANN, (4,), (Applied(71, NOW, "old track"),))}
    new_tracks = {ANN: TrackList(ANN, (1,), (Applied(60, NOW, "raced track"),))}
    _, tracks = migrate_group(OLD_ID, NEW_ID, OLD_BOOK, RACED_BOOK, old_tracks, new_tracks)
    assert [r.answer for r in tracks[ANN].applied] == ["raced track", "old track"]


def test_migrate_is_deterministic() -> None:
    """The same inputs give the same merge."""
    old_tracks = {ANN: TrackList(ANN, (4,))}
    new_tracks = {ANN: TrackList(ANN, (1,))}
    first = migrate_group(OLD_ID, NEW_ID, OLD_BOOK, RACED_BOOK, old_tracks, new_tracks)
    assert migrate_group(OLD_ID, NEW_ID, OLD_BOOK, RACED_BOOK, old_tracks, new_tracks) == first


def test_migrate_keeps_earlier_migrations() -> None:
    """A group migrated before remembers all the ids it came from."""
    old = replace(OLD_BOOK, migrated_from=(-1,))
    merged, _ = migrate_group(OLD_ID, NEW_ID, old, None, {}, {})
    assert merged.migrated_from == (-1, OLD_ID)


def test_migrate_without_old_book_does_not_name_itself() -> None:
    """Without an old group.json the merge never claims the group migrated from itself."""
    merged, tracks = migrate_group(
        OLD_ID, NEW_ID, None, RACED_BOOK, {ANN: TrackList(ANN, (1,))}, {}
    )
    assert [b.text for b in merged.bounties] == ["raced one", "raced two"]
    assert NEW_ID not in merged.migrated_from
    assert ANN in tracks


# --- /claim and /unclaim --------------------------------------------------------------------


def test_claim_records_the_claimer_and_lists_show_them(with_bounty: Chats) -> None:
    """/claim marks the bounty claimed by the sender, with their name, and lists and
    the card show who is on it."""
    chats = with_bounty
    answer = chats.request(GROUP_A, "claim", "#2", BOB, name="Bob <the> @builder")
    [said] = chats.run(answer).messages
    assert said == "🙋 Bob &lt;the&gt; @\u2060builder claimed <b>#2</b>: Other"
    b = chats.bounty(2)
    assert (b.status, b.claimed_by_user_id, b.claimed_by_name) == (
        "claimed", BOB, "Bob <the> @builder",
    )  # fmt: skip
    [listing] = chats.run(chats.request(GROUP_A, "bounty")).messages
    assert "🙋 Bob &lt;the&gt; @\u2060builder" in listing
    assert chats.bounty(1).status == "open"


def test_claim_twice_by_the_claimer_says_already(with_bounty: Chats) -> None:
    """Claiming what you already claimed says so and changes nothing."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "claim", "1", BOB))
    assert answer == "You already claimed <b>#1</b>."


def test_one_claimer_at_a_time(with_bounty: Chats) -> None:
    """A bounty claimed by someone else is refused, naming the claimer and how to free it."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "claim", "1", CY))
    assert answer.startswith("⚠️")
    assert "already claimed by Bob" in answer
    assert "/unclaim 1" in answer
    assert with_bounty.bounty(1).claimed_by_user_id == BOB


def test_a_done_bounty_cannot_be_claimed(with_bounty: Chats) -> None:
    """Claiming a done bounty is refused, pointing at /reopen."""
    with_bounty.send(GROUP_A, "done", "1")
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "claim", "1", BOB))
    assert answer.startswith("⚠️")
    assert "is done" in answer
    assert "/reopen 1" in answer


@pytest.mark.parametrize("command", ["claim", "unclaim", "done", "reopen"])
def test_lifecycle_commands_name_a_missing_or_bad_id(with_bounty: Chats, command: str) -> None:
    """An id the group does not have, or no id, is refused and named."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, command, "42"))
    assert answer.startswith("⚠️")
    assert "#42" in answer
    for bad in ("", "abc", "0"):
        assert assert_refused(with_bounty, with_bounty.request(GROUP_A, command, bad)).startswith(
            "⚠️"
        )


@pytest.mark.parametrize(
    ("who", "admin", "whose"),
    [(BOB, False, "your claim"), (ANN, False, "Bob's claim"), (CY, True, "Bob's claim")],
    ids=["claimer", "creator", "admin"],
)
def test_unclaim_by_claimer_creator_or_admin(
    with_bounty: Chats, who: int, admin: bool, whose: str
) -> None:
    """The claimer, the bounty's creator and an admin may release a claim: open again."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    answer = with_bounty.send(GROUP_A, "unclaim", "1", who, admin=admin)
    assert answer.startswith(f"↩️ Released {whose} on <b>#1</b>")
    b = with_bounty.bounty(1)
    assert (b.status, b.claimed_by_user_id, b.claimed_by_name) == ("open", None, None)


def test_unclaim_by_anyone_else_is_refused(with_bounty: Chats) -> None:
    """Someone who neither claimed, added nor administers it cannot release the claim."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "unclaim", "1", CY))
    assert answer.startswith("⚠️ Only the person who added it, Bob who claimed it or an admin")


def test_unclaim_what_is_not_claimed_or_done_is_refused(with_bounty: Chats) -> None:
    """Releasing an open bounty says to /claim it; a done one says there is no claim."""
    open_answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "unclaim", "1"))
    assert "not claimed" in open_answer
    assert "/claim 1" in open_answer
    with_bounty.send(GROUP_A, "done", "1")
    done_answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "unclaim", "1"))
    assert "is done" in done_answer


# --- /done and /reopen ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "admin"), [(ANN, False), (BOB, False), (CY, True)], ids=["creator", "claimer", "admin"]
)
def test_done_by_creator_claimer_or_admin(with_bounty: Chats, who: int, admin: bool) -> None:
    """The creator, the claimer or an admin marks a bounty done: when and by whom are
    kept, and so is the claimer."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    answer = with_bounty.send(GROUP_A, "done", "1", who, admin=admin)
    assert answer == "🎉 Done: <b>#1</b> Fix login"
    b = with_bounty.bounty(1)
    assert (b.status, b.done_at, b.done_by_user_id, b.done_by_name) == (
        "done", NOW, who, NAMES[who],
    )  # fmt: skip
    assert b.claimed_by_user_id == BOB


def test_done_by_anyone_else_is_refused(with_bounty: Chats) -> None:
    """A member who did not add or claim it, and is no admin, cannot mark it done."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "done", "1", CY))
    assert "Only the person who added it, its claimer or an admin" in answer


def test_done_twice_says_already(with_bounty: Chats) -> None:
    """Marking a done bounty done again says so and changes nothing (not its time)."""
    with_bounty.send(GROUP_A, "done", "1")
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "done", "1"))
    assert answer == "Bounty <b>#1</b> is already done."


def test_reopen_puts_it_back_to_open(with_bounty: Chats) -> None:
    """/reopen of a done bounty: open, no claimer, no done time, back in the list."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    with_bounty.send(GROUP_A, "done", "1", BOB)
    answer = with_bounty.send(GROUP_A, "reopen", "1", BOB)
    assert answer.startswith("🔄 Reopened <b>#1</b>")
    assert "/claim 1" in answer
    b = with_bounty.bounty(1)
    assert (b.status, b.claimed_by_user_id, b.done_at, b.done_by_user_id, b.done_by_name) == (
        "open", None, None, None, None,
    )  # fmt: skip
    [listing] = with_bounty.run(with_bounty.request(GROUP_A, "bounty")).messages
    assert listed_ids(listing) == [1, 2]


def test_reopen_rules(with_bounty: Chats) -> None:
    """Reopening an open bounty is refused; only the creator, claimer or an admin may."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "reopen", "1"))
    assert "not done" in answer
    with_bounty.send(GROUP_A, "done", "1")
    refused = assert_refused(with_bounty, with_bounty.request(GROUP_A, "reopen", "1", CY))
    assert refused.startswith("⚠️ Only")
    assert with_bounty.send(GROUP_A, "reopen", "1", CY, admin=True).startswith("🔄")


def test_done_and_reopen_in_dm(chats: Chats) -> None:
    """In a DM the owner marks personal bounties done and reopens them."""
    chats.send(ANN, "add", "Renew passport")
    assert chats.send(ANN, "done", "1") == "🎉 Done: <b>#1</b> Renew passport"
    b = chats.bounty(1, ANN)
    assert (b.status, b.done_at, b.done_by_user_id, b.done_by_name) == ("done", NOW, ANN, None)
    assert chats.send(ANN, "reopen", "1").startswith("🔄 Reopened <b>#1</b>")
    assert "/claim" not in chats.send(ANN, "done", "1") + chats.send(ANN, "reopen", "1")


# --- admins ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "args"), [("edit", "1 Tidied"), ("delete", "1")])
def test_an_admin_may_edit_and_delete_any_bounty(
    with_bounty: Chats, command: str, args: str
) -> None:
    """An admin of the group may edit or delete a bounty someone else added."""
    answer = with_bounty.send(GROUP_A, command, args, CY, admin=True)
    assert answer.startswith("✏️" if command == "edit" else "🗑")
    if command == "edit":
        assert with_bounty.bounty(1).text == "Tidied"
        assert with_bounty.bounty(1).created_by_user_id == ANN
    else:
        assert [b.id for b in with_bounty.group().bounties] == [2]


@pytest.mark.parametrize(
    ("command", "args"),
    [("edit", "1 x"), ("delete", "1"), ("done", "1"), ("reopen", "1"), ("unclaim", "1")],
)
def test_when_admins_could_not_be_checked_nothing_changes(
    with_bounty: Chats, command: str, args: str
) -> None:
    """When Telegram could not say whether the sender is an admin, an action only an
    admin could take is refused, saying so, and changes nothing."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    if command == "reopen":
        with_bounty.send(GROUP_A, "done", "1")
    answer = assert_refused(
        with_bounty, with_bounty.request(GROUP_A, command, args, CY, admin=None)
    )
    assert answer.startswith("⚠️ I could not check that you are an admin")


def test_the_creator_needs_no_admin_check(with_bounty: Chats) -> None:
    """The bounty's own creator edits and finishes it even when admins could not be asked."""
    assert with_bounty.send(GROUP_A, "edit", "1 Mine", ANN, admin=None).startswith("✏️")
    assert with_bounty.send(GROUP_A, "done", "1", ANN, admin=None).startswith("🎉")


@pytest.mark.parametrize("command", ["edit", "delete", "done", "unclaim"])
def test_an_anonymous_admin_moderates_without_a_user(with_bounty: Chats, command: str) -> None:
    """An admin writing as the group (no user, admin) may take the moderator actions;
    a done bounty then names no one."""
    with_bounty.send(GROUP_A, "claim", "1", BOB)
    args = "1 Renamed" if command == "edit" else "1"
    outcome = with_bounty.run(
        with_bounty.request(GROUP_A, command, args, None, admin=True, name="The group")
    )
    assert outcome.changed
    assert not outcome.messages[0].startswith("⚠️")
    if command == "done":
        b = with_bounty.bounty(1)
        assert (b.done_by_user_id, b.done_by_name) == (None, None)


def test_an_anonymous_admin_cannot_claim(with_bounty: Chats) -> None:
    """Claiming needs a person: an anonymous admin is told to send it as themselves."""
    answer = assert_refused(
        with_bounty, with_bounty.request(GROUP_A, "claim", "1", None, admin=True)
    )
    assert "who you are" in answer


def test_needs_admin_only_for_what_an_admin_may_do() -> None:
    """The router asks Telegram about admins only for a group's moderator actions and
    for setting its zone, and only when it does not know already."""

    def needs(command: str, args: str = "1", **kw: object) -> bool:
        base = Request(1, GROUP_A, "group", ANN, 2, command, args)
        return needs_admin(replace(base, **kw))

    assert all(needs(c) for c in MODERATED)
    assert needs("timezone", "Europe/Berlin")
    assert not needs("timezone", "  ")
    for command in ("add", "bounty", "claim", "track", "untrack", "my", "help", "start"):
        assert not needs(command)
    assert not needs("edit", admin=True)
    assert not needs("edit", user_id=None)
    assert not needs("done", kind="private", chat_id=ANN)


# --- lists, /bounty done, /bounty <id> ------------------------------------------------------


@pytest.fixture
def lifecycle(with_bounty: Chats) -> Chats:
    """#1 done 40 days ago, #2 open, #3 claimed, #4 done today, #5 done yesterday."""
    chats = with_bounty
    for text in ("Claimed one", "Done today", "Done yesterday"):
        chats.send(GROUP_A, "add", text)
    chats.run(chats.request(GROUP_A, "done", "1"), now=NOW - 40 * 86400)
    chats.send(GROUP_A, "claim", "3", BOB)
    chats.run(chats.request(GROUP_A, "done", "5"), now=NOW - 86400)
    chats.send(GROUP_A, "done", "4")
    return chats


def test_bounty_lists_no_done_bounty(lifecycle: Chats) -> None:
    """/bounty shows open and claimed bounties only."""
    [listing] = lifecycle.run(lifecycle.request(GROUP_A, "bounty")).messages
    assert listed_ids(listing) == [2, 3]
    assert "(2)" in listing


def test_bounty_done_lists_the_last_30_days_newest_first(lifecycle: Chats) -> None:
    """/bounty done lists what was done in the last 30 days, most recent first."""
    [listing] = lifecycle.run(lifecycle.request(GROUP_A, "bounty", "DONE")).messages
    assert listed_ids(listing) == [4, 5]
    assert listing.startswith("<b>Done in the last 30 days</b> (2)")
    assert "✅ <b>done</b> 2025-03-12 by Ann" in listing


def test_bounty_done_with_nothing_done(with_bounty: Chats) -> None:
    """/bounty done without recent done bounties says so."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "bounty", "done"))
    assert "Nothing was marked done in the last 30 days" in answer


def test_bounty_when_all_are_done_points_at_done(chats: Chats) -> None:
    """A list with every bounty done says so instead of "no bounties yet"."""
    chats.send(GROUP_A, "add", "only")
    chats.send(GROUP_A, "done", "1")
    [answer] = chats.run(chats.request(GROUP_A, "bounty")).messages
    assert "everything is done" in answer
    assert "/bounty done" in answer


def test_my_shows_done_ones_last_marked_done(lifecycle: Chats) -> None:
    """/my lists tracked open bounties by due date, then the done ones, marked done."""
    for i in (4, 1, 3, 2):
        lifecycle.send(GROUP_A, "track", str(i), CY)
    [listing] = lifecycle.run(lifecycle.request(GROUP_A, "my", user_id=CY)).messages
    assert listed_ids(listing) == [2, 3, 4, 1]
    assert listing.count("✅ <b>done</b>") == 2
    assert "🙋 Bob" in listing


def test_my_in_dm_shows_done_last_and_bounty_hides_them(chats: Chats) -> None:
    """In a DM, /bounty leaves done bounties out; /my lists them last, marked done."""
    for text in ("a", "b", "c"):
        chats.send(ANN, "add", text)
    chats.send(ANN, "done", "1")
    [listing] = chats.run(chats.request(ANN, "bounty")).messages
    assert listed_ids(listing) == [2, 3]
    [mine] = chats.run(chats.request(ANN, "my")).messages
    assert listed_ids(mine) == [2, 3, 1]
    assert "✅ <b>done</b> 2025-03-12" in mine


def test_bounty_id_shows_its_card(lifecycle: Chats) -> None:
    """/bounty <id> shows every field of that bounty, its state and its trackers."""
    lifecycle.send(GROUP_A, "track", "3", CY)
    lifecycle.send(GROUP_A, "track", "3", ANN)
    outcome = lifecycle.run(lifecycle.request(GROUP_A, "bounty", "#3"))
    assert outcome.changed == {}
    [card] = outcome.messages
    assert card.startswith("<b>#3</b> Claimed one\n📅 no due date\n🙋 claimed by Bob")
    assert "👀 tracked by 2 people" in card
    assert "➕ added 2025-03-12 by Ann" in card
    [done] = lifecycle.run(lifecycle.request(GROUP_A, "bounty", "1")).messages
    assert "✅ <b>done</b> 2025-01-31 by Ann" in done
    assert '🔗 <a href="https://a.example/1">' in done
    assert "overdue" not in done


@pytest.mark.parametrize("args", ["42", "soon", "done later", "-1"])
def test_bounty_with_a_bad_argument_says_how(with_bounty: Chats, args: str) -> None:
    """/bounty with an unknown id or a word it does not take names the three forms."""
    answer = assert_refused(with_bounty, with_bounty.request(GROUP_A, "bounty", args))
    assert answer.startswith("⚠️")
    if args == "42":
        assert "#42" in answer
    else:
        assert "/bounty done" in answer
        assert "/bounty &lt;id&gt;" in answer


# --- trackers in group.json -----------------------------------------------------------------


def test_track_and_untrack_keep_the_trackers_in_group_json(with_bounty: Chats) -> None:
    """Tracking puts the user among the bounty's trackers in group.json too; untracking
    takes them out."""
    chats = with_bounty
    outcome = chats.run(chats.request(GROUP_A, "track", "1", BOB))
    assert set(outcome.changed) == {FileKey.group(GROUP_A), FileKey.tracking(GROUP_A, BOB)}
    chats.send(GROUP_A, "track", "1", CY)
    assert chats.bounty(1).tracked_by == (BOB, CY)
    chats.send(GROUP_A, "untrack", "1", BOB)
    assert chats.bounty(1).tracked_by == (CY,)


def test_a_v1_tracking_file_is_brought_into_group_json_at_the_next_track(chats: Chats) -> None:
    """Trackers a v1 file never put in group.json are added when that user next tracks
    or untracks something."""
    chats.send(GROUP_A, "add", "a")
    chats.send(GROUP_A, "add", "b")
    chats.send(GROUP_A, "add", "c")
    chats.docs[FileKey.tracking(GROUP_A, BOB)] = TrackList(BOB, (1, 2))
    chats.send(GROUP_A, "untrack", "2", BOB)
    assert [b.tracked_by for b in chats.group().bounties] == [(BOB,), (), ()]


def test_a_track_recorded_only_in_group_json_is_completed_once(with_bounty: Chats) -> None:
    """A crash between the two writes of /track left group.json with the update and the
    tracking file without: delivered again, the tracking file is completed, group.json
    left alone, and the answer is the first one."""
    chats = with_bounty
    req = chats.request(GROUP_A, "track", "1", BOB)
    first = chats.run(req)
    tkey = FileKey.tracking(GROUP_A, BOB)
    del chats.docs[tkey]  # the write that never happened
    group_before = chats.docs[FileKey.group(GROUP_A)]
    again = chats.run(req, now=NOW + 5)
    assert again.messages == first.messages
    assert set(again.changed) == {tkey}
    assert chats.tracked(BOB) == (1,)
    assert find_applied(chats.docs[tkey], req.update_id, NOW + 5) is not None
    assert chats.docs[FileKey.group(GROUP_A)] == group_before
    assert chats.run(req, now=NOW + 9).changed == {}


# --- /timezone ------------------------------------------------------------------------------


def test_timezone_alone_shows_the_zone_in_use(chats: Chats) -> None:
    """/timezone shows the zone and its clock, saying when it is the bot's default."""
    answer = assert_refused(chats, chats.request(GROUP_A, "timezone"))
    assert answer.startswith("🕒 This group's time zone is UTC (15:30 now, UTC+00:00), the bot's")
    assert "Admins change it" in answer
    assert "/timezone Europe/Berlin" in answer
    dm = assert_refused(chats, chats.request(ANN, "timezone"))
    assert dm.startswith("🕒 Your time zone is UTC")


def test_an_admin_sets_the_group_zone_and_dates_follow_it(chats: Chats) -> None:
    """An admin's /timezone stores the zone; due dates are then read and shown in it."""
    answer = chats.send(GROUP_A, "timezone", "europe/berlin", admin=True)
    assert answer.startswith("🕒 This group's time zone is now Europe/Berlin (16:30 now")
    assert chats.group().tz == "Europe/Berlin"
    chats.send(GROUP_A, "add", "x 2025-04-01 18:30")
    assert chats.bounty(1).due_date_ts == utc(2025, 4, 1, 16, 30)  # CEST, after the DST change
    [listing] = chats.run(chats.request(GROUP_A, "bounty")).messages
    assert "2025-04-01 18:30" in listing
    shown = assert_refused(chats, chats.request(GROUP_A, "timezone"))
    assert "Europe/Berlin (16:30 now, UTC+01:00)." in shown


def test_a_member_who_is_no_admin_cannot_set_the_zone(chats: Chats) -> None:
    """A non-admin's /timezone <zone> is refused; one the bot could not check, too."""
    refused = assert_refused(chats, chats.request(GROUP_A, "timezone", "Europe/Berlin"))
    assert "Only an admin of this group can set its time zone" in refused
    unknown = assert_refused(chats, chats.request(GROUP_A, "timezone", "Europe/Berlin", admin=None))
    assert "could not check" in unknown


def test_an_unknown_zone_is_refused_with_an_example(chats: Chats) -> None:
    """A name that is no time zone is refused with an example, and nothing changes."""
    answer = assert_refused(chats, chats.request(ANN, "timezone", "Mars/Base"))
    assert answer.startswith("⚠️")
    assert "/timezone Europe/Berlin" in answer
    chats.send(ANN, "timezone", "Asia/Tokyo")
    assert chats.user().tz == "Asia/Tokyo"
    again = assert_refused(chats, chats.request(ANN, "timezone", "asia/tokyo"))
    assert again == "Your time zone is already Asia/Tokyo."


def test_changing_the_zone_keeps_each_all_day_due_on_its_day(chats: Chats) -> None:
    """Switching zones keeps a due given as a day on that day, and a timed due at its
    moment."""
    chats.send(ANN, "add", "day 2025-04-01")
    chats.send(ANN, "add", "timed 2025-04-01 09:00")
    timed = chats.bounty(2, ANN).due_date_ts
    chats.send(ANN, "timezone", "Pacific/Kiritimati")  # UTC+14
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    day = chats.bounty(1, ANN)
    assert day.due_date_ts == int(datetime(2025, 4, 1, tzinfo=kiritimati).timestamp())
    assert day.due_all_day
    assert chats.bounty(2, ANN).due_date_ts == timed
    [listing] = chats.run(chats.request(ANN, "bounty")).messages
    assert "📅 2025-04-01\n" in listing or listing.endswith("📅 2025-04-01")
    assert "2025-04-01 23:00" in listing  # 09:00 UTC is 23:00 in Kiritimati


# --- /remind --------------------------------------------------------------------------------


def test_remind_off_and_on_in_a_dm_is_the_owners_to_set(chats: Chats) -> None:
    """/remind shows the state; /remind off stores `reminders: false`, /remind on
    takes it back (the field absent again); the same word twice changes nothing."""
    assert assert_refused(chats, chats.request(ANN, "remind")).startswith("🔔 Reminders are on")
    assert chats.send(ANN, "remind", "OFF").startswith("🔕 Reminders are off here")
    assert chats.user().reminders is False
    assert assert_refused(chats, chats.request(ANN, "remind", "off")).startswith("🔕")
    assert chats.send(ANN, "remind", "on").startswith("🔔 Reminders are on here")
    assert chats.user().reminders is True


def test_a_groups_reminders_are_turned_off_by_an_admin_only(chats: Chats) -> None:
    refused = assert_refused(chats, chats.request(GROUP_A, "remind", "off"))
    assert "Only an admin of this group can turn its reminders on or off" in refused
    unknown = assert_refused(chats, chats.request(GROUP_A, "remind", "off", admin=None))
    assert "could not check" in unknown
    shown = assert_refused(chats, chats.request(GROUP_A, "remind"))  # anyone may look
    assert shown.startswith("🔔 Reminders are on in this group")
    assert chats.send(GROUP_A, "remind", "off", admin=True).startswith("🔕")
    assert chats.group().reminders is False
    odd = assert_refused(chats, chats.request(GROUP_A, "remind", "sometimes", admin=True))
    assert "/remind on or /remind off" in odd
    assert needs_admin(chats.request(GROUP_A, "remind", "on", admin=None))
    assert not needs_admin(chats.request(GROUP_A, "remind", admin=None))


def test_migration_keeps_the_zone_and_the_trackers() -> None:
    """A group that becomes a supergroup keeps its time zone and who tracks what."""
    old = replace(
        OLD_BOOK,
        tz="Europe/Berlin",
        bounties=(replace(OLD_BOOK.bounties[0], tracked_by=(ANN,)), *OLD_BOOK.bounties[1:]),
    )
    merged, _ = migrate_group(OLD_ID, NEW_ID, old, RACED_BOOK, {}, {})
    assert merged.tz == "Europe/Berlin"
    assert merged.bounties[0].tracked_by == (ANN,)
    alone, _ = migrate_group(OLD_ID, NEW_ID, None, replace(RACED_BOOK, tz="Asia/Tokyo"), {}, {})
    assert alone.tz == "Asia/Tokyo"
