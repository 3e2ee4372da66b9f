"""Property tests over arbitrary command texts, ids and unicode, for every command: no
handler raises, every answer is valid Telegram HTML within the limit, every file stays
valid per SPEC section 2, and a refused command leaves the files byte-identical."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jigaido.core import args
from jigaido.core.commands import GROUP_COMMANDS, ChatKind, Request, execute, files_needed
from jigaido.core.model import Bounty, FileKey, GroupBook, TrackList, UserBook, load
from jigaido.core.render import MESSAGE_LIMIT
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Pool
from jigaido.shell.store import Store, encode
from tests.e2e.fakeapi import parse_html, utf16_len

NOW = 1_790_000_000
GROUP = -100555
USER = 42
OTHER = 43  # claimed #2 and finished #3 of the group
COMMANDS = [*GROUP_COMMANDS, "unknown", "Add", "ADD"]

TOKENS = st.sampled_from(
    [
        "1", "#2", "0", "-3", "99999999999999999999", "abc", "2025-02-30", "2025-12-31",
        "2025-12-31 23:59", "25:00", "tomorrow", "today", "friday", "fri", "3d", "12h", "2w",
        "1970-01-01", "1971-01-01", "2037-12-31 23:59", "2038-01-01", "9999-12-31", "520w",
        "0d", "https://example.com/a?b=<c>&d", "http://", "nolink", "nodue", "<b>x</b>",
        "@user", "&amp;", "\n", "  ", "🐛", "\u200b", "\ufffd", "x" * 1001, "done", "DONE",
        "Europe/Berlin", "europe/berlin", "Berlin", "UTC", "localtime", "Pacific/Kiritimati",
        "5", "6", "7",
    ]
)  # fmt: skip
ARGS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(TOKENS, st.text(max_size=20)), max_size=8).map(" ".join),
)
USERS = st.one_of(st.none(), st.just(USER), st.just(OTHER), st.integers(1, 2**52))
ADMIN = st.sampled_from([None, True, False])


def state() -> dict[FileKey, GroupBook | UserBook | TrackList | None]:
    b = [
        Bounty(i, f"<i>{i}</i> @someone", None if i % 2 else f"https://x.org/{i}",
               None if i == 3 else NOW + 3600 * (i - 2), NOW - 100, created_by_user_id=USER,
               due_all_day=i == 4)
        for i in (1, 2, 3, 4)
    ]  # fmt: skip
    # What v1 stored for 9999-12-31, and the extremes a hand-edited file can hold (the
    # store writes 64-bit integers).
    b += [
        Bounty(5, "v1", None, 253402214400, NOW - 100, created_by_user_id=USER, due_all_day=True),
        Bounty(6, "max", None, 2**63 - 1, NOW - 100, created_by_user_id=USER, due_all_day=True),
        Bounty(7, "min", None, -(2**63), NOW - 100, created_by_user_id=USER),
    ]
    # Version 2 states: #2 claimed by OTHER, #3 done by them, names that need escaping.
    b[1] = replace(
        b[1], status="claimed", claimed_by_user_id=OTHER, claimed_by_name="<b>O</b> @o",
        tracked_by=(USER, OTHER),
    )  # fmt: skip
    b[2] = replace(
        b[2], status="done", claimed_by_user_id=OTHER, claimed_by_name="O", done_at=NOW - 50,
        done_by_user_id=OTHER, done_by_name="O & co", tracked_by=(USER,),
    )  # fmt: skip
    personal = tuple(
        Bounty(
            x.id, x.text, x.link, x.due_date_ts, x.created_at, due_all_day=x.due_all_day,
            status="done" if x.id == 3 else "open", done_at=NOW - 50 if x.id == 3 else None,
            done_by_user_id=USER if x.id == 3 else None,
        )
        for x in b
    )  # fmt: skip
    return {
        FileKey.group(GROUP): GroupBook(GROUP, 8, tuple(b), tz="Asia/Kathmandu"),
        FileKey.tracking(GROUP, USER): TrackList(USER, (1, 3, 5, 6, 9)),
        FileKey.user(USER): UserBook(USER, 8, personal),
    }


def check_message(html: str) -> None:
    plain = parse_html(html)  # raises if Telegram would refuse the markup
    assert plain.strip()
    assert utf16_len(plain) <= MESSAGE_LIMIT


@settings(max_examples=600, deadline=None)
@given(
    command=st.sampled_from(COMMANDS),
    raw=ARGS,
    group=st.booleans(),
    user=USERS,
    admin=ADMIN,
    update_id=st.integers(0, 2**31),
    zone=st.sampled_from(
        [
            UTC,
            *map(ZoneInfo, ["Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kathmandu"]),
        ]
    ),
)
def test_every_command_on_any_input(
    command: str,
    raw: str,
    group: bool,
    user: int | None,
    admin: bool | None,
    update_id: int,
    zone: ZoneInfo,
) -> None:
    """No input makes a command raise; answers are valid HTML; files stay valid; a
    refusal changes nothing; the same update again changes nothing more."""
    chat = GROUP if group else USER
    request = Request(
        update_id, chat, "group" if group else "private", user if group else USER, 7,
        command.lower(), raw, user_name="<i>N</i> @n", admin=admin if group else None,
    )  # fmt: skip
    docs = state()
    needed = {k: docs.get(k) for k in files_needed(request)}
    outcome = execute(request, needed, NOW, zone)
    assert outcome.messages
    for message in outcome.messages:
        check_message(message)
    assert set(outcome.changed) <= set(needed)
    for key, doc in outcome.changed.items():
        assert load(key, encode(doc)) == doc
        if isinstance(doc, GroupBook):
            check_book(doc)
    if outcome.messages[0].startswith("⚠️"):
        assert not outcome.changed
    again = execute(request, {**needed, **outcome.changed}, NOW + 1, zone)
    assert not again.changed
    if outcome.changed:
        assert again.messages == outcome.messages


def check_book(book: GroupBook) -> None:
    """The lifecycle fields hang together: a claim has its claimer, only a done bounty
    has done fields, trackers are listed once."""
    for b in book.bounties:
        assert (b.status == "claimed") <= (b.claimed_by_user_id is not None)
        assert (b.status == "open") <= (b.claimed_by_user_id is None)
        assert (b.done_at is not None) <= b.done
        assert len(set(b.tracked_by)) == len(b.tracked_by)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), name=st.text(max_size=40))
def test_split_command_never_raises(text: str, name: str) -> None:
    """Any message text is either not a command for us or a (name, args) pair."""
    split = args.split_command(text, name)
    if split is not None:
        assert split[0] == split[0].lower()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(command=st.sampled_from(COMMANDS), raw=ARGS, user=USERS, group=st.booleans(), admin=ADMIN)
def test_refused_command_leaves_files_byte_identical(
    command: str, raw: str, user: int | None, group: bool, admin: bool | None
) -> None:
    """Through the real pool and real files: a refused or read-only command does not
    write; one that changes something leaves files that load."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for key, doc in state().items():
            assert doc is not None
            (root / str(key.chat_id)).mkdir(exist_ok=True)
            (root / str(key.chat_id) / key.name).write_bytes(encode(doc))
        before = {p: p.read_bytes() for p in root.rglob("*.json")}
        answers: list[str] = []

        async def send(chat: int, text: str, reply_to: int | None, thread: int | None) -> None:
            answers.append(text)

        async def one() -> None:
            pool = Pool(Store(root), Outbox(send), tz=UTC)
            chat = GROUP if group else USER
            kind: ChatKind = "group" if group else "private"
            who = user if group else USER
            request = Request(
                1, chat, kind, who, 7, command.lower(), raw, admin=admin if group else None
            )
            await (await pool.submit(request)).done
            await pool.close()

        asyncio.run(one())
        after = {p: p.read_bytes() for p in root.rglob("*.json")}
        changed = {p for p in after if after[p] != before.get(p)}
        if not changed:
            return
        assert not answers[0].startswith("⚠️"), answers
        for path in changed:
            load(FileKey(int(path.parent.name), path.name), after[path])


