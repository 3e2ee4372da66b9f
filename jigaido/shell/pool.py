"""One asyncio worker per chat id, fed by a bounded queue.

A worker owns its chat's files: it takes every request that is waiting (a batch),
applies them to its in-memory state, writes each changed file once (group commit),
and only then hands the answers to the outbox. A job's future resolves True once its
effect is durable and its answer has been sent (or refused by Telegram for good), and
False when the pool gave up on it (closing, past its grace): its update must not be
confirmed as done. An idle worker stops and its state goes with it.

Nothing a worker awaits may kill it or leave a job unresolved: a failure in one step
becomes an answer ("not saved", "could not read") or, for a migration, a retry at the
chat's next command, and the worker goes on with the rest of its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from jigaido.core import args, buttons, commands, reminders
from jigaido.core.commands import MIGRATE, PRESS, REMIND, Outcome, Request
from jigaido.core.errors import NotSaved
from jigaido.core.model import (
    GROUP_FILE,
    USER_FILE,
    Confirmed,
    Doc,
    FileKey,
    GroupBook,
    UserBook,
    find_applied,
    prune_applied,
    with_applied,
)
from jigaido.core.render import escape, split_messages
from jigaido.shell.outbox import REMINDERS, Outbox, Reply, Ticket
from jigaido.shell.store import Store

log = logging.getLogger(__name__)

NOT_SAVED = "⚠️ Not saved: I could not write to my disk. Nothing changed; please try again later."
NOT_READ = "⚠️ I could not read this chat's data just now. Nothing changed; please try again later."
FAILED = "⚠️ Something went wrong with that command. Nothing changed."
BROKEN = (
    "⚠️ Something went wrong while handling that command; it may not have been saved. "
    "Send /bounty to see the list as it is."
)
# Answers that say nothing changed: one must stay true when Telegram delivers the update
# again (after a crash before it was confirmed), so it is recorded, not re-applied.
REFUSALS = frozenset({NOT_SAVED, NOT_READ, FAILED})
# A press its worker did not take within PRESS_SECONDS of its arrival is answered this
# (recorded as its verdict, like a refusal) and never applied: Telegram drops a press's
# query about 15 s after the press, and a spinner left turning is worse than a "no".
BUSY = "⏳ I'm busy just now and did not do that. Please press again in a moment."
PRESS_SECONDS = 10.0


# A reminder sent but not recorded (the disk failed) is recorded again this much later;
# meanwhile it is not sent again.
RECORD_RETRY_SECONDS = 60


class Planner(Protocol):
    """The reminders' timer (alarm.Alarm), as the workers tell it each chat's next moment."""

    def plan_book(self, chat_id: int, book: GroupBook | UserBook) -> None: ...

    def update(self, chat_id: int, moment: int | None) -> None: ...

    def get(self, chat_id: int) -> int | None: ...


class Verdicts(Protocol):
    """Refusals given, kept durably: an update answered "not saved" is answered so
    again when it comes back, not applied after all (held.py keeps them)."""

    def given(self, update_id: int) -> str | None:
        """The refusal `update_id` got, if it got one."""

    async def record(self, request: Request, answer: str) -> bool:
        """Keep `answer` as `request`'s verdict; False if it could not be written."""


class _NoVerdicts:
    """For a pool without a data directory of its own (tests of other parts)."""

    def given(self, update_id: int) -> str | None:
        return None

    async def record(self, request: Request, answer: str) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Job:
    request: Request
    # True once the effect is durable and the answer is out (or refused for good);
    # False if the pool gave up on it: its update is not done.
    done: asyncio.Future[bool]
    press: PressClock | None = None  # a fresh press: its worker must take it in time

    @property
    def finished(self) -> bool:
        """Done for good: its update may be confirmed to Telegram."""
        return self.done.done() and not self.done.cancelled() and self.done.result()

    @property
    def late(self) -> bool:
        """A press answered "busy": it must not be applied."""
        return self.press is not None and self.press.late


