"""Chat files on disk: durable atomic writes, permissions, damaged and leftover files."""

from __future__ import annotations

import errno
import functools
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import jigaido.shell.store
from jigaido.core.commands import migrate_group
from jigaido.core.errors import NotSaved
from jigaido.core.model import Bounty, FileKey, GroupBook, TrackList, UserBook
from jigaido.shell.store import MOVED_FILE, Loaded, Opened, Store, encode

GROUP = -100123
USER = 456

BOOK = GroupBook(
    group_id=GROUP,
    next_id=3,
    bounties=(
        Bounty(
            1,
            "Überprüfe 🐛",
            "https://example.com",
            1735689600,
            1735603200,
            created_by_user_id=USER,
        ),
        Bounty(2, "second", None, None, 1735603300, created_by_user_id=USER),
    ),
)
NEWER = GroupBook(
    group_id=GROUP,
    next_id=4,
    bounties=(*BOOK.bounties, Bounty(3, "third", None, None, 1735603400, created_by_user_id=USER)),
)


class _ModuleWith:
    """A stand-in for a standard module with some functions replaced."""

    def __init__(self, module: ModuleType, **overrides: Callable[..., Any]) -> None:
        self._module = module
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._module, name)


def _failing(code: int) -> Callable[..., Any]:
    def fail(*args: object, **kwargs: object) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(root: Path) -> Store:
    return Store(root)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tree(root: Path) -> list[str]:
    """Every path under `root`, relative to it; empty if `root` does not exist."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- round trip and permissions ---------------------------------------------------------------


async def test_write_then_read(store: Store) -> None:
    """A written file reads back as the same doc, for every kind of file."""
    docs = [
        (FileKey.group(GROUP), BOOK),
        (FileKey.tracking(GROUP, USER), TrackList(USER, (1, 2))),
        (FileKey.user(USER), UserBook(USER, 2, (Bounty(1, "mine", None, None, 5),))),
    ]
    for key, doc in docs:
        await store.write(key, doc)
    for key, doc in docs:
        assert await store.read(key) == Loaded(doc)


async def test_read_missing_file(store: Store, root: Path) -> None:
    """Reading a file that does not exist gives no doc and creates nothing."""
    assert await store.read(FileKey.group(GROUP)) == Loaded(None)
    assert tree(root.parent) == []


async def test_written_bytes_are_the_encoded_doc(store: Store) -> None:
    """The file on disk holds exactly encode(doc), at the spec's path."""
    await store.write(FileKey.group(GROUP), BOOK)
    assert (store.root / str(GROUP) / "group.json").read_bytes() == encode(BOOK)
    assert store.path(FileKey.tracking(GROUP, USER)) == store.root / str(GROUP) / f"{USER}.json"


async def test_permissions(store: Store, root: Path) -> None:
    """The data root is created; chat directories are 0700 and files 0600."""
    old_umask = os.umask(0o022)
    try:
        await store.write(FileKey.group(GROUP), BOOK)
        await store.write(FileKey.tracking(GROUP, USER), TrackList(USER, (1,)))
        await store.write(FileKey.user(USER), UserBook(USER))
    finally:
        os.umask(old_umask)
    assert tree(root) == sorted(
        [str(GROUP), f"{GROUP}/group.json", f"{GROUP}/{USER}.json", str(USER), f"{USER}/user.json"]
    )
    for chat in (GROUP, USER):
        assert mode(root / str(chat)) == 0o700
    for path in (
        root / str(GROUP) / "group.json",
        root / str(GROUP) / f"{USER}.json",
        root / str(USER) / "user.json",
    ):
        assert mode(path) == 0o600


async def test_nested_data_root_is_created(tmp_path: Path) -> None:
    """A data root whose parents do not exist yet is created with them."""
    store = Store(tmp_path / "a" / "b" / "data")
    await store.write(FileKey.group(GROUP), BOOK)
    assert await store.read(FileKey.group(GROUP)) == Loaded(BOOK)