def test_unknown_command_in_a_group_is_answered_not_raised() -> None:
    """execute is total: an unknown group command (which the router drops) gets a hint."""
    request = Request(0, GROUP, "group", 1, 7, "unknown", "1")
    outcome = execute(request, {FileKey.group(GROUP): None}, NOW, UTC)
    assert "I don't know /unknown" in outcome.messages[0]
    assert not outcome.changed


STEP = st.tuples(
    st.sampled_from(
        ["add", "claim", "unclaim", "done", "reopen", "track", "untrack", "delete", "edit"]
    ),
    st.integers(1, 6),
    st.sampled_from([USER, OTHER, 44, None]),
    ADMIN,
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=40))
def test_any_sequence_keeps_the_lifecycle_and_trackers_consistent(
    steps: list[tuple[str, int, int | None, bool | None]],
) -> None:
    """Any sequence of group commands by any members keeps every bounty's state whole,
    one claimer at a time, and group.json's trackers equal to the users' tracking files."""
    docs: dict[FileKey, GroupBook | UserBook | TrackList] = {}
    for update_id, (command, bounty_id, user, admin) in enumerate(steps):
        raw = f"task {update_id}" if command == "add" else f"{bounty_id} renamed"
        if command not in ("add", "edit"):
            raw = str(bounty_id)
        request = Request(update_id, GROUP, "group", user, 7, command, raw, admin=admin)
        needed = files_needed(request)
        outcome = execute(request, {k: docs.get(k) for k in needed}, NOW + update_id, UTC)
        docs.update(outcome.changed)
        for message in outcome.messages:
            check_message(message)
    book = docs.get(FileKey.group(GROUP))
    if not isinstance(book, GroupBook):
        return
    check_book(book)
    for b in book.bounties:
        trackers = {
            k.tracking_user_id
            for k, d in docs.items()
            if isinstance(d, TrackList) and b.id in d.tracked
        }
        assert set(b.tracked_by) == trackers, b
