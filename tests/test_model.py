"""The spec's JSON files as values: encode/load, damage detection, applied-update records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jigaido.core.errors import DamagedFile
from jigaido.core.model import (
    APPLIED_KEEP_SECONDS,
    Applied,
    Bounty,
    Confirmed,
    Doc,
    FileKey,
    GroupBook,
    TrackList,
    UserBook,
    empty_doc,
    find_applied,
    load,
    prune_applied,
    with_applied,
)
from jigaido.shell.store import encode

GROUP = -100123
USER = 456
NOW = 1_741_793_400  # 2025-03-12 15:30 UTC

GROUP_KEY = FileKey.group(GROUP)
USER_KEY = FileKey.user(USER)
TRACK_KEY = FileKey.tracking(GROUP, USER)

GROUP_BOOK = GroupBook(
    group_id=GROUP,
    next_id=4,
    bounties=(
        Bounty(
            1,
            "Fix login bug",
            "https://github.com/example/repo/issues/1",
            1735689600,
            1735603200,
            created_by_user_id=USER,
        ),
        Bounty(2, "No link, no due", None, None, 1735603300, created_by_user_id=789),
        Bounty(
            3, "All day", None, 1735776000, 1735603400, created_by_user_id=USER, due_all_day=True
        ),
    ),
    applied=(Applied(41, NOW - 10, "✅ Added <b>#3</b>: All day"), Applied(42, NOW, "ok")),
    migrated_from=(-4567,),
)

USER_BOOK = UserBook(
    user_id=USER,
    next_id=3,
    bounties=(
        Bounty(1, "Renew passport", None, None, 1735603200),
        Bounty(2, "Call\n  the bank", "http://bank.example/x?a=1&b=2", 1735689600, 1735603201),
    ),
    applied=(Applied(7, NOW, "done"),),
)

TRACK_LIST = TrackList(user_id=USER, tracked=(1, 5, 9), applied=(Applied(8, NOW, "👀"),))

SPEC_GROUP = {
    "group_id": GROUP,
    "next_id": 2,
    "bounties": [
        {
            "id": 1,
            "created_by_user_id": USER,
            "text": "Fix login bug",
            "link": "https://github.com/example/repo/issues/1",
            "due_date_ts": 1735689600,
            "created_at": 1735603200,
        }
    ],
}
SPEC_USER = {
    "user_id": USER,
    "next_id": 2,
    "bounties": [
        {"id": 1, "text": "...", "link": None, "due_date_ts": None, "created_at": 1735603200}
    ],
}
SPEC_TRACK = {"user_id": USER, "tracked": [1, 5, 9]}


def raw(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def changed(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the item at `path` set to `value`, or removed if it is `...`."""
    out: Any = json.loads(json.dumps(base))
    target = out
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "doc"),
    [(GROUP_KEY, GROUP_BOOK), (USER_KEY, USER_BOOK), (TRACK_KEY, TRACK_LIST)],
    ids=["group", "user", "tracking"],
)
def test_round_trip(key: FileKey, doc: GroupBook | UserBook | TrackList) -> None:
    """load(encode(doc)) gives back the same doc, every field included."""
    assert load(key, encode(doc)) == doc


@pytest.mark.parametrize("key", [GROUP_KEY, USER_KEY, TRACK_KEY], ids=["group", "user", "tracking"])
def test_empty_doc_round_trips(key: FileKey) -> None:
    """A fresh empty file for a key loads back under that key."""
    doc = empty_doc(key)
    assert load(key, encode(doc)) == doc


def test_empty_doc_rejects_other_names() -> None:
    """empty_doc refuses a name that is no jigaido file."""
    with pytest.raises(ValueError, match=r"notes\.txt"):
        empty_doc(FileKey(GROUP, "notes.txt"))


@pytest.mark.parametrize(
    ("key", "obj"),
    [(GROUP_KEY, SPEC_GROUP), (USER_KEY, SPEC_USER), (TRACK_KEY, SPEC_TRACK)],
    ids=["group", "user", "tracking"],
)
def test_spec_examples_load(key: FileKey, obj: dict[str, Any]) -> None:
    """The spec's example files load, and encode back with the same required fields."""
    again = json.loads(encode(load(key, raw(obj))))
    for name, value in obj.items():
        if name == "bounties":
            assert [{k: b[k] for k in value[0]} for b in again[name]] == value
        else:
            assert again[name] == value


