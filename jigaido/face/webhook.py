"""Webhook mode: Telegram POSTs each update to a small aiohttp listener.

An update's request is answered 200 only once its effect is on disk and its answer
has been sent, the webhook counterpart of the poller's offset: if the bot dies first,
Telegram delivers the update again and the chat's dedupe records answer it without
applying it twice. aiogram's `SimpleRequestHandler` answers before the handler has
run, so it cannot keep this promise and is not used.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramBadRequest
from aiohttp import web

from jigaido.core.errors import ConfigError
from jigaido.face import botapi, telegram
from jigaido.face.settings import WebhookSettings
from jigaido.face.updates import Unreadable, read
from jigaido.shell.held import Held

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# On SIGTERM, how long requests in flight may take to finish before they are cut
# (Telegram then delivers those updates again).
DRAIN_SECONDS = 8.0
# A request not done this long after it came is held on disk and answered 200: while it
# is open, it keeps one of the connections Telegram delivers updates over.
HOLD_SECONDS = 10.0


class WebhookHandler:
    """The aiohttp handler: check the secret, feed the update, answer once it is done."""

    def __init__(
        self, bot: Bot, dispatcher: Dispatcher, held: Held, secret: str, stopping: asyncio.Event
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.held = held
        self.secret = secret.encode()
        self.stopping = stopping
        self.in_flight = 0

    async def __call__(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.secret):
            log.warning("refused a webhook request from %s without the secret", request.remote)
            return web.Response(status=401, text="wrong or missing secret token")
        if self.stopping.is_set():
            # Not taken, so not lost: Telegram delivers it again after the restart.
            return web.Response(status=503, text="stopping; send it again later")
        self.in_flight += 1
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: web.Request) -> web.Response:
        """Feed the update and answer 200 once it is done, or once it is held on disk to
        be finished later (past HOLD_SECONDS: a slow chat must not keep Telegram's
        connection, and the updates queued behind it, waiting). An update that aiogram cannot
        read (a legacy forward, say) is logged and answered 200 all the same: dropped,
        since Telegram would deliver it again after any other answer, for 24 hours, and
        it would never read better. A body that is not JSON is no update of Telegram's:
        400."""
        try:
            body = await request.json()
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both
            log.error("a webhook request with the right secret is not JSON: %s", e)
            return web.Response(status=400, text="not JSON")
        update = read(body, self.bot)
        if isinstance(update, Unreadable):
            log.error("%s dropped, aiogram cannot read it (%s)", update.name, update.why)
            return web.Response(status=200)
        job = await telegram.feed(self.dispatcher, self.bot, update)
        if job is None:
            return web.Response(status=200)
        # Shielded: a closed connection must not cancel the chat worker's job.
        await asyncio.wait([asyncio.shield(job.done)], timeout=HOLD_SECONDS)
        if not job.finished and not await self.held.hold([job]):
            await asyncio.shield(job.done)  # the disk refused: wait for the job itself
        if job.finished or job.request.update_id in self.held.ids:
            return web.Response(status=200)
        # The pool gave up on it (stopping): Telegram must send it again.
        return web.Response(status=503, text="not done; send it again later")


async def serve(
    bot: Bot,
    dispatcher: Dispatcher,
    held: Held,
    settings: WebhookSettings,
    stopping: asyncio.Event,
    on_ready: Callable[[WebhookHandler], None],
) -> None:
    """Listen, register the webhook, serve until `stopping`, then finish the requests in
    flight (bounded by DRAIN_SECONDS) and return."""
    handler = WebhookHandler(bot, dispatcher, held, settings.secret, stopping)
    app = web.Application()
    app.router.add_post(settings.path, handler)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=DRAIN_SECONDS
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as e:
            raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {e}") from e
        where = ", ".join(_address(a) for a in runner.addresses)
        log.info("listening on %s for %s", where, settings.url)
        if not await _register(bot, dispatcher, settings, stopping):
            return
        on_ready(handler)
        await stopping.wait()
        if handler.in_flight:
            log.info("waiting for %d webhook requests in flight", handler.in_flight)
    finally:
        # Stops listening, closes idle connections, waits for requests in flight.
        await runner.cleanup()


async def _register(
    bot: Bot, dispatcher: Dispatcher, settings: WebhookSettings, stopping: asyncio.Event
) -> bool:
    """setWebhook, retried while the network is down; False if stopped first."""

    async def set_webhook() -> bool:
        try:
            return await bot.set_webhook(
                url=settings.url,
                secret_token=settings.secret,
                allowed_updates=dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
        except TelegramBadRequest as e:  # the URL or the secret: no retry mends it
            raise ConfigError(f"Telegram refused the webhook {settings.url}: {e.message}") from e

    return await botapi.until_answered(set_webhook, "setWebhook", stopping) is not None


def _address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
