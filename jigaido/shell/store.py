"""Chat files on disk: paths, atomic durable writes, damaged files set aside.

Each public method is one thread hop (`aiofiles.os.wrap` of a synchronous function):
a durable write is several blocking calls, and doing them in one hop costs about
half of doing them step by step (see bench/). Only the chat's worker calls these for
its chat, so no two writes to one file ever overlap.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import aiofiles.os
import orjson

from jigaido.core import model
from jigaido.core.errors import DamagedFile, NotSaved
from jigaido.core.model import Doc, FileKey, GroupBook, TrackList

log = logging.getLogger(__name__)

# old book, book already under the new id, their tracking files -> merged book and files
Merge = Callable[
    [GroupBook | None, GroupBook | None, dict[int, TrackList], dict[int, TrackList]],
    tuple[GroupBook, dict[int, TrackList]],
]

P = ParamSpec("P")
T = TypeVar("T")

TEMP_SUFFIX = ".tmp"
DAMAGED_INFIX = ".damaged-"
# In a group's directory once the group became a supergroup: where its commands go now.
MOVED_FILE = "migrated.json"


@dataclass(frozen=True, slots=True)
class Loaded:
    doc: Doc | None  # None: no such file (or it was damaged and set aside)
    set_aside: str | None = None  # the name a damaged file now has
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    removed: list[str]  # temp files a crash left, now removed
    moved_to: int | None = None  # the group became this supergroup: route its commands there


def encode(doc: Doc) -> bytes:
    """A file's bytes: stable JSON with sorted keys, indented, UTF-8, user text not
    escaped to ASCII. orjson, because the stdlib's encoder falls back to pure Python
    when it indents: a 1,000-bounty group.json took 11 ms that way, 0.4 ms with orjson."""
    return orjson.dumps(model.to_json(doc), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def chat_dir(self, chat_id: int) -> Path:
        return self.root / str(chat_id)

    def path(self, key: FileKey) -> Path:
        return self.chat_dir(key.chat_id) / key.name

    async def open_chat(self, chat_id: int) -> Opened:
        """Remove temp files a crash left in the chat's directory, and say whether the
        group moved to a supergroup: the disk, not memory, routes a command that comes
        for the old id after a restart."""
        return await in_thread(self.open_chat_sync, chat_id)

    def open_chat_sync(self, chat_id: int) -> Opened:
        directory = self.chat_dir(chat_id)
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return Opened([])
        removed = _remove_temp_files(directory, names)
        moved_to = self._moved_to(chat_id) if MOVED_FILE in names else None
        return Opened(removed, moved_to)

    def _moved_to(self, chat_id: int) -> int | None:
        try:
            return read_moved_to(self.chat_dir(chat_id))
        except (OSError, ValueError) as e:
            log.error("chat %s: %s is unreadable (%s); commands stay here", chat_id, MOVED_FILE, e)
            return None

    async def read(self, key: FileKey) -> Loaded:
        return await in_thread(self.read_sync, key)

    def read_sync(self, key: FileKey, directory: Path | None = None) -> Loaded:
        path = (directory or self.chat_dir(key.chat_id)) / key.name
        try:
            raw = _read_regular_file(path)
        except FileNotFoundError:
            return Loaded(None)
        try:
            return Loaded(_parse(key, raw))
        except DamagedFile as e:
            aside = set_aside(path)
            log.error(
                "chat %s: %s is damaged (%s); set aside as %s", key.chat_id, key.name, e, aside.name
            )
            return Loaded(None, aside.name, str(e))

    async def write(self, key: FileKey, doc: Doc) -> None:
        """Replace the file durably with `doc`, or raise NotSaved with the old file intact."""
        await in_thread(self.write_sync, key, doc)

    def write_sync(self, key: FileKey, doc: Doc) -> None:
        path = self.path(key)
        try:
            _ensure_dir(path.parent)
            write_durably(path, encode(doc))
        except OSError as e:
            raise NotSaved(f"{path}: {e.strerror or e}") from e

    async def migrate(self, old_id: int, new_id: int, merge: Merge) -> str:
        """Move group `old_id`'s bounties to `new_id`, merged with what is there already."""
        return await in_thread(self.migrate_sync, old_id, new_id, merge)

    def migrate_sync(self, old_id: int, new_id: int, merge: Merge) -> str:
        """First mark the old directory as moved (from then on its commands go to the new
        id, after a restart too), then build the merged directory beside the others and
        swap it in with renames. Every input stays on disk (the old directory in place, any
        earlier files under the new id renamed aside), so a redo after a crash or a failed
        write merges the very same inputs again; `migrated_from` in the new group.json
        says the merge is done."""
        old_dir, new_dir = self.chat_dir(old_id), self.chat_dir(new_id)
        self._mark_moved(old_id, new_id)
        current = self._read_group_dir(new_dir, new_id)[0]
        if current is not None and old_id in current.migrated_from:
            return f"already moved; the old files are kept in {old_dir.name}/"
        before = self.root / f"{new_id}.before-migration-from-{old_id}"
        source = before if before.exists() else new_dir
        old_book, old_tracks = self._read_group_dir(old_dir, old_id)
        new_book, new_tracks = self._read_group_dir(source, new_id)
        merged, tracks = merge(old_book, new_book, old_tracks, new_tracks)
        staging = self.root / f".{new_id}.migrating-from-{old_id}"
        shutil.rmtree(staging, ignore_errors=True)
        os.mkdir(staging, 0o700)
        for user_id, track_list in tracks.items():
            write_durably(staging / f"{user_id}.json", encode(track_list))
        write_durably(staging / model.GROUP_FILE, encode(merged))
        if new_dir.exists():
            os.rename(new_dir, _free_name(before))
        os.rename(staging, new_dir)
        fsync_dir(self.root)
        return f"moved; the old files are kept in {old_dir.name}/"

    def _mark_moved(self, old_id: int, new_id: int) -> None:
        marker = self.chat_dir(old_id) / MOVED_FILE
        if marker.exists():
            return
        _ensure_dir(marker.parent)
        body = {"group_id": old_id, "migrated_to": new_id, "at": int(time.time())}
        write_durably(marker, orjson.dumps(body, option=orjson.OPT_INDENT_2))

    def _read_group_dir(
        self, directory: Path, group_id: int
    ) -> tuple[GroupBook | None, dict[int, TrackList]]:
        book = self.read_sync(FileKey.group(group_id), directory).doc
        tracks: dict[int, TrackList] = {}
        names = os.listdir(directory) if directory.is_dir() else []
        for name in sorted(names):
            key = FileKey(group_id, name)
            if key.tracking_user_id is None:
                continue
            doc = self.read_sync(key, directory).doc
            if isinstance(doc, TrackList):
                tracks[doc.user_id] = doc
        return (book if isinstance(book, GroupBook) else None), tracks