def test_group_json_has_spec_fields_and_types() -> None:
    """group.json carries group_id, next_id and bounties with the spec's names and types."""
    obj = json.loads(encode(GROUP_BOOK))
    assert type(obj["group_id"]) is int
    assert obj["group_id"] == GROUP
    assert type(obj["next_id"]) is int
    assert obj["next_id"] == 4
    assert isinstance(obj["bounties"], list)
    first, second, _ = obj["bounties"]
    for b in (first, second):
        assert {"id", "created_by_user_id", "text", "link", "due_date_ts", "created_at"} <= set(b)
        assert type(b["id"]) is int
        assert type(b["created_by_user_id"]) is int
        assert type(b["text"]) is str
        assert type(b["created_at"]) is int
    assert first["link"] == "https://github.com/example/repo/issues/1"
    assert first["due_date_ts"] == 1735689600
    assert type(first["due_date_ts"]) is int
    assert second["link"] is None
    assert second["due_date_ts"] is None
    assert second["created_by_user_id"] == 789


def test_user_json_has_spec_fields_and_no_creator() -> None:
    """user.json carries user_id, next_id and bounties, and no created_by_user_id."""
    obj = json.loads(encode(USER_BOOK))
    assert obj["user_id"] == USER
    assert type(obj["user_id"]) is int
    assert obj["next_id"] == 3
    for b in obj["bounties"]:
        assert {"id", "text", "link", "due_date_ts", "created_at"} <= set(b)
        assert "created_by_user_id" not in b
    assert obj["bounties"][1]["link"] == "http://bank.example/x?a=1&b=2"
    assert obj["bounties"][0]["link"] is None
    assert obj["bounties"][0]["due_date_ts"] is None


def test_tracking_json_has_spec_fields() -> None:
    """A tracking file carries user_id and the tracked ids as a list of integers."""
    obj = json.loads(encode(TRACK_LIST))
    assert obj["user_id"] == USER
    assert obj["tracked"] == [1, 5, 9]


def test_unknown_fields_are_ignored() -> None:
    """Fields a reader does not know, at the top or in a bounty, are ignored."""
    obj = changed(SPEC_GROUP, ("format_version",), 3)
    obj["bounties"][0]["creator_name"] = "Ann"
    obj["timezone"] = {"name": "Europe/Berlin"}
    assert load(GROUP_KEY, raw(obj)) == load(GROUP_KEY, raw(SPEC_GROUP))
    tracking = {**SPEC_TRACK, "note": [None, 1.5]}
    assert load(TRACK_KEY, raw(tracking)) == TrackList(USER, (1, 5, 9))


def test_v1_bounty_loads_open_and_unclaimed() -> None:
    """A v1 file, without any v2 field, is a valid v2 file: every bounty open and
    unclaimed, no names or trackers, the chat in the bot's zone."""
    book = load(GROUP_KEY, raw(SPEC_GROUP))
    assert isinstance(book, GroupBook)
    [b] = book.bounties
    assert (b.status, b.claimed_by_user_id, b.done_at, b.done_by_user_id) == (
        "open",
        None,
        None,
        None,
    )
    assert (b.created_by_name, b.claimed_by_name, b.done_by_name, b.tracked_by) == (
        None, None, None, (),
    )  # fmt: skip
    assert book.tz is None
    user = load(USER_KEY, raw(SPEC_USER))
    assert isinstance(user, UserBook)
    assert user.tz is None
    assert user.bounties[0].status == "open"


V2_GROUP = GroupBook(
    group_id=GROUP,
    next_id=4,
    bounties=(
        Bounty(1, "open", None, None, 100, created_by_user_id=USER, created_by_name="Ann"),
        Bounty(
            2, "claimed", None, None, 100, created_by_user_id=USER, status="claimed",
            claimed_by_user_id=789, claimed_by_name="Bob <b>", tracked_by=(789, USER),
        ),
        Bounty(
            3, "done", None, None, 100, created_by_user_id=USER, status="done",
            claimed_by_user_id=789, claimed_by_name="Bob", done_at=200, done_by_user_id=789,
            done_by_name="Bob",
        ),
    ),
    tz="Europe/Berlin",
)  # fmt: skip