async def test_write_replaces_and_leaves_no_temp_file(store: Store) -> None:
    """A second write replaces the file; no temp file is left beside it."""
    key = FileKey.group(GROUP)
    await store.write(key, BOOK)
    await store.write(key, NEWER)
    assert await store.read(key) == Loaded(NEWER)
    assert os.listdir(store.chat_dir(GROUP)) == ["group.json"]
    assert mode(store.path(key)) == 0o600


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "code"),
    [("replace", errno.EIO), ("fsync", errno.ENOSPC), ("write", errno.ENOSPC)],
)
async def test_failed_write_keeps_the_old_file(
    store: Store, monkeypatch: pytest.MonkeyPatch, function: str, code: int
) -> None:
    """If the OS fails a write step, write raises NotSaved, the old file is intact, no temp."""
    key = FileKey.group(GROUP)
    await store.write(key, BOOK)
    before = store.path(key).read_bytes()
    monkeypatch.setattr(jigaido.shell.store, "os", _ModuleWith(os, **{function: _failing(code)}))
    with pytest.raises(NotSaved):
        await store.write(key, NEWER)
    monkeypatch.undo()
    assert store.path(key).read_bytes() == before
    assert os.listdir(store.chat_dir(GROUP)) == ["group.json"]
    assert await store.read(key) == Loaded(BOOK)


async def test_failed_first_write_creates_no_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first write that fails leaves no file and no temp file behind."""
    monkeypatch.setattr(jigaido.shell.store, "os", _ModuleWith(os, replace=_failing(errno.EIO)))
    with pytest.raises(NotSaved):
        await store.write(FileKey.group(GROUP), BOOK)
    monkeypatch.undo()
    assert os.listdir(store.chat_dir(GROUP)) == []


async def test_short_writes_are_completed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the OS writes only part of the bytes at a time, the whole file still lands."""

    def short_write(fd: int, data: Any) -> int:
        return os.write(fd, bytes(data[:7]))

    monkeypatch.setattr(jigaido.shell.store, "os", _ModuleWith(os, write=short_write))
    await store.write(FileKey.group(GROUP), BOOK)
    monkeypatch.undo()
    assert store.path(FileKey.group(GROUP)).read_bytes() == encode(BOOK)


# --- damaged files ----------------------------------------------------------------------------


def _damage(store: Store, key: FileKey, data: bytes) -> Path:
    path = store.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def test_damaged_file_is_set_aside(store: Store) -> None:
    """A file that does not parse reads as no doc and is renamed aside with its bytes."""
    key = FileKey.group(GROUP)
    garbage = b'{"group_id": -100123, "next_id": \xff\x00 garbage'
    path = _damage(store, key, garbage)
    loaded = await store.read(key)
    assert loaded.doc is None
    assert loaded.set_aside is not None
    assert loaded.reason
    assert loaded.set_aside.startswith("group.json.damaged-")
    aside = path.with_name(loaded.set_aside)
    assert aside.read_bytes() == garbage
    assert not path.exists()
    assert await store.read(key) == Loaded(None)


async def test_file_of_another_chat_is_set_aside(store: Store) -> None:
    """A well-formed file that belongs to another group is set aside, not used."""
    key = FileKey.group(GROUP)
    _damage(store, key, encode(GroupBook(group_id=-999)))
    loaded = await store.read(key)
    assert loaded.doc is None
    assert loaded.set_aside is not None


