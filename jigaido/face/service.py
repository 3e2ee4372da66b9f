"""Wiring and the polling loop.

The bot runs its own `getUpdates` loop instead of aiogram's `start_polling`, which
confirms a batch before its handlers have run: here an update is confirmed (by the
offset of a later `getUpdates`) only once its effect is on disk and its answer sent,
or once it is held on disk to be finished later (held.py), so that one slow chat never
stops the others' updates from being fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from jigaido.core.commands import REMIND, ChatKind, Request
from jigaido.core.errors import ConfigError
from jigaido.core.model import Confirmed
from jigaido.face import botapi, intro, telegram, webhook
from jigaido.face.admins import Admins
from jigaido.face.settings import Settings
from jigaido.face.updates import Unreadable, get_updates
from jigaido.shell.alarm import Alarm
from jigaido.shell.held import HOLD_SECONDS, Held
from jigaido.shell.notify import Notifier
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Job, Pool
from jigaido.shell.sendlog import SendLog
from jigaido.shell.store import Store, in_thread

log = logging.getLogger(__name__)

# While the oldest unconfirmed update is still being worked on, wait this long for it
# before fetching anyway (so other chats are not held up) ...
FRONT_WAIT = 0.2
# ... and when a fetch brings nothing new, wait this long for progress before the next,
# so a slow chat does not turn polling into a tight loop.
IDLE_REFETCH = 1.0
# Once this many updates wait for the oldest unconfirmed one, the unfinished ones are
# held on disk (held.py) and confirmed: getUpdates returns at most 100 updates from
# the offset, and none may wait for one slow chat. (An update unfinished for
# held.HOLD_SECONDS is held too, so that polling goes back to long polls.)
HOLD_BACKLOG = 50
# On SIGTERM, how long to wait for the work already taken, and then for the workers to
# stop: together well inside the 10 s a service manager should have to wait.
DRAIN_SECONDS = 7.0
CLOSE_SECONDS = 1.5


@dataclass(slots=True)
class _Taken:
    job: Job | None  # None: nothing to wait for
    at: float  # when it was taken, on the loop's clock
    held: bool = False  # written to held-updates.json: it may be confirmed

    @property
    def finished(self) -> bool:
        return self.held or self.job is None or self.job.finished


class Poller:
    def __init__(
        self, bot: Bot, dispatcher: Dispatcher, pool: Pool, held: Held, *, timeout: int = 30
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.pool = pool
        self.held = held
        self.timeout = timeout
        self.allowed_updates = dispatcher.resolve_used_update_types()
        self.offset: int | None = None
        self.pending: OrderedDict[int, _Taken] = OrderedDict()  # in arrival order
        self.stopping = asyncio.Event()
        self.fetches = 0
        self.where: str | None = None  # the Bot API's address, for the log when unreachable

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        while not self.stopping.is_set():
            await self._wait_for_front(FRONT_WAIT)
            await self._hold_if_stuck()
            updates = await botapi.until_answered(
                self._fetch, "getUpdates", self.stopping, where=self.where
            )
            if updates is None:
                break  # stopping
            fresh = [u for u in updates if u.update_id not in self.pending]
            loop = asyncio.get_running_loop()
            for update in fresh:
                if self.stopping.is_set():
                    break  # not taken, so not confirmed: Telegram keeps it for next time
                if isinstance(update, Unreadable):
                    # Skipped, never fatal: done at once, so the offset moves past it.
                    log.error("%s skipped, aiogram cannot read it (%s)", update.name, update.why)
                    if update.update_id is not None:
                        self.pending[update.update_id] = _Taken(None, loop.time())
                    continue
                job = await telegram.feed(self.dispatcher, self.bot, update)
                self.pending[update.update_id] = _Taken(job, loop.time())
            if updates and not fresh:
                await self._wait_for_any(IDLE_REFETCH)
        await self.drain()

    async def drain(self) -> None:
        """Wait (bounded) for what was taken, hold what is not done, confirm the rest."""
        waiting = self._unfinished_jobs()
        if waiting:
            log.info("waiting for %d updates in progress", len(waiting))
            await asyncio.wait([j.done for j in waiting], timeout=DRAIN_SECONDS)
        await self._hold(self._unfinished_jobs())
        self._advance()
        if self.offset is not None:
            with contextlib.suppress(*botapi.TRANSIENT):
                await get_updates(
                    self.bot, GetUpdates(offset=self.offset, limit=1, timeout=0), request_timeout=5
                )

    async def _fetch(self) -> Sequence[Update | Unreadable] | None:
        self._advance()
        busy = bool(self.pending)  # unconfirmed updates come back at once; no long poll
        offset = self.offset
        sent_at = int(self.pool.clock())
        fetch = asyncio.ensure_future(
            get_updates(
                self.bot,
                GetUpdates(
                    offset=offset,
                    timeout=0 if busy else self.timeout,
                    allowed_updates=self.allowed_updates,
                ),
                request_timeout=self.timeout + 15,
            )
        )
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([fetch, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
            return None
        updates = fetch.result()
        self.fetches += 1
        if offset is not None:
            # Telegram has now been told: records of updates below it that had arrived
            # before it was sent may go.
            self.pool.confirmed = Confirmed(offset, sent_at)
        return updates

    def _advance(self) -> None:
        while self.pending:
            update_id, taken = next(iter(self.pending.items()))
            if not taken.finished:
                break
            self.pending.popitem(last=False)
            self.offset = update_id + 1
        if self.pending:
            self.offset = next(iter(self.pending))

    def _unfinished_jobs(self) -> list[Job]:
        return [t.job for t in self.pending.values() if t.job is not None and not t.finished]

    async def _hold_if_stuck(self) -> None:
        """Hold what is unfinished once HOLD_BACKLOG updates wait for the oldest one, or
        it has waited HOLD_SECONDS: their updates may then be confirmed."""
        self._advance()
        if not self.pending:
            return
        front = next(iter(self.pending.values()))
        waited = asyncio.get_running_loop().time() - front.at
        if waited >= HOLD_SECONDS or len(self.pending) >= HOLD_BACKLOG:
            await self._hold(self._unfinished_jobs())

    async def _hold(self, jobs: list[Job]) -> None:
        if not jobs or not await self.held.hold(jobs):
            return  # the disk refused: they stay unconfirmed, Telegram keeps them
        for taken in self.pending.values():
            if taken.job is not None and not taken.finished:
                taken.held = True

    async def _wait_for_front(self, seconds: float) -> None:
        self._advance()
        if not self.pending:
            return
        front = next(iter(self.pending.values()))
        if front.job is not None:
            await asyncio.wait([front.job.done], timeout=seconds)

    async def _wait_for_any(self, seconds: float) -> None:
        waiting: list[asyncio.Future[Any]] = [j.done for j in self._unfinished_jobs()]
        if not waiting:
            return
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait(
                [*waiting, stop], timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()


def make_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_url))
    return Bot(settings.token, session=session)


async def connect(bot: Bot, stopping: asyncio.Event, where: str | None = None) -> str:
    """The bot's username from getMe, retried while the network is down."""
    me = await botapi.until_answered(bot.me, "getMe", stopping, where=where)
    if me is None:
        raise ConfigError("stopped before the Bot API could be reached")
    return me.username or ""