def test_v2_fields_round_trip_and_are_written() -> None:
    """status, claimer, done fields, names, trackers and the chat's tz are written with
    the spec's names and read back; the four spec fields are there on every bounty."""
    assert load(GROUP_KEY, encode(V2_GROUP)) == V2_GROUP
    obj = json.loads(encode(V2_GROUP))
    assert obj["tz"] == "Europe/Berlin"
    first, second, third = obj["bounties"]
    for b in (first, second, third):
        assert {"status", "claimed_by_user_id", "done_at", "done_by_user_id"} <= set(b)
    assert (first["status"], first["claimed_by_user_id"], first["done_at"]) == ("open", None, None)
    assert "tracked_by" not in first
    assert "claimed_by_name" not in first
    assert first["created_by_name"] == "Ann"
    assert (second["status"], second["claimed_by_user_id"]) == ("claimed", 789)
    assert second["claimed_by_name"] == "Bob <b>"
    assert second["tracked_by"] == [789, USER]
    assert (third["status"], third["done_at"], third["done_by_user_id"]) == ("done", 200, 789)


def test_personal_v2_fields_are_written_without_group_ones() -> None:
    """user.json carries status and the done fields, and no names or trackers."""
    book = UserBook(
        USER, 2, (Bounty(1, "x", None, None, 1, status="done", done_at=5, done_by_user_id=USER),),
        tz="Asia/Tokyo",
    )  # fmt: skip
    assert load(USER_KEY, encode(book)) == book
    obj = json.loads(encode(book))
    [b] = obj["bounties"]
    assert (b["status"], b["done_at"], b["done_by_user_id"], b["claimed_by_user_id"]) == (
        "done", 5, USER, None,
    )  # fmt: skip
    assert not {"tracked_by", "created_by_name", "done_by_name", "claimed_by_name"} & set(b)
    assert obj["tz"] == "Asia/Tokyo"


def test_a_chat_without_a_zone_writes_none() -> None:
    """A chat that never set a zone has no tz field: absent means the bot's zone."""
    assert "tz" not in json.loads(encode(GROUP_BOOK))
    assert "tz" not in json.loads(encode(USER_BOOK))
    assert load(GROUP_KEY, raw({**SPEC_GROUP, "tz": None})) == load(GROUP_KEY, raw(SPEC_GROUP))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "claimed"}, ("open", None, None, None)),
        ({"status": "open", "claimed_by_user_id": 7, "done_at": 9}, ("open", None, None, None)),
        ({"status": "claimed", "claimed_by_user_id": 7, "done_at": 9}, ("claimed", 7, None, None)),
        ({"status": "done", "claimed_by_user_id": 7, "done_at": 9}, ("done", 7, 9, None)),
        ({"status": "done"}, ("done", None, None, None)),
    ],
)
def test_inconsistent_states_are_read_as_what_they_can_mean(
    fields: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """A hand-edited state that does not hang together is read sensibly, not set aside:
    a claim without a claimer is open, an open bounty has no claimer or done fields."""
    obj = changed(SPEC_GROUP, ("bounties", 0), {**SPEC_GROUP["bounties"][0], **fields})
    book = load(GROUP_KEY, raw(obj))
    assert isinstance(book, GroupBook)
    b = book.bounties[0]
    assert (b.status, b.claimed_by_user_id, b.done_at, b.done_by_user_id) == expected


def test_trackers_are_read_once_each() -> None:
    """A user listed twice among a bounty's trackers counts once."""
    obj = changed(SPEC_GROUP, ("bounties", 0, "tracked_by"), [5, 6, 5])
    book = load(GROUP_KEY, raw(obj))
    assert isinstance(book, GroupBook)
    assert book.bounties[0].tracked_by == (5, 6)


def test_missing_optional_fields_default() -> None:
    """A file without applied updates or migrated_from loads with them empty."""
    book = load(GROUP_KEY, raw(SPEC_GROUP))
    assert isinstance(book, GroupBook)
    assert book.applied == ()
    assert book.migrated_from == ()
    assert book.bounties[0].due_all_day is False


# --- damage ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe{}",
        b'{"group_id": -100123, "text": "\xc3"}',
        b"not json",
        b"",
        b"  \n",
        b"[]",
        b"null",
        b"42",
        b'"group.json"',
        b"{",
        b'{"group_id": -100123,}',
    ],
    ids=[
        "bad-utf8",
        "cut-utf8",
        "not-json",
        "empty",
        "blank",
        "list",
        "null",
        "number",
        "string",
        "open-brace",
        "trailing-comma",
    ],
)
@pytest.mark.parametrize("key", [GROUP_KEY, USER_KEY, TRACK_KEY], ids=["group", "user", "track"])
def test_unparsable_bytes_are_damaged(key: FileKey, data: bytes) -> None:
    """Bytes that are not a JSON object raise DamagedFile for every kind of file."""
    with pytest.raises(DamagedFile):
        load(key, data)