@dataclass(slots=True)
class PressClock:
    """A press's deadline: its worker takes it before, or at it the pool says busy."""

    arrived: float  # on the event loop's clock
    timer: asyncio.TimerHandle | None = None
    late: bool = False


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
        press_seconds: float = PRESS_SECONDS,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.tz = tz
        self.idle_seconds = idle_seconds
        self.queue_size = queue_size
        self.batch_max = batch_max
        self.max_workers = max_workers
        self.clock = clock
        self.press_seconds = press_seconds
        self._answering: set[asyncio.Task[None]] = set()  # "busy" toasts on their way
        # What Telegram has been told (the poller sets it): dedupe records it proves
        # can never be needed again are dropped at the next write.
        self.confirmed: Confirmed | None = None
        # Update ids whose records must stay whatever `confirmed` says: the updates the
        # bot holds on disk to apply again after a restart (see held.py).
        self.keep_records: Callable[[], Container[int]] = frozenset
        self.verdicts: Verdicts = _NoVerdicts()
        # The reminders' timer (None: no reminders) and their lead ("24 hours before").
        self.alarm: Planner | None = None
        self.remind_lead = reminders.LEAD_SECONDS
        self.flushes = 0
        self._workers: dict[int, _Worker] = {}
        self._moved: dict[int, int] = {}  # migrated group id -> its new id
        # new group id -> (old id -> the migration jobs waiting for it to succeed)
        self._unfinished: dict[int, dict[int, list[Job]]] = {}
        self._closing = False
        self._room = asyncio.Event()  # a worker left or fell idle; replaced: a broadcast

    @property
    def active(self) -> int:
        return len(self._workers)

    @property
    def queued(self) -> int:
        return sum(w.queue.qsize() for w in self._workers.values())

    async def submit(self, request: Request, *, arrived: float | None = None) -> Job:
        """Queue `request` on its chat's worker; waits while that queue is full. A press
        that `arrived` (loop time) and is not taken within `press_seconds` is answered
        busy and not applied (without `arrived`, one held from the last run, it waits)."""
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
        loop = asyncio.get_running_loop()
        clock = PressClock(arrived) if request.command == PRESS and arrived is not None else None
        job = Job(request, loop.create_future(), clock)
        if clock is not None:
            # Set before queuing: a full queue is a worker that cannot take it in time.
            clock.timer = loop.call_at(clock.arrived + self.press_seconds, self._late, job)
        await worker.queue.put(job)
        return job

    def _claim(self, job: Job) -> bool:
        """A worker takes `job`: False if it is a press answered busy already."""
        clock = job.press
        if clock is None:
            return True
        if clock.timer is not None:
            clock.timer.cancel()
            clock.timer = None
        return not clock.late

    def _late(self, job: Job) -> None:
        clock = job.press
        assert clock is not None
        clock.timer = None
        if job.done.done() or self._closing:
            return  # closing: not done, so Telegram delivers it again after the restart
        clock.late = True
        request = job.request
        log.info(
            "chat %s: a press waited %g s for its worker: answered busy",
            request.chat_id,
            self.press_seconds,
        )
        task = asyncio.get_running_loop().create_task(
            self._answer_busy(job), name=f"busy:{request.chat_id}"
        )
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer_busy(self, job: Job) -> None:
        """Recorded first, as a refusal is, so that a redelivery is answered busy too."""
        try:
            await self.verdicts.record(job.request, BUSY)
            await self.outbox.toast(job.request.callback_id, BUSY)
        except Exception:
            log.exception("chat %s: answering a press busy failed", job.request.chat_id)
        finally:
            _resolve(job, ok=True)

    async def retire(self, chat_id: int, moved_to: int) -> None:
        """Route `chat_id` to `moved_to` from now on, after its worker has finished."""
        self._moved[chat_id] = moved_to
        worker = self._workers.get(chat_id)
        if worker is not None:
            await worker.stop()

    async def close(self, grace: float | None = None) -> None:
        """Let every worker finish what it has taken, then stop them all. Past `grace` seconds
        the rest is abandoned (its jobs resolve False): it is on disk or not, and its
        updates are not done, so they come again and the dedupe records answer them."""
        self._closing = True
        workers = list(self._workers.values())
        if workers:
            stops = [asyncio.ensure_future(w.stop()) for w in workers]
            _, late = await asyncio.wait(stops, timeout=grace)
            if late:
                log.warning("stopping: gave up waiting for %d chats", len(late))
                for worker in workers:
                    worker.cancel()
                for stop in late:
                    stop.cancel()  # it may be waiting to queue its sentinel
                await asyncio.gather(*stops, return_exceptions=True)
        for waiting in self._unfinished.values():
            for jobs in waiting.values():
                for job in jobs:
                    _resolve(job, ok=False)
        self._unfinished.clear()
        if self._answering:
            _, late = await asyncio.wait(set(self._answering), timeout=grace)
            for task in late:
                task.cancel()

    def _wait_for_migration(self, new_id: int, old_id: int, job: Job | None) -> None:
        jobs = self._unfinished.setdefault(new_id, {}).setdefault(old_id, [])
        if job is not None:
            jobs.append(job)

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
        self.answered: set[int] = set()  # ids of the batch's jobs whose answer is posted
        # Reminders handed to the outbox, and those out but not yet in the chat's file:
        # neither is sent again meanwhile.
        self.reminding: dict[tuple[int, str], reminders.Reminder] = {}
        self.unrecorded: dict[tuple[int, str], reminders.Reminder] = {}
        self.record_failed = False
        # Answers that changed nothing ("You already track #1", a refusal) of commands
        # that could have: recorded with the chat's next write (update id -> answer and
        # files). A crash after that write and before Telegram was told brings such an
        # update back after a later change; its record keeps it the no-op it was, in
        # its place, instead of applying it now, out of order.
        self.noops: dict[int, tuple[str, tuple[FileKey, ...]]] = {}
        self.task = asyncio.create_task(self.run(), name=f"chat:{chat_id}")

    async def stop(self) -> None:
        await self.queue.put(_STOP)
        await self.task

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in hand, every answer out: stopping it loses nothing."""
        quiet = self.unsent == 0 and not self.reminding and not self.unrecorded
        return self.waiting and self.queue.empty() and quiet

    def cancel(self) -> None:
        self.task.cancel()
        if self.sending is not None:
            self.sending.cancel()

    async def run(self) -> None:
        taken: list[Job] = []  # in hand: resolved False if the worker is cancelled
        try:
            while True:
                batch = await self._next_batch()
                if not batch:
                    break  # idle past its time: gone from the pool's table already
                taken = [j for j in batch if isinstance(j, Job)]
                if self.unsent >= self.pool.queue_size and self.sending is not None:
                    # Answers pile up faster than Telegram takes them: stop taking
                    # work, so the queue fills and the poller slows down.
                    with contextlib.suppress(Exception):
                        await self.sending
                moved_to = await self._handle_guarded(taken) if taken else None
                if moved_to is not None or any(isinstance(j, _Stop) for j in batch):
                    # What is queued behind a stop (a migration racing), or everything
                    # of a chat found moved, goes to whoever handles its id now.
                    if moved_to is None:
                        await self._settle_reminders()
                    self.pool._forget(self)
                    handing, taken = (taken if moved_to is not None else []), []
                    await self._hand_over(handing, moved_to is not None)
                    break
                taken = []
        finally:
            self.pool._forget(self)
            for job in [*taken, *_drain(self.queue)]:
                if isinstance(job, Job):
                    _resolve(job, ok=False)  # cancelled: abandoned, not done
            if self.sending is not None:
                with contextlib.suppress(Exception):
                    await self.sending

    async def _next_batch(self) -> list[Job | _Stop]:
        """Every request waiting, up to batch_max; empty once idle past the pool's time."""
        while True:
            try:
                self.waiting = True
                if self.idle:
                    self.pool._room_made()
                first = await asyncio.wait_for(self.queue.get(), self.pool.idle_seconds)
            except TimeoutError:
                # Reminders on their way or not yet recorded live only here: the worker
                # stays until they are in the chat's file.
                if self.queue.empty() and not self.reminding and not self.unrecorded:
                    # No await between this check and leaving the pool's table, so
                    # no request can slip into a queue nobody reads.
                    self.pool._forget(self)
                    return []
                continue
            finally:
                self.waiting = False
            batch = [first]
            while len(batch) < self.pool.batch_max and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            return batch

    async def _hand_over(self, in_hand: list[Job], moved: bool) -> None:
        """Pass `in_hand` and what is still queued to whichever worker handles the chat id
        now (the new one, for a group that moved)."""
        left = in_hand + [j for j in _drain(self.queue) if isinstance(j, Job)]
        if self.pool._closing and not moved:
            if left:
                await self._handle_guarded(left)
            return
        for job in left:
            if not self.pool._claim(job):
                continue  # answered busy: resolved by that
            arrived = job.press.arrived if job.press is not None else None
            try:
                moved_job = await self.pool.submit(job.request, arrived=arrived)
            except RuntimeError:  # the pool is closing: not taken, so not done
                _resolve(job, ok=False)
                continue
            moved_job.done.add_done_callback(functools.partial(_resolve_after, job))

    async def _handle_guarded(self, jobs: list[Job]) -> int | None:
        """`_handle`, with the promise that every job gets an answer whatever fails; the
        chat's new id if its files say it moved (then nothing was handled)."""
        self.answered = set()
        try:
            return await self._handle(jobs)
        except Exception:
            log.exception("chat %s: handling %d commands failed", self.chat_id, len(jobs))
            self.docs.clear()  # memory may be off: read the truth from disk next time
            unanswered = [
                j for j in jobs if id(j) not in self.answered and not j.done.done() and not j.late
            ]
            if unanswered:
                self._send([(job, _said(job.request, BROKEN)) for job in unanswered])
            return None

    async def _handle(self, jobs: list[Job]) -> int | None:
        if not self.opened:
            moved_to = await self._open()
            if moved_to is not None:
                return moved_to
        await self._retry_migrations()
        run: list[Job] = []
        for job in jobs:
            if job.request.command == MIGRATE:
                if run:
                    await self._process(run)
                    run = []
                await self._migrate(int(job.request.args), job)
            elif job.request.command == REMIND:
                if run:
                    await self._process(run)
                    run = []
                await self._remind(job)
            else:
                run.append(job)
        if run:
            await self._process(run)
        return None

    async def _open(self) -> int | None:
        """First use of the chat: clean up after a crash; the new id if the group moved."""
        opened = await self.pool.store.open_chat(self.chat_id)
        if opened.removed:
            log.info("chat %s: removed temp files a crash left: %s", self.chat_id, opened.removed)
        self.opened = True
        if opened.moved_to is None:
            return None
        log.info("chat %s: moved to %s; its commands go there", self.chat_id, opened.moved_to)
        self.pool._moved[self.chat_id] = opened.moved_to
        # The move may be half done (a crash, a disk fault): the new id's worker makes
        # sure of it before its next batch.
        self.pool._wait_for_migration(opened.moved_to, self.chat_id, None)
        return opened.moved_to

    async def _process(self, jobs: list[Job]) -> None:
        """Group commit: apply all, write each changed file once, then answer."""
        jobs = [job for job in jobs if self.pool._claim(job)]  # not those answered busy
        if not jobs:
            return
        now = int(self.pool.clock())
        before: dict[FileKey, Doc | None] = {}
        dirty: list[FileKey] = []
        answers: list[tuple[Job, Outcome]] = []
        for job in jobs:
            outcome = await self._apply(job.request, now)
            for key, doc in outcome.changed.items():
                if key not in before:
                    before[key] = self.docs.get(key)
                    dirty.append(key)
                self.docs[key] = doc
            answers.append((job, outcome))
            self._note_noop(job.request, outcome)
        if not await self._flush(dirty, before, now):
            if len(jobs) > 1:
                # Fall back to one commit per command: each gets its own verdict, and
                # those already on disk are recognised by their dedupe record.
                for job in jobs:
                    await self._process([job])
                return
            answers = [(job, _said(job.request, NOT_SAVED)) for job, _ in answers]
        else:
            for key in dirty:
                self._plan(self.docs.get(key))
        for job, outcome in answers:
            refusal = _refusal(outcome)
            if refusal is not None:
                await self.pool.verdicts.record(job.request, refusal)
        self._send(answers)

    async def _apply(self, request: Request, now: int) -> Outcome:
        refused = self.pool.verdicts.given(request.update_id)
        if refused is not None:
            return _said(request, refused)  # answered so before: it stays not applied
        try:
            keys = commands.files_needed(request)
            for key in keys:
                if key not in self.docs:
                    await self._load(key)
            return commands.execute(request, {k: self.docs[k] for k in keys}, now, self.pool.tz)
        except OSError as e:
            log.error("chat %s: could not read its files: %s", self.chat_id, e)
            return _said(request, NOT_READ)
        except Exception:
            log.exception("chat %s: /%s failed", self.chat_id, request.command)
            return _said(request, FAILED)

    async def _load(self, key: FileKey) -> None:
        loaded = await self.pool.store.read(key)
        self.docs[key] = loaded.doc
        if loaded.set_aside is not None:
            self.notices.append(
                f"⚠️ A data file of this chat was damaged ({escape(loaded.reason or '')}). "
                f"I set it aside as <code>{escape(loaded.set_aside)}</code> and started it "
                "afresh; the operator can recover it from there."
            )

    def _note_noop(self, request: Request, outcome: Outcome) -> None:
        if outcome.changed or _refusal(outcome) is not None or not _may_change(request):
            return
        answer = outcome.messages[0] if len(outcome.messages) == 1 else outcome.toast
        if answer:
            self.noops[request.update_id] = (answer, commands.files_needed(request))

    def _record_noops(
        self, dirty: list[FileKey], before: dict[FileKey, Doc | None], now: int
    ) -> None:
        """The no-ops so far, recorded in their files (those that exist) with this write."""
        for update_id, (answer, keys) in self.noops.items():
            for key in keys:
                doc = self.docs.get(key)
                if doc is None or find_applied(doc, update_id, now) is not None:
                    continue
                if key not in dirty:
                    before[key] = doc
                    dirty.append(key)
                self.docs[key] = with_applied(doc, update_id, now, answer)

    async def _flush(
        self, dirty: list[FileKey], before: dict[FileKey, Doc | None], now: int
    ) -> bool:
        if not dirty:
            return True  # nothing to write: the no-ops wait for the next write
        if self.noops:
            self._record_noops(dirty, before, now)
        # The bounty list first: a tracking file must not be saved pointing at a
        # bounty whose creation then failed to save.
        order = sorted(dirty, key=lambda k: (k.name not in (GROUP_FILE, USER_FILE), k))
        keep = self.pool.keep_records()
        for i, key in enumerate(order):
            doc = self.docs[key]
            assert doc is not None
            doc = prune_applied(doc, now, self.pool.confirmed, keep)
            try:
                await self.pool.store.write(key, doc)
            except Exception as e:
                # A full or read-only disk (NotSaved), or a bug: either way the old file
                # is in place, and memory goes back to it; the next write starts afresh.
                log.error(
                    "chat %s: %s not saved: %s (check that %s is writable and its disk has room)",
                    self.chat_id,
                    key.name,
                    e,
                    self.pool.store.root,
                    exc_info=not isinstance(e, NotSaved),
                )
                for unsaved in order[i:]:
                    self.docs[unsaved] = before[unsaved]
                return False
            self.docs[key] = doc
            self.pool.flushes += 1
        self.noops.clear()
        return True

    def _send(self, answers: list[tuple[Job, Outcome]]) -> None:
        if self.notices and answers:
            job, outcome = answers[0]
            messages = (*self.notices, *outcome.messages)
            answers[0] = (job, dataclasses.replace(outcome, messages=messages))
            self.notices = []
        replies = [(job, self._post(job.request, outcome)) for job, outcome in answers]
        self.answered.update(id(job) for job, _ in replies)
        self.unsent += len(replies)
        self.sending = asyncio.create_task(
            self._deliver(self.sending, replies), name=f"send:{self.chat_id}"
        )

    def _post(self, request: Request, outcome: Outcome) -> _Posted:
        """An answer's messages, posted now (so the outbox can merge a burst), and a
        press's toast, sent now: it waits for no chat's turn, only for the write."""
        ticket = self._reply(request, outcome) if outcome.messages else None
        toast = None
        if outcome.toast is not None and request.callback_id is not None:
            toast = asyncio.create_task(
                self.pool.outbox.toast(request.callback_id, outcome.toast),
                name=f"toast:{self.chat_id}",
            )
        return _Posted(ticket, toast, outcome.edit)

    async def _deliver(
        self, previous: asyncio.Task[None] | None, replies: list[tuple[Job, _Posted]]
    ) -> None:
        """Send a batch's answers after the previous batch's, in order; resolve each job.
        A press's message is edited after its toast, in its turn among the chat's sends."""
        try:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            for job, posted in replies:
                try:
                    if posted.ticket is not None:
                        await self.pool.outbox.deliver(posted.ticket)
                    if posted.toast is not None:
                        await posted.toast
                    if posted.edit is not None:
                        await self.pool.outbox.deliver(self._edit(job.request, posted.edit))
                except Exception:
                    # A bug of the send path: logged, and the update counts as done
                    # rather than coming back to fail again.
                    log.exception("chat %s: sending an answer failed", self.chat_id)
                finally:
                    self.unsent -= 1
                _resolve(job, ok=True)
                if self.idle:
                    self.pool._room_made()
        finally:
            for job, _ in replies:
                _resolve(job, ok=False)  # cancelled before its answer went out

    def _edit(self, request: Request, edit: buttons.Edit) -> Ticket:
        """The pressed message's new text and buttons (or buttons alone)."""
        return self.pool.outbox.post(
            Reply(
                chat_id=self.chat_id,
                texts=() if edit.text is None else (edit.text,),
                keyboard=edit.keyboard,
                edit_of=request.message_id,
            )
        )

    def _reply(self, request: Request, outcome: Outcome) -> Ticket:
        texts = outcome.messages
        in_group = request.kind == "group"
        # Posted now, before earlier answers are out, so the outbox can merge a burst.
        return self.pool.outbox.post(
            Reply(
                chat_id=self.chat_id,
                texts=texts,
                # (A greeting answers no message: its id is 0.)
                reply_to=request.message_id if in_group and request.message_id else None,
                thread_id=request.thread_id,
                command=request.command,
                user_name=request.user_name if in_group else None,
                keyboard=outcome.keyboard,
                merged=outcome.merged,
            )
        )

    async def _retry_migrations(self) -> None:
        """Finish the moves into this chat that a fault interrupted, before its next batch."""
        waiting = self.pool._unfinished.get(self.chat_id)
        for old_id in list(waiting or ()):
            await self._migrate(old_id, None)

    async def _migrate(self, old_id: int, job: Job | None) -> None:
        """Move the old group's files under this (new) id. Until that has happened, the
        job stays unresolved (its update not done) and every later batch of this chat
        tries again."""
        new_id = self.chat_id
        try:
            await self.pool.retire(old_id, new_id)
            merge = functools.partial(commands.migrate_group, old_id, new_id)
            result = await self.pool.store.migrate(old_id, new_id, merge)
        except Exception as e:
            log.error(
                "chat %s: migration from %s failed, tried again at the next command: %s",
                new_id,
                old_id,
                e,
                exc_info=not isinstance(e, OSError),
            )
            self.pool._wait_for_migration(new_id, old_id, job)
            return
        finally:
            self.docs.clear()  # reloaded from disk on next use
        log.info("chat %s: migration from %s: %s", new_id, old_id, result)
        if self.pool.alarm is not None:
            # The merged book's reminders are planned from its file, by a reminder run.
            self.pool.alarm.update(old_id, None)
            self.pool.alarm.update(new_id, int(self.pool.clock()))
        waiting = self.pool._unfinished.get(new_id, {})
        for done in [*waiting.pop(old_id, []), *([job] if job is not None else [])]:
            _resolve(done, ok=True)
        if not waiting:
            self.pool._unfinished.pop(new_id, None)


    # --- reminders ---------------------------------------------------------------------

    async def _remind(self, job: Job) -> None:
        """What the chat's file says is owed now is sent (one message for all), recorded
        in the file once out, and the timer set to the chat's next moment. Never an
        answer to anyone: a failure is logged and tried again later."""
        try:
            key = FileKey.group(self.chat_id) if self.chat_id < 0 else FileKey.user(self.chat_id)
            if key not in self.docs:
                await self._load(key)
            book = self.docs.get(key)
            if not isinstance(book, GroupBook | UserBook):
                return  # no bounties here (any more)
            now = int(self.pool.clock())
            book = await self._record_reminders(key, book, now)
            zone = args.zone(book.tz, self.pool.tz)
            pending = self.reminding.keys() | self.unrecorded.keys()
            owed = [
                r
                for r in reminders.owed(book, now, self.pool.remind_lead, zone)
                if (r.bounty_id, r.key) not in pending
            ]
            gather = reminders.gather_until(book, owed, now, self.pool.remind_lead, zone)
            if gather is not None and self.pool.alarm is not None:
                # More fall due in a moment: one message for them all, then.
                self.pool.alarm.update(self.chat_id, gather)
                return
            if owed:
                self._send_reminders(book, owed, now, zone)
            self._plan(book)
        except Exception:
            log.exception("chat %s: reminders failed; tried again in a minute", self.chat_id)
            self.docs.clear()
            if self.pool.alarm is not None:
                self.pool.alarm.update(self.chat_id, int(self.pool.clock()) + RECORD_RETRY_SECONDS)
        finally:
            _resolve(job, ok=True)

    async def _record_reminders(
        self, key: FileKey, book: GroupBook | UserBook, now: int
    ) -> GroupBook | UserBook:
        """The reminders that went out, written into their bounties (the chat's file)."""
        if not self.unrecorded:
            return book
        # What is recorded now: another may come out while the write is on its way.
        writing = dict(self.unrecorded)
        marked = reminders.mark_sent(book, writing.values())
        self.docs[key] = marked
        self.record_failed = not await self._flush([key], {key: book}, now)
        if self.record_failed:
            log.warning(
                "chat %s: %d reminders sent but not recorded; not sent again meanwhile",
                self.chat_id,
                len(self.unrecorded),
            )
            return book
        for done in writing:
            self.unrecorded.pop(done, None)
        written = self.docs[key]
        assert isinstance(written, GroupBook | UserBook)
        return written

    def _send_reminders(
        self, book: GroupBook | UserBook, owed: list[reminders.Reminder], now: int, zone: tzinfo
    ) -> None:
        blocks = reminders.blocks(book, owed, now, zone, self.pool.remind_lead)
        ticket = self.pool.outbox.post(
            Reply(chat_id=self.chat_id, texts=tuple(split_messages(blocks)), command=REMINDERS)
        )
        for r in owed:
            self.reminding[r.bounty_id, r.key] = r
        self.sending = asyncio.create_task(
            self._deliver_reminders(self.sending, ticket, owed), name=f"remind:{self.chat_id}"
        )

    async def _deliver_reminders(
        self,
        previous: asyncio.Task[None] | None,
        ticket: Ticket,
        owed: list[reminders.Reminder],
    ) -> None:
        """Out in the chat's turn; then to be recorded (the timer wakes the worker for it).
        A reminder Telegram refuses (the bot blocked or removed) counts as sent: it is
        not tried forever."""
        delivered = False
        try:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            if not await self.pool.outbox.deliver(ticket):
                log.warning(
                    "chat %s: %d reminders not delivered; given up, not tried again",
                    self.chat_id,
                    len(owed),
                )
            delivered = True
        except Exception:
            log.exception("chat %s: sending reminders failed", self.chat_id)
            delivered = True  # whether it went is unknown: not sent again in a loop
        finally:
            for r in owed:
                self.reminding.pop((r.bounty_id, r.key), None)
                if delivered:
                    self.unrecorded[r.bounty_id, r.key] = r
            if delivered and self.pool.alarm is not None:
                self.pool.alarm.update(self.chat_id, int(self.pool.clock()))

    def _plan(self, doc: Doc | None) -> None:
        """The timer told when the chat next owes a reminder, as `doc` (its book, just
        read or written) stands, leaving out those on their way."""
        alarm = self.pool.alarm
        if alarm is None or not isinstance(doc, GroupBook | UserBook):
            return
        pending = [*self.reminding.values(), *self.unrecorded.values()]
        alarm.plan_book(self.chat_id, reminders.mark_sent(doc, pending))
        if self.unrecorded:
            soon = int(self.pool.clock()) + (RECORD_RETRY_SECONDS if self.record_failed else 0)
            planned = alarm.get(self.chat_id)
            alarm.update(self.chat_id, soon if planned is None else min(planned, soon))

    async def _settle_reminders(self) -> None:
        """Before the worker stops (the bot closing): what went out is recorded."""
        if self.sending is not None:
            with contextlib.suppress(Exception):
                await self.sending
        if not self.unrecorded:
            return
        key = FileKey.group(self.chat_id) if self.chat_id < 0 else FileKey.user(self.chat_id)
        book = self.docs.get(key)
        if isinstance(book, GroupBook | UserBook):
            with contextlib.suppress(Exception):
                await self._record_reminders(key, book, int(self.pool.clock()))


