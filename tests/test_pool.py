"""The per-chat workers: group commit, answers only after durable writes, rollback on a
failed write, idle stop and bounded queues. Real files in tmp_path; the only stand-in
is the face's send function, which records instead of calling Telegram."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import anyio
import pytest

from jigaido import store as store_module
from jigaido.commands import Request
from jigaido.outbox import Outbox
from jigaido.pool import NOT_SAVED, Pool
from jigaido.store import Store

GROUP = -1001


class Recorder:
    """The send function: records (chat_id, text, reply_to, thread) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, int | None, int | None]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(
        self, chat_id: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append((chat_id, text, reply_to, thread))


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait for a state the pool has no event for, with a hard deadline."""
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling a plain attribute, bounded
            await asyncio.sleep(0.005)


def make_pool(tmp_path: Path, recorder: Recorder, **kwargs: float) -> Pool:
    return Pool(Store(tmp_path / "data"), Outbox(recorder), tz=UTC, **kwargs)  # type: ignore[arg-type]


def req(
    update_id: int, command: str, args: str = "", *, chat: int = GROUP, user: int = 7
) -> Request:
    kind = "group" if chat < 0 else "private"
    return Request(update_id, chat, kind, user, update_id, command, args)


async def test_burst_is_one_flush_and_answers_follow_the_write(tmp_path: Path) -> None:
    """100 queued /add commands cost one write of group.json, and every answer comes after it."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    worker_started = await pool.submit(req(1, "start"))
    await worker_started
    flushes = pool.flushes
    futures = [await pool.submit(req(10 + i, "add", f"task {i}")) for i in range(100)]
    with anyio.fail_after(10):
        await asyncio.gather(*futures)
    assert pool.flushes - flushes == 1
    book = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert [b["text"] for b in book["bounties"]] == [f"task {i}" for i in range(100)]
    assert [b["id"] for b in book["bounties"]] == list(range(1, 101))
    answers = [text for _, text, _, _ in recorder.sent[1:]]
    assert answers == [f"✅ Added <b>#{i + 1}</b>: task {i}" for i in range(100)]
    await pool.close()


async def test_answer_waits_for_send_before_the_update_counts_as_done(tmp_path: Path) -> None:
    """An update is done only once its answer went out, not merely once it is on disk."""
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    pool = make_pool(tmp_path, recorder)
    done = await pool.submit(req(1, "add", "x"))
    await eventually((tmp_path / "data" / str(GROUP) / "group.json").exists)
    await asyncio.sleep(0.05)
    assert not done.done()
    recorder.gate.set()
    with anyio.fail_after(5):
        await done
    await pool.close()


@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC])
async def test_failed_write_is_rolled_back_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, code: int
) -> None:
    """A write that fails leaves the old file, tells the user, and the chat works once it clears."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    await (await pool.submit(req(1, "add", "kept")))
    path = tmp_path / "data" / str(GROUP) / "group.json"
    before = path.read_bytes()

    real = getattr(os, step)

    def failing(*args: object) -> object:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(store_module.os, step, failing)
    futures = [await pool.submit(req(2 + i, "add", f"lost {i}")) for i in range(3)]
    with anyio.fail_after(10):
        await asyncio.gather(*futures)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["group.json"]  # no temp file left
    assert [text for _, text, _, _ in recorder.sent[1:]] == [NOT_SAVED] * 3

    monkeypatch.setattr(store_module.os, step, real)
    await (await pool.submit(req(9, "add", "after")))
    await (await pool.submit(req(10, "bounty")))
    book = json.loads(path.read_text())
    assert [b["text"] for b in book["bounties"]] == ["kept", "after"]
    assert [b["id"] for b in book["bounties"]] == [1, 2]  # the unsaved ids were not burnt
    listing = recorder.sent[-1][1]
    assert "kept" in listing
    assert "after" in listing
    assert "lost" not in listing
    await pool.close()


async def test_redelivered_update_is_answered_again_not_applied_twice(tmp_path: Path) -> None:
    """The same update id twice (a redelivery after a crash) gives one bounty and two answers."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    await (await pool.submit(req(5, "add", "once")))
    await pool.close()
    pool = make_pool(tmp_path, recorder)  # a new process: state from disk only
    await (await pool.submit(req(5, "add", "once")))
    book = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert [b["text"] for b in book["bounties"]] == ["once"]
    assert recorder.sent[0][1] == recorder.sent[1][1]
    await pool.close()


async def test_idle_worker_stops_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """A worker idle past the timeout stops; the next command starts a fresh one from disk."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder, idle_seconds=0.05)
    await (await pool.submit(req(1, "add", "a")))
    await (await pool.submit(req(2, "add", "b", chat=GROUP - 1)))
    await eventually(lambda: pool.active == 0)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("chat:", "send:"))]
    await (await pool.submit(req(3, "bounty")))
    assert "<b>#1</b> a" in recorder.sent[-1][1]
    await pool.close()


async def test_full_queue_makes_submit_wait(tmp_path: Path) -> None:
    """While answers cannot go out, the worker stops taking work, its queue fills up and
    submitting waits: memory stays bounded by the queue size."""
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    pool = make_pool(tmp_path, recorder, queue_size=2, batch_max=1)
    submits = [asyncio.ensure_future(pool.submit(req(i, "add", f"t{i}"))) for i in range(8)]
    await eventually(lambda: pool.queued == 2 and pool._workers[GROUP].unsent == 2)
    await asyncio.sleep(0.05)  # give a wrongly unbounded queue the chance to take more
    assert pool.queued == 2
    # Two answered-but-unsent, one taken and held, two queued; the other three wait.
    assert sum(s.done() for s in submits) == 5
    recorder.gate.set()
    with anyio.fail_after(5):
        for submit in submits:
            await (await submit)
    assert len(recorder.sent) == 8
    await pool.close()


async def test_close_finishes_what_was_taken(tmp_path: Path) -> None:
    """Closing the pool processes and answers everything already queued."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    futures = [await pool.submit(req(i, "add", f"t{i}", chat=GROUP - i % 3)) for i in range(30)]
    with anyio.fail_after(10):
        await pool.close()
    assert all(f.done() for f in futures)
    assert len(recorder.sent) == 30
    assert pool.active == 0


async def test_close_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A send that never completes cannot hold the shutdown past close's timeout."""
    recorder = Recorder()
    recorder.gate = asyncio.Event()  # never set: Telegram does not answer
    pool = make_pool(tmp_path, recorder)
    futures = [await pool.submit(req(i, "add", f"t{i}")) for i in range(5)]
    with anyio.fail_after(3):
        await pool.close(grace=0.2)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("chat:", "send:"))]
    book = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert len(book["bounties"]) == 5  # on disk; unconfirmed, so redelivered and re-answered
    assert all(f.done() for f in futures)


async def test_live_workers_are_capped(tmp_path: Path) -> None:
    """A burst from more chats than the cap never has more live workers than the cap:
    idle ones are stopped early, busy ones are waited for; every command is answered."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder, max_workers=3)
    futures = []
    for i in range(20):
        futures.append(await pool.submit(req(i, "add", f"t{i}", chat=GROUP - i)))
        assert pool.active <= 3
    with anyio.fail_after(10):
        await asyncio.gather(*futures)
    assert len(recorder.sent) == 20
    await pool.close()