@pytest.mark.parametrize(
    ("key", "base", "path"),
    [
        (GROUP_KEY, SPEC_GROUP, ("group_id",)),
        (GROUP_KEY, SPEC_GROUP, ("next_id",)),
        (GROUP_KEY, SPEC_GROUP, ("bounties",)),
        *[
            (GROUP_KEY, SPEC_GROUP, ("bounties", 0, name))
            for name in ("id", "created_by_user_id", "text", "link", "due_date_ts", "created_at")
        ],
        (USER_KEY, SPEC_USER, ("user_id",)),
        (USER_KEY, SPEC_USER, ("next_id",)),
        (USER_KEY, SPEC_USER, ("bounties",)),
        *[
            (USER_KEY, SPEC_USER, ("bounties", 0, name))
            for name in ("id", "text", "link", "due_date_ts", "created_at")
        ],
        (TRACK_KEY, SPEC_TRACK, ("user_id",)),
        (TRACK_KEY, SPEC_TRACK, ("tracked",)),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_missing_required_field_is_damaged(
    key: FileKey, base: dict[str, Any], path: tuple[Any, ...]
) -> None:
    """A file missing any field the spec requires raises DamagedFile."""
    with pytest.raises(DamagedFile):
        load(key, raw(changed(base, path, ...)))


@pytest.mark.parametrize(
    ("key", "base", "path", "value"),
    [
        (GROUP_KEY, SPEC_GROUP, ("group_id",), str(GROUP)),
        (GROUP_KEY, SPEC_GROUP, ("group_id",), None),
        (GROUP_KEY, SPEC_GROUP, ("next_id",), True),
        (GROUP_KEY, SPEC_GROUP, ("next_id",), 2.0),
        (GROUP_KEY, SPEC_GROUP, ("next_id",), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties",), {}),
        (GROUP_KEY, SPEC_GROUP, ("bounties",), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0), [1, "x"]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "id"), "1"),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "id"), True),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "id"), 1.0),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "id"), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "created_by_user_id"), "456"),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "created_by_user_id"), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "text"), 5),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "text"), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "text"), ["a"]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "link"), 5),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "link"), False),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "due_date_ts"), "1735689600"),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "due_date_ts"), 1735689600.5),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "due_date_ts"), False),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "created_at"), True),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "created_at"), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "due_all_day"), "yes"),
        (GROUP_KEY, SPEC_GROUP, ("migrated_from",), [-1, "x"]),
        (GROUP_KEY, SPEC_GROUP, ("migrated_from",), -1),
        (GROUP_KEY, SPEC_GROUP, ("applied_updates",), [{"update_id": "1", "at": 0, "answer": ""}]),
        (GROUP_KEY, SPEC_GROUP, ("applied_updates",), [{"update_id": 1, "at": 0}]),
        (GROUP_KEY, SPEC_GROUP, ("applied_updates",), [{"update_id": 1, "at": 0, "answer": 3}]),
        (GROUP_KEY, SPEC_GROUP, ("applied_updates",), [7]),
        (GROUP_KEY, SPEC_GROUP, ("applied_updates",), {}),
        (USER_KEY, SPEC_USER, ("user_id",), str(USER)),
        (USER_KEY, SPEC_USER, ("bounties", 0, "id"), 1.5),
        (USER_KEY, SPEC_USER, ("bounties", 0, "text"), 0),
        (TRACK_KEY, SPEC_TRACK, ("user_id",), float(USER)),
        (TRACK_KEY, SPEC_TRACK, ("tracked",), "1,5,9"),
        (TRACK_KEY, SPEC_TRACK, ("tracked",), [1, "5"]),
        (TRACK_KEY, SPEC_TRACK, ("tracked",), [1, True]),
        (TRACK_KEY, SPEC_TRACK, ("tracked",), [1, 5.0]),
        (TRACK_KEY, SPEC_TRACK, ("tracked",), [None]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "status"), "archived"),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "status"), None),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "status"), 1),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "claimed_by_user_id"), "456"),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "claimed_by_user_id"), True),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "done_at"), 1.5),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "done_by_user_id"), [1]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "claimed_by_name"), 7),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "created_by_name"), ["Ann"]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "tracked_by"), [1, "2"]),
        (GROUP_KEY, SPEC_GROUP, ("bounties", 0, "tracked_by"), 1),
        (GROUP_KEY, SPEC_GROUP, ("tz",), 1),
        (USER_KEY, SPEC_USER, ("bounties", 0, "status"), "Done"),
        (USER_KEY, SPEC_USER, ("tz",), ["Europe/Berlin"]),
    ],
)
def test_wrong_type_is_damaged(
    key: FileKey, base: dict[str, Any], path: tuple[Any, ...], value: Any
) -> None:
    """A field of the wrong JSON type (a string id, a bool or float as int, ...) is damage."""
    with pytest.raises(DamagedFile):
        load(key, raw(changed(base, path, value)))