async def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT (long polling, or a webhook if configured), then
    finish what was taken and return. Tells systemd (if it is listening) when the bot
    is ready, that it is alive, and when it stops."""
    notifier = Notifier.from_env()
    bot = make_bot(settings)
    try:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_signal, stopping, notifier)
        notifier.status("connecting to the Bot API")
        try:
            username = await connect(bot, stopping, settings.api_url)
        except ConfigError:
            if not stopping.is_set():
                raise
            log.info("stopped before the Bot API could be reached")  # asked to: exit 0
            return
        if settings.webhook is None:
            with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
                # getUpdates fails while a webhook is set; leave pending updates in place.
                await bot.delete_webhook(drop_pending_updates=False)
        await telegram.register_menus(bot)
        await intro.describe(bot)

        sender = telegram.make_sender(bot)
        outbox = Outbox.for_telegram(sender, buttons=sender)
        # Asked by the router before a moderator action is queued, never by a worker.
        admins = Admins(telegram.make_admin_fetcher(bot))
        core = wire(
            username,
            settings.data_dir,
            settings.tz,
            outbox,
            admins,
            settings.idle_seconds,
            remind_lead=settings.remind_lead,
        )
        pool, held, dispatcher = core.pool, core.held, core.dispatcher
        sent = SendLog(settings.data_dir, outbox)
        if await sent.restore():
            log.info("counting the last run's recent sends in Telegram's limits")
        sent.start()
        await resubmit_held(pool, held)
        core.start_reminders()
        life = _Life(notifier, pool)
        started = functools.partial(intro.started, username, data_dir=settings.data_dir)
        freeze_start_up_objects()
        try:
            if settings.webhook is None:
                poller = Poller(bot, dispatcher, pool, held, timeout=settings.poll_timeout)
                poller.where = settings.api_url
                stopping_task = asyncio.ensure_future(stopping.wait())
                stopping_task.add_done_callback(lambda _t: poller.stop())
                life.ready("polling", started)
                try:
                    await poller.run()
                finally:
                    stopping_task.cancel()
            else:
                await webhook.serve(
                    bot,
                    dispatcher,
                    held,
                    settings.webhook,
                    stopping,
                    lambda handler: life.ready("webhook", started, handler),
                )
        finally:
            life.phase = "stopping"
            notifier.stopping()
            try:
                await core.close()
                await sent.close()
            finally:
                await life.close()
        log.info("jigaido stopped")
    finally:
        await bot.session.close()
        notifier.close()


@dataclass(frozen=True, slots=True)
class Core:
    """What `jigaido run` and `jigaido try` share: the chats' workers, the updates held
    on disk, and the dispatcher with the router in front of them."""

    pool: Pool
    held: Held
    dispatcher: Dispatcher
    alarm: Alarm | None = None  # the reminders' timer, when they are wanted

    def start_reminders(self) -> None:
        """Read the reminders' index (in the background) and wake chats as they owe."""
        if self.alarm is not None:
            self.alarm.start()

    async def close(self) -> None:
        """Finish what was taken (bounded), then leave in held-updates.json what is not;
        the reminders' index is closed last, after the workers' last words to it."""
        await self.pool.close(grace=CLOSE_SECONDS)
        if self.alarm is not None:
            await self.alarm.close()
        await self.held.close()