def remove_temp_files_of(path: Path) -> list[str]:
    """Remove the temp files a crash left while `path` was being written (for the bot's
    own files beside the chats' directories); returns their names."""
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return _remove_temp_files(path.parent, [n for n in names if n.startswith(f".{path.name}.")])


def _remove_temp_files(directory: Path, names: list[str]) -> list[str]:
    removed = [n for n in names if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    for name in removed:
        _unlink_quietly(directory / name)
    return removed


def read_moved_to(directory: Path) -> int:
    """The id a group's directory says its group moved to (its migrated.json); OSError or
    ValueError when that cannot be read."""
    obj = json.loads((directory / MOVED_FILE).read_bytes())
    new_id = obj.get("migrated_to") if isinstance(obj, dict) else None
    if not isinstance(new_id, int) or isinstance(new_id, bool) or str(new_id) == directory.name:
        raise ValueError(f"migrated_to is not another chat's id: {new_id!r}")
    return new_id


def _read_regular_file(path: Path) -> bytes | None:
    """The file's bytes, or None if the name holds something else (a directory, a FIFO,
    a symlink): set aside like a damaged file, never opened for reading, which for a
    FIFO would block forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:  # a symlink
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _parse(key: FileKey, raw: bytes | None) -> Doc:
    if raw is None:
        raise DamagedFile("not a regular file")
    doc = model.load(key, raw)
    _check_writable(doc)
    return doc


def _check_writable(doc: Doc) -> None:
    """A value the model accepts but the writer refuses (an integer beyond 64 bits) would
    make every later write of the chat fail: such a file is damaged."""
    try:
        encode(doc)
    except (TypeError, ValueError) as e:  # orjson.JSONEncodeError is a TypeError
        raise DamagedFile(f"holds a value that cannot be written back: {e}") from e


async def in_thread(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` in one hop to aiofiles' thread pool."""
    return await aiofiles.os.wrap(func)(*args, **kwargs)


def write_durably(path: Path, data: bytes) -> None:
    """Temp file beside the target, write, fsync, rename over it, fsync the directory.
    A crash at any instant leaves the old file or the new one, never a torn one; an
    error at any step leaves the old file in place and no temp file behind."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
    backup = tmp.with_name(f"{tmp.name.removesuffix(TEMP_SUFFIX)}.old{TEMP_SUFFIX}")
    has_backup = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # Keep the old version reachable until the rename is known to be durable.
        # (A crash leaves this as a temp file, removed on the chat's next use.)
        try:
            os.link(path, backup)
            has_backup = True
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        if has_backup:
            _unlink_quietly(backup)
        raise
    try:
        fsync_dir(path.parent)
    except OSError:
        # The rename may not survive a power cut, and the caller will be told the
        # write failed: put the old file back so disk and memory agree.
        if has_backup:
            os.replace(backup, path)
        else:
            _unlink_quietly(path)
        with contextlib.suppress(OSError):
            fsync_dir(path.parent)
        raise
    if has_backup:
        _unlink_quietly(backup)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(path: Path) -> Path:
    """Rename a damaged file to `<name>.damaged-<time>` without overwriting anything."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = _free_name(path.with_name(f"{path.name}{DAMAGED_INFIX}{stamp}"))
    if path.is_dir() and not path.is_symlink():
        os.rename(path, target)  # a directory cannot be hard-linked; the name is free
    else:
        # link + unlink instead of rename: link refuses to replace an existing name.
        os.link(path, target, follow_symlinks=False)
        os.unlink(path)
    fsync_dir(path.parent)
    return target


def _free_name(wanted: Path) -> Path:
    candidate, n = wanted, 1
    while candidate.exists():
        n += 1
        candidate = wanted.with_name(f"{wanted.name}.{n}")
    return candidate


def _ensure_dir(path: Path) -> None:
    if path.is_dir():
        return
    _ensure_dir_tree(path)


def _ensure_dir_tree(path: Path) -> None:
    if not path.parent.is_dir():
        _ensure_dir_tree(path.parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    fsync_dir(path.parent)  # the new directory's entry must survive a power cut too


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            log.warning("could not remove temp file %s: %s", path, e)
