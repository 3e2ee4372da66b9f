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
from typing import Any

import anyio
import pytest

from jigaido.core import commands
from jigaido.core.commands import MIGRATE, Request
from jigaido.core.model import Doc, FileKey
from jigaido.shell import store as store_module
from jigaido.shell.held import Held
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import NOT_SAVED, Pool
from jigaido.shell.store import Merge, Store

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
    await (await pool.submit(req(1, "start"))).done
    flushes = pool.flushes
    futures = [(await pool.submit(req(10 + i, "add", f"task {i}"))).done for i in range(100)]
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
    done = (await pool.submit(req(1, "add", "x"))).done
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
    await (await pool.submit(req(1, "add", "kept"))).done
    path = tmp_path / "data" / str(GROUP) / "group.json"
    before = path.read_bytes()

    real = getattr(os, step)

    def failing(*args: object) -> object:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(store_module.os, step, failing)
    futures = [(await pool.submit(req(2 + i, "add", f"lost {i}"))).done for i in range(3)]
    with anyio.fail_after(10):
        await asyncio.gather(*futures)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["group.json"]  # no temp file left
    assert [text for _, text, _, _ in recorder.sent[1:]] == [NOT_SAVED] * 3

    monkeypatch.setattr(store_module.os, step, real)
    await (await pool.submit(req(9, "add", "after"))).done
    await (await pool.submit(req(10, "bounty"))).done
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
    await (await pool.submit(req(5, "add", "once"))).done
    await pool.close()
    pool = make_pool(tmp_path, recorder)  # a new process: state from disk only
    await (await pool.submit(req(5, "add", "once"))).done
    book = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert [b["text"] for b in book["bounties"]] == ["once"]
    assert recorder.sent[0][1] == recorder.sent[1][1]
    await pool.close()


async def test_a_redelivered_no_op_stays_a_no_op_after_a_later_change(tmp_path: Path) -> None:
    """/track 1 when already tracking changes nothing; /untrack 1 after it does. Both
    delivered again (a crash before Telegram was told): the /track is answered as it was,
    in its place, not applied now after the /untrack (found by the crash load)."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    for update in (req(1, "add", "x"), req(2, "track", "1"), req(3, "track", "1")):
        await (await pool.submit(update)).done
    await (await pool.submit(req(4, "untrack", "1"))).done
    await pool.close()
    pool = make_pool(tmp_path, recorder)  # a new process: state from disk only
    for update in (req(3, "track", "1"), req(4, "untrack", "1")):
        await (await pool.submit(update)).done
    await pool.close()
    tracks = json.loads((tmp_path / "data" / str(GROUP) / "7.json").read_text())
    assert tracks["tracked"] == []
    texts = [text for _, text, _, _ in recorder.sent]
    assert texts[2] == texts[4] == "You already track <b>#1</b>."
    assert texts[3] == texts[5]


async def test_idle_worker_stops_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """A worker idle past the timeout stops; the next command starts a fresh one from disk."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder, idle_seconds=0.05)
    await (await pool.submit(req(1, "add", "a"))).done
    await (await pool.submit(req(2, "add", "b", chat=GROUP - 1))).done
    await eventually(lambda: pool.active == 0)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("chat:", "send:"))]
    await (await pool.submit(req(3, "bounty"))).done
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
            await (await submit).done
    assert len(recorder.sent) == 8
    await pool.close()


async def test_close_finishes_what_was_taken(tmp_path: Path) -> None:
    """Closing the pool processes and answers everything already queued."""
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    futures = [
        (await pool.submit(req(i, "add", f"t{i}", chat=GROUP - i % 3))).done for i in range(30)
    ]
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
    futures = [(await pool.submit(req(i, "add", f"t{i}"))).done for i in range(5)]
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
        futures.append((await pool.submit(req(i, "add", f"t{i}", chat=GROUP - i))).done)
        assert pool.active <= 3
    with anyio.fail_after(10):
        await asyncio.gather(*futures)
    assert len(recorder.sent) == 20
    await pool.close()


# --- nothing stuck: a failure or a hang at any step of a worker ----------------------

OTHER = -2002


class FaultyStore(Store):
    """Real files, with a fault injected into one store call for one chat: it raises (a
    bug, not an OSError the store would turn into "not saved") or hangs until released."""

    def __init__(self, root: Path, step: str, chat_id: int, mode: str) -> None:
        super().__init__(root)
        self.step, self.chat_id, self.mode = step, chat_id, mode
        self.release = asyncio.Event()
        self.active = True

    async def _fault(self, step: str, chat_id: int) -> None:
        if self.active and step == self.step and chat_id == self.chat_id:
            if self.mode == "hang":
                await self.release.wait()
            else:
                raise RuntimeError(f"injected into {step}")

    async def open_chat(self, chat_id: int) -> Any:
        await self._fault("open_chat", chat_id)
        return await super().open_chat(chat_id)

    async def read(self, key: FileKey) -> Any:
        await self._fault("read", key.chat_id)
        return await super().read(key)

    async def write(self, key: FileKey, doc: Doc) -> None:
        await self._fault("write", key.chat_id)
        await super().write(key, doc)

    async def migrate(self, old_id: int, new_id: int, merge: Merge) -> str:
        await self._fault("migrate", new_id)
        return await super().migrate(old_id, new_id, merge)