async def test_damaged_files_in_the_same_second_get_distinct_names(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two damaged files set aside at the same second both survive under different names."""
    frozen = time.gmtime(1_741_793_400)
    monkeypatch.setattr(jigaido.shell.store, "time", _ModuleWith(time, gmtime=lambda: frozen))
    key = FileKey.tracking(GROUP, USER)
    path = _damage(store, key, b"first garbage")
    first = await store.read(key)
    _damage(store, key, b"second garbage")
    second = await store.read(key)
    _damage(store, key, b"third garbage")
    third = await store.read(key)
    names = [first.set_aside, second.set_aside, third.set_aside]
    assert None not in names
    assert len(set(names)) == 3
    assert first.set_aside == f"{USER}.json.damaged-20250312T153000"
    contents = [path.with_name(str(n)).read_bytes() for n in names]
    assert contents == [b"first garbage", b"second garbage", b"third garbage"]
    assert not path.exists()


async def test_writing_after_a_damaged_file_keeps_it(store: Store) -> None:
    """After a damaged file is set aside, a new write does not touch the set-aside copy."""
    key = FileKey.group(GROUP)
    _damage(store, key, b"\x00\x01")
    loaded = await store.read(key)
    await store.write(key, BOOK)
    assert await store.read(key) == Loaded(BOOK)
    assert (store.chat_dir(GROUP) / str(loaded.set_aside)).read_bytes() == b"\x00\x01"


# --- open_chat, migrate ---------------------------------------------------


async def test_open_chat_removes_only_temp_files(store: Store) -> None:
    """open_chat removes temp files a crash left and keeps every other file."""
    chat = store.chat_dir(GROUP)
    chat.mkdir(parents=True)
    temps = [".group.json.k2j3h4.tmp", f".{USER}.json.abc_12.tmp"]
    keep = [
        "group.json",
        f"{USER}.json",
        "group.json.damaged-20250101T000000",
        f"{USER}.json.damaged-20250101T000000.2",
        "notes.tmp",
    ]
    for name in temps + keep:
        (chat / name).write_bytes(b"x")
    opened = await store.open_chat(GROUP)
    assert sorted(opened.removed) == sorted(temps)
    assert opened.moved_to is None
    assert sorted(os.listdir(chat)) == sorted(keep)
    assert all((chat / name).read_bytes() == b"x" for name in keep)


async def test_open_chat_without_directory(store: Store, root: Path) -> None:
    """open_chat on a chat with no directory does nothing and creates nothing."""
    assert await store.open_chat(GROUP) == Opened([])
    assert tree(root.parent) == []


def _tracking_files(store: Store, chat_id: int) -> dict[str, bytes]:
    chat = store.chat_dir(chat_id)
    return {p.name: p.read_bytes() for p in sorted(chat.iterdir())} if chat.exists() else {}


OLD = -4567
NEW = -1004567


def _old_group(store: Store) -> None:
    book = GroupBook(
        group_id=OLD,
        next_id=3,
        bounties=tuple(
            Bounty(i, f"old {i}", None, None, 1735603200, created_by_user_id=USER) for i in (1, 2)
        ),
    )
    store.write_sync(FileKey.group(OLD), book)
    store.write_sync(FileKey.tracking(OLD, USER), TrackList(USER, (2,)))
    store.write_sync(FileKey.tracking(OLD, 7), TrackList(7, (1,)))
    (store.chat_dir(OLD) / "¹.json").write_bytes(b"{}")  # not a tracking file: ignored


def _raced_group(store: Store) -> None:
    """A bounty and a tracking entry filed under the new id before the move."""
    book = GroupBook(
        group_id=NEW,
        next_id=2,
        bounties=(Bounty(1, "raced", None, None, 1735603300, created_by_user_id=7),),
    )
    store.write_sync(FileKey.group(NEW), book)
    store.write_sync(FileKey.tracking(NEW, 7), TrackList(7, (1,)))


MERGE = functools.partial(migrate_group, OLD, NEW)


def test_migrate_moves_and_merges(store: Store, root: Path) -> None:
    """The old group's files are merged under the new id, raced ones follow with fresh
    ids; the old directory stays as it was, marked as moved, and what the new id held
    before is kept aside, not deleted."""
    _old_group(store)
    _raced_group(store)
    old_files = _tracking_files(store, OLD)
    store.migrate_sync(OLD, NEW, MERGE)
    book = store.read_sync(FileKey.group(NEW)).doc
    assert isinstance(book, GroupBook)
    assert book.group_id == NEW
    assert [(b.id, b.text) for b in book.bounties] == [(1, "old 1"), (2, "old 2"), (3, "raced")]
    assert book.migrated_from == (OLD,)
    assert store.read_sync(FileKey.tracking(NEW, USER)).doc == TrackList(USER, (2,))
    assert store.read_sync(FileKey.tracking(NEW, 7)).doc == TrackList(7, (1, 3))
    kept = _tracking_files(store, OLD)
    assert {k: v for k, v in kept.items() if k != MOVED_FILE} == old_files
    assert store.open_chat_sync(OLD) == Opened([], moved_to=NEW)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [str(OLD), str(NEW), f"{NEW}.before-migration-from-{OLD}"]
    )
    assert stat.S_IMODE(store.chat_dir(NEW).stat().st_mode) == 0o700
    assert stat.S_IMODE((store.chat_dir(OLD) / MOVED_FILE).stat().st_mode) == 0o600


@pytest.mark.parametrize("crash_at", range(1, 7))
def test_migrate_redone_after_a_crash_gives_the_same_result(
    store: Store, monkeypatch: pytest.MonkeyPatch, crash_at: int, tmp_path: Path
) -> None:
    """A move interrupted at any of its renames (the writes' and the swaps') and then redone
    ends exactly like an uninterrupted one: nothing lost, nothing merged twice; the old
    id is routed to the new one from the first step on."""
    reference = Store(tmp_path / "reference")
    _old_group(reference)
    _raced_group(reference)
    reference.migrate_sync(OLD, NEW, MERGE)
    expected = _tracking_files(reference, NEW)

    _old_group(store)
    _raced_group(store)
    real_rename, real_replace = os.rename, os.replace
    calls = 0

    def crashing(real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def call(src: Any, dst: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == crash_at:
                raise OSError(errno.EIO, "simulated crash")
            real(src, dst)

        return call

    monkeypatch.setattr(
        jigaido.shell.store,
        "os",
        _ModuleWith(os, rename=crashing(real_rename), replace=crashing(real_replace)),
    )
    with pytest.raises(OSError, match="simulated crash"):
        store.migrate_sync(OLD, NEW, MERGE)
    monkeypatch.undo()
    if crash_at > 1:  # the marker was the first write
        assert store.open_chat_sync(OLD).moved_to == NEW
    store.migrate_sync(OLD, NEW, MERGE)
    store.migrate_sync(OLD, NEW, MERGE)  # and once more: a no-op
    assert _tracking_files(store, NEW) == expected
    assert store.open_chat_sync(OLD).moved_to == NEW


def test_migrate_takes_six_renames(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash test above covers every rename of a move: the marker, three merged
    files, the new directory's old content set aside, the swap (and no more)."""
    _old_group(store)
    _raced_group(store)
    renames = 0
    real_rename, real_replace = os.rename, os.replace

    def counting(real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def call(src: Any, dst: Any) -> None:
            nonlocal renames
            renames += 1
            real(src, dst)

        return call

    monkeypatch.setattr(
        jigaido.shell.store,
        "os",
        _ModuleWith(os, rename=counting(real_rename), replace=counting(real_replace)),
    )
    store.migrate_sync(OLD, NEW, MERGE)
    assert renames == 6


def test_migrate_without_old_directory_marks_the_move(store: Store, root: Path) -> None:
    """A group never used before its migration has nothing to move, but its id is marked
    as moved (a late command for it goes to the new id) and the new group knows it."""
    _raced_group(store)
    store.migrate_sync(OLD, NEW, MERGE)
    book = store.read_sync(FileKey.group(NEW)).doc
    assert isinstance(book, GroupBook)
    assert [b.text for b in book.bounties] == ["raced"]
    assert book.migrated_from == (OLD,)
    assert store.open_chat_sync(OLD) == Opened([], moved_to=NEW)


def test_moved_marker_that_is_unreadable_routes_nowhere(store: Store) -> None:
    """A damaged migrated.json keeps the chat where it is (logged), never raises."""
    store.chat_dir(OLD).mkdir(parents=True)
    (store.chat_dir(OLD) / MOVED_FILE).write_bytes(b"{not json")
    assert store.open_chat_sync(OLD) == Opened([], moved_to=None)


# --- what a name may hold ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_name_holding_no_regular_file_is_set_aside(
    store: Store, kind: str, tmp_path: Path
) -> None:
    """A directory, FIFO or symlink named group.json is set aside like a damaged file
    (never opened for reading: a FIFO would block), and the chat starts the file afresh."""
    key = FileKey.group(GROUP)
    path = store.path(key)
    path.parent.mkdir(parents=True)
    if kind == "directory":
        path.mkdir()
        (path / "inside").write_bytes(b"kept")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        (tmp_path / "elsewhere.json").write_bytes(encode(BOOK))
        path.symlink_to(tmp_path / "elsewhere.json")
    loaded = store.read_sync(key)
    assert loaded.doc is None
    assert loaded.reason == "not a regular file"
    assert loaded.set_aside is not None
    aside = path.parent / loaded.set_aside
    assert aside.is_symlink() if kind == "symlink" else aside.exists()
    if kind == "directory":
        assert (aside / "inside").read_bytes() == b"kept"
    store.write_sync(key, BOOK)
    assert store.read_sync(key) == Loaded(BOOK)


def test_a_value_the_writer_refuses_makes_the_file_damaged(store: Store) -> None:
    """A group.json that parses and passes the model's checks but holds an integer the
    encoder cannot write (next_id 2**64) is damaged: set aside, not loaded to fail every
    later write."""
    key = FileKey.group(GROUP)
    path = store.path(key)
    path.parent.mkdir(parents=True)
    raw = encode(BOOK).replace(b'"next_id": 3', b'"next_id": 18446744073709551616')
    path.write_bytes(raw)
    loaded = store.read_sync(key)
    assert loaded.doc is None
    assert loaded.reason is not None
    assert "cannot be written back" in loaded.reason
    assert (path.parent / str(loaded.set_aside)).read_bytes() == raw