@dataclass(frozen=True, slots=True)
class _Posted:
    """What one answer sends: messages, a press's toast and the pressed message's edit."""

    ticket: Ticket | None
    toast: asyncio.Task[bool] | None
    edit: buttons.Edit | None


def _said(request: Request, text: str) -> Outcome:
    """`text` as the answer to `request`: a message, or a press's toast."""
    return Outcome((), toast=text) if request.command == PRESS else Outcome((text,))


def _may_change(request: Request) -> bool:
    """A command (or a card's button) that changes the chat's files when it does not
    find them as they need to be already."""
    if request.command == PRESS:
        return isinstance(buttons.decode(request.args), buttons.Press)
    return request.command in commands.CHANGING


def _refusal(outcome: Outcome) -> str | None:
    """The refusal an outcome says ("not saved": nothing changed), if it says one."""
    said = outcome.messages or ((outcome.toast,) if outcome.toast else ())
    return said[0] if len(said) == 1 and said[0] in REFUSALS else None


def _drain(queue: asyncio.Queue[Job | _Stop]) -> list[Job | _Stop]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def _resolve_after(job: Job, moved: asyncio.Future[bool]) -> None:
    _resolve(job, ok=not moved.cancelled() and moved.exception() is None and moved.result())


def _resolve(job: Job, *, ok: bool) -> None:
    if not job.done.done():
        job.done.set_result(ok)