@pytest.mark.parametrize(
    ("key", "obj"),
    [
        (GROUP_KEY, {**SPEC_GROUP, "group_id": -100999}),
        (FileKey.group(-100999), SPEC_GROUP),
        (USER_KEY, {**SPEC_USER, "user_id": 457}),
        (FileKey.user(457), SPEC_USER),
        (TRACK_KEY, {**SPEC_TRACK, "user_id": 457}),
        (FileKey.tracking(GROUP, 457), SPEC_TRACK),
    ],
    ids=["group-inside", "group-key", "user-inside", "user-key", "track-inside", "track-key"],
)
def test_file_of_another_chat_is_damaged(key: FileKey, obj: dict[str, Any]) -> None:
    """A file whose owner id differs from the chat or user its name says is damaged."""
    with pytest.raises(DamagedFile, match="belongs to"):
        load(key, raw(obj))


def test_tracking_file_in_another_group_loads() -> None:
    """A tracking file is owned by its user: the same content loads in any group directory."""
    assert load(FileKey.tracking(-200, USER), raw(SPEC_TRACK)) == TrackList(USER, (1, 5, 9))


def test_a_group_file_is_not_a_user_file() -> None:
    """group.json content read as user.json (or the reverse) is damaged, not misread."""
    with pytest.raises(DamagedFile):
        load(USER_KEY, raw({**SPEC_GROUP, "group_id": USER}))
    with pytest.raises(DamagedFile):
        load(FileKey.group(USER), raw(SPEC_USER))


def test_truncated_file_at_every_offset() -> None:
    """A group.json cut at any byte is DamagedFile, never another error; whole, it loads."""
    book = GroupBook(
        group_id=GROUP,
        next_id=4,
        bounties=(
            Bounty(
                1,
                "Überprüfe den Login 🐛",
                "https://example.com/ä",
                1735689600,
                1735603200,
                created_by_user_id=USER,
                due_all_day=True,
            ),
            Bounty(2, "ошибка\n  в <b>x</b>", None, None, 1735603300, created_by_user_id=789),
            Bounty(3, "third", None, 1735776000, 1735603400, created_by_user_id=USER),
        ),
        applied=(Applied(9, NOW, "✅ Added <b>#3</b>"),),
    )
    data = encode(book)
    for cut in range(len(data)):
        try:
            load(GROUP_KEY, data[:cut])
        except DamagedFile:
            continue
        pytest.fail(f"a file cut at byte {cut} of {len(data)} loaded")
    assert load(GROUP_KEY, data) == book


def test_deeply_nested_json_is_damaged() -> None:
    """A file of deeply nested brackets is DamagedFile, not a RecursionError."""
    with pytest.raises(DamagedFile):
        load(GROUP_KEY, b"[" * 100_000 + b"]" * 100_000)


