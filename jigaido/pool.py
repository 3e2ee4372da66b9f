"""One asyncio worker per chat id, fed by a bounded queue.

A worker owns its chat's files: it takes every request that is waiting (a batch),
applies them to its in-memory state, writes each changed file once (group commit),
and only then hands the answers to the outbox. A request's future resolves once its
effect is durable and its answer has been sent; the poller confirms an update to
Telegram only then. An idle worker stops and its state goes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from jigaido import commands
from jigaido.commands import MIGRATE, Outcome, Request
from jigaido.errors import NotSaved
from jigaido.model import GROUP_FILE, USER_FILE, Doc, FileKey, prune_applied
from jigaido.outbox import Outbox, Reply, Ticket
from jigaido.render import escape
from jigaido.store import Store

log = logging.getLogger(__name__)

NOT_SAVED = "⚠️ Not saved: I could not write to my disk. Nothing changed; please try again later."
NOT_READ = "⚠️ I could not read this chat's data just now. Nothing changed; please try again later."
FAILED = "⚠️ Something went wrong with that command. Nothing changed."


@dataclass(frozen=True, slots=True)
class Job:
    request: Request
    done: asyncio.Future[None]  # set once the effect is durable and the answer is out


class _Stop:
    """Queue sentinel: finish what is queued before it, then stop."""


_STOP = _Stop()


class Pool:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        *,
        tz: tzinfo,
        idle_seconds: float = 300.0,
        queue_size: int = 1000,
        batch_max: int = 500,
        max_workers: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.tz = tz
        self.idle_seconds = idle_seconds
        self.queue_size = queue_size
        self.batch_max = batch_max
        self.max_workers = max_workers
        self.clock = clock
        # Updates below this offset are confirmed to Telegram and can never come back,
        # so their dedupe records may be dropped. The poller sets it.
        self.confirmed_below: int | None = None
        self.flushes = 0
        self._workers: dict[int, _Worker] = {}
        self._moved: dict[int, int] = {}  # migrated group id -> its new id
        self._closing = False
        self._room = asyncio.Event()  # a worker left or fell idle; replaced: a broadcast

    @property
    def active(self) -> int:
        return len(self._workers)

    @property
    def queued(self) -> int:
        return sum(w.queue.qsize() for w in self._workers.values())

    async def submit(self, request: Request) -> asyncio.Future[None]:
        """Queue `request` on its chat's worker; waits while that queue is full."""
        if self._closing:
            raise RuntimeError("the pool is closing")
        chat_id = self._moved.get(request.chat_id, request.chat_id)
        if chat_id != request.chat_id:
            # A command sent just before the group moved: it belongs to the new id now.
            request = dataclasses.replace(request, chat_id=chat_id)
        worker = self._workers.get(chat_id)
        while worker is None and len(self._workers) >= self.max_workers:
            await self._make_room()
            worker = self._workers.get(chat_id)
        if worker is None:
            worker = self._workers[chat_id] = _Worker(self, chat_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await worker.queue.put(Job(request, done))
        return done

    async def retire(self, chat_id: int, moved_to: int) -> None:
        """Route `chat_id` to `moved_to` from now on, after its worker has finished."""
        self._moved[chat_id] = moved_to
        worker = self._workers.get(chat_id)
        if worker is not None:
            await worker.stop()

    async def close(self, grace: float | None = None) -> None:
        """Let every worker finish what it has taken, then stop them all. Past `grace` seconds
        the rest is abandoned: it is on disk or not, and its updates are unconfirmed,
        so Telegram delivers them again and the dedupe records answer them."""
        self._closing = True
        workers = list(self._workers.values())
        if not workers:
            return
        stops = [asyncio.ensure_future(w.stop()) for w in workers]
        _, late = await asyncio.wait(stops, timeout=grace)
        if late:
            log.warning("stopping: gave up waiting for %d chats", len(late))
            for worker in workers:
                worker.cancel()
            for stop in late:
                stop.cancel()  # it may be waiting to queue its sentinel
            await asyncio.gather(*stops, return_exceptions=True)

    async def _make_room(self) -> None:
        """A burst from thousands of chats must not mean thousands of live workers:
        at the cap, an idle worker is stopped early, or else the caller waits for one
        to finish (which slows the poller down)."""
        idle = next((w for w in self._workers.values() if w.idle), None)
        if idle is not None:
            await idle.stop()
        else:
            await self._room.wait()

    def _room_made(self) -> None:
        self._room.set()
        self._room = asyncio.Event()

    def _forget(self, worker: _Worker) -> None:
        if self._workers.get(worker.chat_id) is worker:
            del self._workers[worker.chat_id]
            self._room_made()


class _Worker:
    def __init__(self, pool: Pool, chat_id: int) -> None:
        self.pool = pool
        self.chat_id = chat_id
        self.queue: asyncio.Queue[Job | _Stop] = asyncio.Queue(pool.queue_size)
        self.docs: dict[FileKey, Doc | None] = {}  # equal to the files on disk between batches
        self.notices: list[str] = []  # damaged-file notices owed to the chat
        self.opened = False
        self.sending: asyncio.Task[None] | None = None
        self.unsent = 0  # answers handed to the outbox and not yet out
        self.waiting = False  # blocked on its queue, nothing in hand
        self.task = asyncio.create_task(self.run(), name=f"chat:{chat_id}")

    async def stop(self) -> None:
        await self.queue.put(_STOP)
        await self.task

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in hand, every answer out: stopping it loses nothing."""
        return self.waiting and self.queue.empty() and self.unsent == 0

    def cancel(self) -> None:
        self.task.cancel()
        if self.sending is not None:
            self.sending.cancel()

    async def run(self) -> None:
        try:
            while True:
                try:
                    self.waiting = True
                    if self.idle:
                        self.pool._room_made()
                    first = await asyncio.wait_for(self.queue.get(), self.pool.idle_seconds)
                except TimeoutError:
                    if self.queue.empty():
                        # No await between this check and leaving the pool's table, so
                        # no request can slip into a queue nobody reads.
                        self.pool._forget(self)
                        break
                    continue
                finally:
                    self.waiting = False
                batch = [first]
                while len(batch) < self.pool.batch_max and not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                jobs = [j for j in batch if isinstance(j, Job)]
                if self.unsent >= self.pool.queue_size and self.sending is not None:
                    # Answers pile up faster than Telegram takes them: stop taking
                    # work, so the queue fills and the poller slows down.
                    await self.sending
                if jobs:
                    await self._handle(jobs)
                if any(isinstance(j, _Stop) for j in batch):
                    # Jobs queued behind a stop (a migration racing) go to whoever
                    # handles this chat id next.
                    self.pool._forget(self)
                    await self._hand_over()
                    break
        finally:
            self.pool._forget(self)
            if self.sending is not None:
                await self.sending

    async def _hand_over(self) -> None:
        left = [j for j in _drain(self.queue) if isinstance(j, Job)]
        if self.pool._closing:
            if left:
                await self._handle(left)
            return
        for job in left:
            moved = await self.pool.submit(job.request)
            moved.add_done_callback(functools.partial(_resolve_after, job))

    async def _handle(self, jobs: list[Job]) -> None:
        run: list[Job] = []
        for job in jobs:
            if job.request.command == MIGRATE:
                if run:
                    await self._process(run)
                    run = []
                await self._migrate(job)
            else:
                run.append(job)
        if run:
            await self._process(run)

    async def _process(self, jobs: list[Job]) -> None:
        """Group commit: apply all, write each changed file once, then answer."""
        now = int(self.pool.clock())
        before: dict[FileKey, Doc | None] = {}
        dirty: list[FileKey] = []
        answers: list[tuple[Job, tuple[str, ...]]] = []
        for job in jobs:
            outcome = await self._apply(job.request, now)
            for key, doc in outcome.changed.items():
                if key not in before:
                    before[key] = self.docs.get(key)
                    dirty.append(key)
                self.docs[key] = doc
            answers.append((job, outcome.messages))
        if not await self._flush(dirty, before, now):
            if len(jobs) > 1:
                # Fall back to one commit per command: each gets its own verdict, and
                # those already on disk are recognised by their dedupe record.
                for job in jobs:
                    await self._process([job])
                return
            answers = [(job, (NOT_SAVED,)) for job, _ in answers]
        self._send(answers)

    async def _apply(self, request: Request, now: int) -> Outcome:
        try:
            keys = commands.files_needed(request)
            for key in keys:
                if key not in self.docs:
                    await self._load(key)
            return commands.execute(request, {k: self.docs[k] for k in keys}, now, self.pool.tz)
        except OSError as e:
            log.error("chat %s: could not read its files: %s", self.chat_id, e)
            return Outcome((NOT_READ,))
        except Exception:
            log.exception("chat %s: /%s failed", self.chat_id, request.command)
            return Outcome((FAILED,))

    async def _load(self, key: FileKey) -> None:
        if not self.opened:
            removed = await self.pool.store.open_chat(self.chat_id)
            if removed:
                log.info("chat %s: removed temp files left by a crash: %s", self.chat_id, removed)
            self.opened = True
        loaded = await self.pool.store.read(key)
        self.docs[key] = loaded.doc
        if loaded.set_aside is not None:
            self.notices.append(
                f"⚠️ A data file of this chat was damaged ({escape(loaded.reason or '')}). "
                f"I set it aside as <code>{escape(loaded.set_aside)}</code> and started it "
                "afresh; the operator can recover it from there."
            )

    async def _flush(
        self, dirty: list[FileKey], before: dict[FileKey, Doc | None], now: int
    ) -> bool:
        # The bounty list first: a tracking file must not be saved pointing at a
        # bounty whose creation then failed to save.
        order = sorted(dirty, key=lambda k: (k.name not in (GROUP_FILE, USER_FILE), k))
        for i, key in enumerate(order):
            doc = self.docs[key]
            assert doc is not None
            doc = prune_applied(doc, now, self.pool.confirmed_below)
            try:
                await self.pool.store.write(key, doc)
            except NotSaved as e:
                log.error("chat %s: %s not saved: %s", self.chat_id, key.name, e)
                # Memory goes back to what is on disk; the next write starts afresh.
                for unsaved in order[i:]:
                    self.docs[unsaved] = before[unsaved]
                return False
            self.docs[key] = doc
            self.pool.flushes += 1
        return True

    def _send(self, answers: list[tuple[Job, tuple[str, ...]]]) -> None:
        if self.notices and answers:
            job, texts = answers[0]
            answers[0] = (job, (*self.notices, *texts))
            self.notices = []
        replies = [(job, self._reply(job.request, texts)) for job, texts in answers]
        self.unsent += len(replies)
        self.sending = asyncio.create_task(
            self._deliver(self.sending, replies), name=f"send:{self.chat_id}"
        )

    async def _deliver(
        self, previous: asyncio.Task[None] | None, replies: list[tuple[Job, Ticket]]
    ) -> None:
        """Send a batch's answers after the previous batch's, in order; resolve each job."""
        try:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            for job, ticket in replies:
                try:
                    await self.pool.outbox.deliver(ticket)
                except Exception:
                    log.exception("chat %s: sending an answer failed", self.chat_id)
                finally:
                    self.unsent -= 1
                    _resolve(job)
                    if self.idle:
                        self.pool._room_made()
        finally:
            for job, _ in replies:
                _resolve(job)

    def _reply(self, request: Request, texts: tuple[str, ...]) -> Ticket:
        in_group = request.kind == "group"
        # Posted now, before earlier answers are out, so the outbox can merge a burst.
        return self.pool.outbox.post(
            Reply(
                chat_id=self.chat_id,
                texts=texts,
                reply_to=request.message_id if in_group else None,
                thread_id=request.thread_id,
                command=request.command,
                user_name=request.user_name if in_group else None,
            )
        )

    async def _migrate(self, job: Job) -> None:
        """Move the old group's files under this (new) id; keep the old directory aside."""
        old_id, new_id = int(job.request.args), self.chat_id
        try:
            await self.pool.retire(old_id, new_id)
            merge = functools.partial(commands.migrate_group, old_id, new_id)
            result = await self.pool.store.migrate(old_id, new_id, merge)
            log.info("chat %s: migration from %s: %s", new_id, old_id, result)
        except (NotSaved, OSError) as e:
            log.error("chat %s: migration from %s failed: %s", new_id, old_id, e)
        finally:
            self.docs.clear()  # reloaded from disk on next use
            _resolve(job)


def _drain(queue: asyncio.Queue[Job | _Stop]) -> list[Job | _Stop]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _resolve_after(job: Job, _moved: asyncio.Future[None]) -> None:
    _resolve(job)


def _resolve(job: Job) -> None:
    if not job.done.done():
        job.done.set_result(None)