class FaultySend(Recorder):
    def __init__(self, chat_id: int, mode: str) -> None:
        super().__init__()
        self.chat_id, self.mode = chat_id, mode
        self.release = asyncio.Event()
        self.active = True

    async def __call__(
        self, chat_id: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        if self.active and chat_id == self.chat_id:
            if self.mode == "hang":
                await self.release.wait()
            else:
                raise RuntimeError("injected into send")
        await super().__call__(chat_id, text, reply_to, thread)


STEPS = ["open_chat", "read", "write", "send", "execute"]


@pytest.mark.parametrize("step", STEPS)
async def test_a_failing_step_resolves_every_job_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """An unexpected exception at any step of one chat's worker (load, apply, flush,
    send) leaves no job unresolved and no worker dead: that chat gets an answer, other
    chats are served, and once the fault is gone the chat works as before."""
    recorder: Recorder = FaultySend(GROUP, "raise") if step == "send" else Recorder()
    store: Store = FaultyStore(tmp_path / "data", step, GROUP, "raise")
    if step in ("send", "execute"):
        store = Store(tmp_path / "data")
    if step == "execute":
        real = commands.execute

        def failing(request: Request, *args: Any) -> Any:
            if request.chat_id == GROUP:
                raise RuntimeError("injected into execute")
            return real(request, *args)

        monkeypatch.setattr(commands, "execute", failing)
    pool = Pool(store, Outbox(recorder), tz=UTC)
    jobs = [await pool.submit(req(1 + i, "add", f"t{i}")) for i in range(3)]
    others = [await pool.submit(req(10 + i, "add", f"o{i}", chat=OTHER)) for i in range(3)]
    with anyio.fail_after(5):
        await asyncio.gather(*(j.done for j in jobs + others))
    assert [t for c, t, _, _ in recorder.sent if c == OTHER] == [
        f"✅ Added <b>#{i + 1}</b>: o{i}" for i in range(3)
    ]
    if step != "send":
        answers = [t for c, t, _, _ in recorder.sent if c == GROUP]
        assert len(answers) == 3, answers
        assert all(a.startswith("⚠️") for a in answers), answers

    monkeypatch.undo()
    if isinstance(store, FaultyStore):
        store.active = False
    if isinstance(recorder, FaultySend):
        recorder.active = False
    with anyio.fail_after(5):
        await (await pool.submit(req(20, "add", "after"))).done
        await (await pool.submit(req(21, "bounty"))).done
    listing = recorder.sent[-1][1]
    assert "after" in listing
    assert all(f"t{i}" not in listing for i in range(3)) or step == "send"
    await pool.close()


@pytest.mark.parametrize("step", ["open_chat", "read", "write", "send"])
async def test_a_hanging_step_holds_only_its_chat(tmp_path: Path, step: str) -> None:
    """A store call or a send that never returns holds up its own chat only: other chats
    are answered meanwhile, and once it returns the chat's jobs all resolve."""
    if step == "send":
        recorder: Recorder = FaultySend(GROUP, "hang")
        store: Store = Store(tmp_path / "data")
        release = recorder.release  # type: ignore[attr-defined]
    else:
        recorder = Recorder()
        store = FaultyStore(tmp_path / "data", step, GROUP, "hang")
        release = store.release  # type: ignore[attr-defined]
    pool = Pool(store, Outbox(recorder), tz=UTC)
    stuck = [await pool.submit(req(1 + i, "add", f"t{i}")) for i in range(3)]
    others = [await pool.submit(req(10 + i, "add", f"o{i}", chat=OTHER - i)) for i in range(5)]
    with anyio.fail_after(5):
        await asyncio.gather(*(j.done for j in others))
    assert not any(j.done.done() for j in stuck)
    release.set()
    with anyio.fail_after(5):
        results = await asyncio.gather(*(j.done for j in stuck))
    assert all(results)
    await pool.close()


async def test_a_failing_migration_is_retried_and_its_job_waits(tmp_path: Path) -> None:
    """A migration that fails leaves its job unresolved (its update must not be confirmed
    as done); the next command for the new id tries again, and once it succeeds the job
    resolves and the old group's bounties are under the new id."""
    new = GROUP - 1_000_000
    store = FaultyStore(tmp_path / "data", "migrate", new, "raise")
    recorder = Recorder()
    pool = Pool(store, Outbox(recorder), tz=UTC)
    await (await pool.submit(req(1, "add", "old one"))).done
    migration = await pool.submit(Request(2, new, "group", None, 2, MIGRATE, str(GROUP)))
    await (await pool.submit(req(3, "add", "raced", chat=new))).done
    assert not migration.done.done()
    store.active = False
    with anyio.fail_after(5):
        await (await pool.submit(req(4, "bounty", chat=new))).done
        assert await migration.done
    listing = recorder.sent[-1][1]
    assert "old one" in listing
    assert "raced" in listing
    await pool.close()


async def test_a_migration_still_failing_at_close_is_not_done(tmp_path: Path) -> None:
    """A migration that never succeeded resolves False at close: not done, so its update
    is held or redelivered, never confirmed as done."""
    new = GROUP - 1_000_000
    pool = Pool(FaultyStore(tmp_path / "data", "migrate", new, "raise"), Outbox(Recorder()), tz=UTC)
    migration = await pool.submit(Request(2, new, "group", None, 2, MIGRATE, str(GROUP)))
    await eventually(lambda: bool(pool._unfinished))
    await pool.close()
    assert migration.done.result() is False


async def test_commands_for_a_moved_group_go_to_its_new_id_after_a_restart(
    tmp_path: Path,
) -> None:
    """The disk routes a migrated group: after a restart (a new pool, nothing in memory)
    a redelivered command of the old id goes to the new id and, already applied there by
    the merge of its records, is answered again and not applied twice."""
    new = GROUP - 1_000_000
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    await (await pool.submit(req(1, "add", "before the move"))).done
    await (await pool.submit(req(2, "track", "1"))).done
    await (await pool.submit(Request(3, new, "group", None, 3, MIGRATE, str(GROUP)))).done
    await pool.close()

    pool = make_pool(tmp_path, recorder)  # a new process
    await (await pool.submit(req(1, "add", "before the move"))).done  # redelivered
    await (await pool.submit(req(2, "track", "1"))).done  # redelivered
    await (await pool.submit(req(4, "add", "after the move"))).done
    await pool.close()
    book = json.loads((tmp_path / "data" / str(new) / "group.json").read_text())
    assert [b["text"] for b in book["bounties"]] == ["before the move", "after the move"]
    tracks = json.loads((tmp_path / "data" / str(new) / "7.json").read_text())
    assert tracks["tracked"] == [1]
    old = json.loads((tmp_path / "data" / str(GROUP) / "group.json").read_text())
    assert [b["text"] for b in old["bounties"]] == ["before the move"]  # untouched copy
    assert recorder.sent[-3][1] == recorder.sent[0][1]  # the same answer again
    assert recorder.sent[-2][1] == recorder.sent[1][1]


async def test_a_value_the_writer_refuses_is_a_damaged_file(tmp_path: Path) -> None:
    """A group.json whose next_id is 2**64 (it parses, the encoder refuses it) does not
    kill the worker at its next write: the chat is told the file was damaged and set
    aside, the command is applied to a fresh file, and the chat goes on."""
    directory = tmp_path / "data" / str(GROUP)
    directory.mkdir(parents=True)
    (directory / "group.json").write_text(
        json.dumps({"group_id": GROUP, "next_id": 2**64, "bounties": []})
    )
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    with anyio.fail_after(5):
        await (await pool.submit(req(1, "add", "first"))).done
        await (await pool.submit(req(2, "add", "second"))).done
    notice, first, second = (t for _, t, _, _ in recorder.sent)
    assert "damaged" in notice
    assert "group.json.damaged-" in notice
    assert first == "✅ Added <b>#1</b>: first"
    assert second == "✅ Added <b>#2</b>: second"
    await pool.close()


async def test_a_not_saved_answer_stays_true_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fails before a tracking file's fsync: the user is told "Not saved", the
    refusal is recorded (held-updates.json), and after a crash (a new pool, nothing in
    memory) the redelivered update is answered "Not saved" again, not applied; a new
    command then works."""
    data = tmp_path / "data"
    recorder = Recorder()
    pool = make_pool(tmp_path, recorder)
    pool.verdicts = Held(data)
    await (await pool.submit(req(1, "add", "a bounty"))).done

    real_fsync = store_module.os.fsync
    calls = 0

    def fsync_fails_once(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(store_module.os, "fsync", fsync_fails_once)
    await (await pool.submit(req(2, "track", "1"))).done
    monkeypatch.undo()
    assert recorder.sent[-1][1] == NOT_SAVED
    assert not (data / str(GROUP) / "7.json").exists()
    # Crash: no close, nothing in memory survives.

    again = make_pool(tmp_path, recorder)
    held = Held(data)
    assert held.load() == []  # a refusal is answered, not to be applied again
    again.verdicts = held
    await (await again.submit(req(2, "track", "1"))).done  # redelivered
    assert recorder.sent[-1][1] == NOT_SAVED
    assert not (data / str(GROUP) / "7.json").exists()
    await (await again.submit(req(3, "track", "1"))).done  # the user tries again
    assert recorder.sent[-1][1].startswith("👀 You now track <b>#1</b>")
    await again.close()
