"""Disk faults at every step of a durable write, once and persistently: the old file
stays, no temp file is left, the user hears it was not saved, memory matches the disk,
and the chat works again once the fault clears. Faults are injected into the OS calls
the store makes (its `os` module), plus one real full filesystem."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from jigaido.core.commands import Request
from jigaido.shell import store as store_module
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import NOT_SAVED, Pool
from jigaido.shell.store import Store

GROUP = -1001


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(
        self, chat: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        self.texts.append(text)


@dataclass
class FaultyOS:
    """The `os` module, but the chosen step of a durable write fails with `code`."""

    step: str
    code: int
    persistent: bool
    fired: int = 0
    written: list[int] = field(default_factory=list)  # bytes per os.write call
    _fsyncs: int = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _maybe_fail(self, step: str) -> None:
        if step == self.step and (self.persistent or self.fired == 0):
            self.fired += 1
            raise OSError(self.code, os.strerror(self.code))

    def open(self, path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_CREAT:
            self._maybe_fail("create")
        return os.open(path, flags, *args)

    def write(self, fd: int, data: Any) -> int:
        self._maybe_fail("write")
        n = os.write(fd, data)
        self.written.append(n)
        return n

    def fsync(self, fd: int) -> None:
        # A durable write fsyncs the file, then the directory.
        is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
        self._maybe_fail("fsync-dir" if is_dir else "fsync-file")
        os.fsync(fd)

    def replace(self, src: Any, dst: Any) -> None:
        if str(src).endswith(".tmp") and not str(src).endswith(".old.tmp"):
            self._maybe_fail("rename")
        os.replace(src, dst)


STEPS = ["create", "write", "fsync-file", "rename", "fsync-dir"]


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Callable[[FaultyOS | None], None]:
    def use(fake: FaultyOS | None) -> None:
        monkeypatch.setattr(store_module, "os", fake if fake is not None else os)

    return use


def req(update_id: int, command: str, args: str = "") -> Request:
    return Request(update_id, GROUP, "group", 7, update_id, command, args)


async def run(pool: Pool, *requests: Request) -> None:
    futures = [(await pool.submit(r)).done for r in requests]
    await asyncio.gather(*futures)


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[tuple[Pool, Recorder]]:
    recorder = Recorder()
    pool = Pool(Store(tmp_path / "data"), Outbox(recorder), tz=UTC)
    yield pool, recorder
    await pool.close()


def files(tmp_path: Path) -> list[str]:
    return sorted(os.listdir(tmp_path / "data" / str(GROUP)))


@pytest.mark.parametrize("persistent", [False, True], ids=["once", "persistent"])
@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC], ids=["EIO", "ENOSPC"])
@pytest.mark.parametrize("step", STEPS)
async def test_fault_at_each_step(
    pool: tuple[Pool, Recorder],
    tmp_path: Path,
    faulty: Callable[[FaultyOS | None], None],
    step: str,
    code: int,
    persistent: bool,
) -> None:
    """A failed write keeps the old file and tells the user; the chat recovers after."""
    p, recorder = pool
    await run(p, req(1, "add", "kept"))
    path = tmp_path / "data" / str(GROUP) / "group.json"
    old = path.read_bytes()

    fake = FaultyOS(step, code, persistent)
    faulty(fake)
    await run(p, req(2, "add", "lost"))
    assert fake.fired >= 1
    assert recorder.texts[-1] == NOT_SAVED
    assert path.read_bytes() == old
    assert files(tmp_path) == ["group.json"]  # no temp file, no backup left
    if persistent:
        await run(p, req(3, "add", "lost too"))
        assert recorder.texts[-1] == NOT_SAVED
        assert path.read_bytes() == old

    # Memory went back to the disk: a listing shows only what is saved.
    await run(p, req(4, "bounty"))
    assert "kept" in recorder.texts[-1]
    assert "lost" not in recorder.texts[-1]

    faulty(None)
    await run(p, req(5, "add", "after"))
    book = json.loads(path.read_text())
    assert [(b["id"], b["text"]) for b in book["bounties"]] == [(1, "kept"), (2, "after")]
    assert files(tmp_path) == ["group.json"]


async def test_after_failed_fsync_the_whole_state_is_written_afresh(
    pool: tuple[Pool, Recorder], tmp_path: Path, faulty: Callable[[FaultyOS | None], None]
) -> None:
    """After an fsync failure the next attempt writes a new temp file with all the bytes,
    never trusting the pages of the failed one."""
    p, recorder = pool
    await run(p, req(1, "add", "kept"))
    fake = FaultyOS("fsync-file", errno.EIO, persistent=False)
    faulty(fake)
    await run(p, req(2, "add", "first try"))
    assert recorder.texts[-1] == NOT_SAVED
    fake.written.clear()
    await run(p, req(3, "add", "second try"))
    path = tmp_path / "data" / str(GROUP) / "group.json"
    assert sum(fake.written) == len(path.read_bytes())
    assert [b["text"] for b in json.loads(path.read_text())["bounties"]] == ["kept", "second try"]


async def test_batch_with_a_transient_fault_is_retried_command_by_command(
    pool: tuple[Pool, Recorder], tmp_path: Path, faulty: Callable[[FaultyOS | None], None]
) -> None:
    """When a group commit fails once, each command is retried on its own and saved."""
    p, recorder = pool
    await run(p, req(1, "start"))
    faulty(FaultyOS("rename", errno.EIO, persistent=False))
    await run(p, *(req(10 + i, "add", f"t{i}") for i in range(20)))
    book = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert [b["text"] for b in book["bounties"]] == [f"t{i}" for i in range(20)]
    assert NOT_SAVED not in recorder.texts


def _fill(path: Path) -> int | None:
    """Write zeros until the filesystem refuses; returns the errno it refused with."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "needs root and mount(8) to create a small tmpfs"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    reason = _mount_tmpfs(mount, "256k")
    if reason is not None:
        pytest.skip(f"no real full filesystem here: {reason}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


async def test_real_full_filesystem(small_fs: Path) -> None:
    """On a really full filesystem the command is refused as not saved, the old file
    stays whole, and after space is freed the chat works again."""
    recorder = Recorder()
    pool = Pool(Store(small_fs / "data"), Outbox(recorder), tz=UTC)
    try:
        await run(pool, req(1, "add", "kept"))
        path = small_fs / "data" / str(GROUP) / "group.json"
        old = path.read_bytes()
        filler = small_fs / "filler"
        assert _fill(filler) == errno.ENOSPC
        await run(pool, req(2, "add", "x" * 900))
        assert recorder.texts[-1] == NOT_SAVED
        assert path.read_bytes() == old
        assert sorted(os.listdir(path.parent)) == ["group.json"]
        filler.unlink()
        await run(pool, req(3, "add", "after"))
        book = json.loads(path.read_text())
        assert [b["text"] for b in book["bounties"]] == ["kept", "after"]
    finally:
        await pool.close()
