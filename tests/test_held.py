"""Updates held on disk so they can be confirmed before they are finished (held.py):
what is written, what leaves the file, and what the next start gets back."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path

import pytest

from jigaido.core.commands import Request
from jigaido.shell import store as store_module
from jigaido.shell.held import HELD_FILE, KEEP_SECONDS, Held
from jigaido.shell.pool import Job

NOW = 1_800_000_000


def job(update_id: int) -> Job:
    request = Request(update_id, -1001, "group", 5, update_id, "add", f"task {update_id}", 3, "Ann")
    return Job(request, asyncio.get_running_loop().create_future())


def on_disk(root: Path) -> list[int]:
    body = json.loads((root / HELD_FILE).read_text())
    return [entry["request"]["update_id"] for entry in body["held"]]


async def test_held_requests_are_on_disk_and_come_back_whole(tmp_path: Path) -> None:
    """hold() writes every request before it returns True; a new process loads them as
    they were, and their ids are the ones whose dedupe records must stay."""
    held = Held(tmp_path, clock=lambda: NOW)
    jobs = [job(1), job(2)]
    assert await held.hold(jobs)
    assert on_disk(tmp_path) == [1, 2]
    assert held.ids == {1, 2}
    assert os.stat(tmp_path / HELD_FILE).st_mode & 0o777 == 0o600
    again = Held(tmp_path, clock=lambda: NOW + 5)
    assert again.load() == [j.request for j in jobs]
    assert again.ids == {1, 2}


async def test_finished_requests_leave_the_file_and_abandoned_ones_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose job finishes leaves the file soon after (the file goes when
    empty); one the pool gave up on (False) stays for the next start."""
    monkeypatch.setattr("jigaido.shell.held.TIDY_DELAY", 0.01)
    held = Held(tmp_path, clock=lambda: NOW)
    first, second = job(1), job(2)
    await held.hold([first, second])
    first.done.set_result(True)
    second.done.set_result(False)
    await asyncio.sleep(0.1)
    assert on_disk(tmp_path) == [2]
    assert held.ids == {2}
    await held.close()
    assert on_disk(tmp_path) == [2]
    resumed = Held(tmp_path, clock=lambda: NOW)
    [request] = resumed.load()
    again = Job(request, asyncio.get_running_loop().create_future())
    resumed.watch(again)
    again.done.set_result(True)
    await resumed.close()
    assert not (tmp_path / HELD_FILE).exists()
    assert resumed.ids == frozenset()


async def test_a_disk_fault_refuses_the_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the write fails, hold() says so (the updates must then stay unconfirmed) and
    the ids on disk are unchanged."""
    held = Held(tmp_path, clock=lambda: NOW)
    await held.hold([job(1)])

    def failing(*args: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(store_module.os, "fsync", failing)
    assert not await held.hold([job(2)])
    monkeypatch.undo()
    assert held.ids == {1}
    assert on_disk(tmp_path) == [1]


async def test_requests_held_too_long_are_not_applied_again(tmp_path: Path) -> None:
    """A request held longer than its dedupe records are kept is dropped at load (it
    could otherwise be applied twice), with an error logged."""
    held = Held(tmp_path, clock=lambda: NOW)
    await held.hold([job(1)])
    later = Held(tmp_path, clock=lambda: NOW + KEEP_SECONDS)
    assert later.load() == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"held": {}}', b'{"held": [{"at": 1}]}',
     b'{"held": [{"at": 1, "request": {"update_id": true}}]}'],
)  # fmt: skip
def test_a_damaged_file_is_set_aside(tmp_path: Path, raw: bytes) -> None:
    """A file that does not parse is set aside with its bytes, and nothing is resubmitted."""
    (tmp_path / HELD_FILE).write_bytes(raw)
    assert Held(tmp_path).load() == []
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(f"{HELD_FILE}.damaged-")]
    assert aside.read_bytes() == raw