def test_huge_integer_is_damaged() -> None:
    """An integer too long for Python's int parsing is DamagedFile, not a ValueError."""
    data = b'{"group_id": -100123, "next_id": ' + b"9" * 5000 + b', "bounties": []}'
    with pytest.raises(DamagedFile):
        load(GROUP_KEY, data)


def test_lone_surrogate_text_is_damaged_or_dumps() -> None:
    """A text with an unpaired surrogate escape is damage, or else the doc can be encoded again."""
    obj = changed(SPEC_GROUP, ("bounties", 0, "text"), "x")
    data = raw(obj).replace(b'"text": "x"', b'"text": "\\ud800"')
    try:
        doc = load(GROUP_KEY, data)
    except DamagedFile:
        return
    assert load(GROUP_KEY, encode(doc)) == doc


# --- next_id repair ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_id", "ids", "expected"),
    [(2, [1, 5], 6), (5, [1, 5], 6), (1, [3], 4), (0, [], 1), (-7, [], 1), (10, [1, 2], 10)],
)
def test_next_id_is_repaired(next_id: int, ids: list[int], expected: int) -> None:
    """A next_id at or below an existing id (or below 1) becomes max id + 1; a higher one stays."""
    for key, base in ((GROUP_KEY, SPEC_GROUP), (USER_KEY, SPEC_USER)):
        obj = changed(base, ("next_id",), next_id)
        obj["bounties"] = [{**obj["bounties"][0], "id": i} for i in ids]
        book = load(key, raw(obj))
        assert isinstance(book, GroupBook | UserBook)
        assert book.next_id == expected
        assert [b.id for b in book.bounties] == ids


# --- applied records ----------------------------------------------------------------------


def test_with_applied_appends_a_record() -> None:
    """with_applied adds the update id, time and answer, keeping earlier records."""
    doc = with_applied(TRACK_LIST, 99, NOW, "answer")
    assert doc.applied == (*TRACK_LIST.applied, Applied(99, NOW, "answer"))
    assert doc.tracked == TRACK_LIST.tracked


def test_find_applied() -> None:
    """find_applied finds a record of this update id younger than 24 hours, nothing else."""
    doc = TrackList(
        USER,
        (),
        (
            Applied(5, NOW - APPLIED_KEEP_SECONDS + 1, "young"),
            Applied(6, NOW - APPLIED_KEEP_SECONDS, "stale"),
        ),
    )
    assert find_applied(doc, 5, NOW) == Applied(5, NOW - APPLIED_KEEP_SECONDS + 1, "young")
    assert find_applied(doc, 6, NOW) is None
    assert find_applied(doc, 7, NOW) is None
    assert find_applied(None, 5, NOW) is None


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=40), st.integers(0, 31))
def test_applied_records_stay_sorted_and_found_as_by_a_scan(
    inserts: list[tuple[int, int]], wanted: int
) -> None:
    """Records added in any order (a migration merges two files' records) stay sorted by
    update_id, and the bisecting lookup finds exactly what a scan of them would."""
    now = NOW + 5 * APPLIED_KEEP_SECONDS
    doc: Doc = TRACK_LIST
    for update_id, age_in_days in inserts:
        doc = with_applied(doc, update_id, now - age_in_days * APPLIED_KEEP_SECONDS, "a")
    ids = [r.update_id for r in doc.applied]
    assert ids == sorted(ids)
    assert len(doc.applied) == len(TRACK_LIST.applied) + len(inserts)
    fresh = [r for r in doc.applied if r.update_id == wanted and now - r.at < APPLIED_KEEP_SECONDS]
    assert find_applied(doc, wanted, now) == (fresh[0] if fresh else None)


def test_load_sorts_applied_records() -> None:
    """A file written in another order (by hand, or by an older version) loads sorted."""
    obj = json.loads(encode(TRACK_LIST))
    obj["applied_updates"] = [
        {"update_id": 30, "at": NOW, "answer": "c"},
        {"update_id": 10, "at": NOW, "answer": "a"},
        {"update_id": 20, "at": NOW, "answer": "b"},
    ]
    doc = load(TRACK_KEY, json.dumps(obj).encode())
    assert [r.update_id for r in doc.applied] == [10, 20, 30]
    assert find_applied(doc, 10, NOW) == Applied(10, NOW, "a")