def wire(
    username: str,
    data_dir: Path,
    tz: tzinfo,
    outbox: Outbox,
    admins: Admins,
    idle_seconds: float = 300.0,
    *,
    remind_lead: int | None = None,
) -> Core:
    """The pool over `data_dir`'s files with its held updates and refusals, and the
    dispatcher that routes updates to it; with `remind_lead`, the reminders' timer."""
    pool = Pool(Store(data_dir), outbox, tz=tz, idle_seconds=idle_seconds)
    held = Held(data_dir)
    pool.keep_records = lambda: held.ids
    alarm = None
    if remind_lead is not None:
        alarm = Alarm(data_dir, functools.partial(_remind, pool), tz=tz, lead=remind_lead)
        pool.alarm, pool.remind_lead = alarm, remind_lead
    pool.verdicts = held
    dispatcher = Dispatcher(pool=pool, bot_username=username, admins=admins)
    dispatcher.include_routers(telegram.router, intro.router)
    return Core(pool, held, dispatcher, alarm)


async def _remind(pool: Pool, chat_id: int) -> None:
    """The timer's word to a chat's worker: send what its file says is owed now."""
    kind: ChatKind = "group" if chat_id < 0 else "private"
    with contextlib.suppress(RuntimeError):  # the pool is closing: owed at the next start
        await pool.submit(Request(0, chat_id, kind, None, 0, REMIND))


async def resubmit_held(pool: Pool, held: Held) -> None:
    """Submit again what the last run held and did not finish: Telegram will not send
    those updates again (they were confirmed), and their chats' dedupe records answer
    what was applied already instead of applying it twice."""
    requests = await in_thread(held.load)
    if requests:
        log.info("finishing %d updates held by the last run", len(requests))
    for request in requests:
        held.watch(await pool.submit(request))


def freeze_start_up_objects() -> None:
    """Put what start-up built out of the garbage collector's reach. aiogram's import
    leaves about 190,000 objects (its pydantic types) that live as long as the process;
    a full collection walks them all, stalling every chat for about 0.1 s in the middle
    of a burst (seen in `python -m bench burst`), only to free nothing. No collection
    first: it would cost 0.15 s of start-up to free the 29 objects found garbage then."""
    gc.freeze()


def _on_signal(stopping: asyncio.Event, notifier: Notifier) -> None:
    notifier.stopping()  # at once: the drain that follows may take seconds
    stopping.set()


class _Life:
    """The running bot as systemd sees it: readiness, then a heartbeat with a summary."""

    def __init__(self, notifier: Notifier, pool: Pool) -> None:
        self.notifier = notifier
        self.pool = pool
        self.phase = "starting"
        self.webhook: webhook.WebhookHandler | None = None
        self.heartbeat: asyncio.Task[None] | None = None

    def ready(
        self,
        mode: str,
        started: Callable[[str], str],
        handler: webhook.WebhookHandler | None = None,
    ) -> None:
        self.phase, self.webhook = mode, handler
        log.info("%s", started(mode))
        self.notifier.ready(self.status())
        self.heartbeat = asyncio.create_task(
            self.notifier.heartbeat(self.status), name="systemd-heartbeat"
        )

    def status(self) -> str:
        text = f"{self.phase}: {self.pool.active} chats active, {self.pool.queued} commands queued"
        if self.webhook is not None:
            text += f", {self.webhook.in_flight} requests in flight"
        return text

    async def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
