"""Chat files on disk: paths, atomic durable writes, damaged files set aside.

Each public method is one thread hop (`aiofiles.os.wrap` of a synchronous function):
a durable write is several blocking calls, and doing them in one hop costs about
half of doing them step by step (see bench/). Only the chat's worker calls these for
its chat, so no two writes to one file ever overlap.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import aiofiles.os

from jigaido import model
from jigaido.errors import DamagedFile, NotSaved
from jigaido.model import Doc, FileKey

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

TEMP_SUFFIX = ".tmp"
DAMAGED_INFIX = ".damaged-"


@dataclass(frozen=True, slots=True)
class Loaded:
    doc: Doc | None  # None: no such file (or it was damaged and set aside)
    set_aside: str | None = None  # the name a damaged file now has
    reason: str | None = None


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def chat_dir(self, chat_id: int) -> Path:
        return self.root / str(chat_id)

    def path(self, key: FileKey) -> Path:
        return self.chat_dir(key.chat_id) / key.name

    async def open_chat(self, chat_id: int) -> list[str]:
        """Remove temp files a crash left in the chat's directory; returns their names."""
        return await _run(_clean_temp_files, self.chat_dir(chat_id))

    async def read(self, key: FileKey) -> Loaded:
        return await _run(self.read_sync, key)

    def read_sync(self, key: FileKey) -> Loaded:
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return Loaded(None)
        try:
            return Loaded(model.load(key, raw))
        except DamagedFile as e:
            aside = set_aside(path)
            log.error(
                "chat %s: %s is damaged (%s); set aside as %s", key.chat_id, key.name, e, aside.name
            )
            return Loaded(None, aside.name, str(e))

    async def write(self, key: FileKey, doc: Doc) -> None:
        """Replace the file durably with `doc`, or raise NotSaved with the old file intact."""
        await _run(self.write_sync, key, doc)

    def write_sync(self, key: FileKey, doc: Doc) -> None:
        path = self.path(key)
        try:
            _ensure_dir(path.parent)
            write_durably(path, model.dump(doc))
        except OSError as e:
            raise NotSaved(f"{path}: {e.strerror or e}") from e

    async def list_tracking(self, chat_id: int) -> list[FileKey]:
        return await _run(self.list_tracking_sync, chat_id)

    def list_tracking_sync(self, chat_id: int) -> list[FileKey]:
        try:
            names = os.listdir(self.chat_dir(chat_id))
        except FileNotFoundError:
            return []
        keys = [FileKey(chat_id, n) for n in names]
        return sorted(k for k in keys if k.tracking_user_id is not None)

    async def retire_dir(self, chat_id: int, why: str) -> str | None:
        """Rename a chat's directory out of the way (kept, never deleted)."""
        return await _run(self.retire_dir_sync, chat_id, why)

    def retire_dir_sync(self, chat_id: int, why: str) -> str | None:
        src = self.chat_dir(chat_id)
        if not src.exists():
            return None
        dst = _free_name(self.root / f"{chat_id}.{why}")
        os.rename(src, dst)
        fsync_dir(self.root)
        return dst.name


async def _run(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    return await aiofiles.os.wrap(func)(*args, **kwargs)


def write_durably(path: Path, data: bytes) -> None:
    """Temp file beside the target, write, fsync, rename over it, fsync the directory.
    A crash at any instant leaves the old file or the new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


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
    # link + unlink instead of rename: link refuses to replace an existing name.
    os.link(path, target)
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


def _clean_temp_files(directory: Path) -> list[str]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    removed = [n for n in names if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    for name in removed:
        _unlink_quietly(str(directory / name))
    return removed


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            log.warning("could not remove temp file %s: %s", path, e)