def test_find_applied_prefers_a_fresh_record_over_a_stale_one() -> None:
    """An old record of a reused update id does not hide a fresh one."""
    doc = TrackList(
        USER, (), (Applied(5, NOW - 2 * APPLIED_KEEP_SECONDS, "old"), Applied(5, NOW - 1, "new"))
    )
    record = find_applied(doc, 5, NOW)
    assert record is not None
    assert record.answer == "new"


def test_prune_applied() -> None:
    """prune_applied drops records older than 24 h, and those below a confirmed offset
    whose update arrived before that offset was sent; it keeps the rest."""
    stale = Applied(30, NOW - APPLIED_KEEP_SECONDS, "stale")
    confirmed = Applied(10, NOW - 5, "confirmed")
    kept_a = Applied(20, NOW - 5, "a")
    kept_b = Applied(25, NOW - APPLIED_KEEP_SECONDS + 1, "b")
    doc = TrackList(USER, (1,), (confirmed, stale, kept_a, kept_b))
    pruned = prune_applied(doc, NOW, Confirmed(offset=20, sent_at=NOW - 1))
    assert pruned.applied == (kept_a, kept_b)
    assert pruned.tracked == (1,)
    assert prune_applied(doc, NOW, None).applied == (confirmed, kept_a, kept_b)


def test_prune_applied_without_anything_to_drop_keeps_the_doc() -> None:
    """When no record is stale the doc comes back unchanged."""
    assert prune_applied(GROUP_BOOK, NOW, Confirmed(41, NOW)) == GROUP_BOOK


def test_prune_applied_keeps_a_record_that_arrived_after_the_offset_was_sent() -> None:
    """Update ids restarted lower after a quiet week: an offset sent before the new update
    arrived says nothing about it, so its record stays, even in the very write that
    applies it (the records of a batch are applied at `now`)."""
    old_era = Applied(5000, NOW - 10, "old era")
    fresh = Applied(7, NOW, "fresh, below the old offset")
    doc = TrackList(USER, (), (fresh, old_era))
    pruned = prune_applied(doc, NOW, Confirmed(offset=5001, sent_at=NOW - 3))
    assert pruned.applied == (fresh,)
    # Once an offset above it is sent after it arrived, it may go.
    assert prune_applied(doc, NOW + 2, Confirmed(offset=8, sent_at=NOW + 1)).applied == (old_era,)


def test_prune_applied_never_drops_a_kept_update() -> None:
    """Records of updates the bot holds to apply again stay whatever the evidence."""
    held = Applied(10, NOW - APPLIED_KEEP_SECONDS - 5, "held")
    doc = TrackList(USER, (), (held,))
    assert prune_applied(doc, NOW, Confirmed(20, NOW), keep={10}).applied == (held,)
    assert prune_applied(doc, NOW, Confirmed(20, NOW)).applied == ()


# --- output form ----------------------------------------------------------------------------


def _keys_sorted(value: Any) -> bool:
    if isinstance(value, dict):
        return list(value) == sorted(value) and all(_keys_sorted(v) for v in value.values())
    if isinstance(value, list):
        return all(_keys_sorted(v) for v in value)
    return True


@pytest.mark.parametrize("doc", [GROUP_BOOK, USER_BOOK, TRACK_LIST], ids=["group", "user", "track"])
def test_encoding_is_stable_with_sorted_keys(doc: GroupBook | UserBook | TrackList) -> None:
    """encode writes keys sorted at every level and gives the same bytes for equal docs."""
    data = encode(doc)
    assert _keys_sorted(json.loads(data))
    assert encode(doc) == data
    rebuilt = load(
        {GroupBook: GROUP_KEY, UserBook: USER_KEY, TrackList: TRACK_KEY}[type(doc)], data
    )
    assert encode(rebuilt) == data


def test_non_ascii_text_is_stored_as_utf8() -> None:
    """User text is written as UTF-8 bytes, not as \\u escapes."""
    text = "Überprüfen 🐛 ошибка 修正"
    data = encode(UserBook(USER, 2, (Bounty(1, text, None, None, NOW),)))
    assert text.encode() in data
    assert b"\\u" not in data
