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
from aiogram.types import Update
from aiohttp import web

from jigaido import botapi, telegram
from jigaido.errors import ConfigError
from jigaido.settings import WebhookSettings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# On SIGTERM, how long requests in flight may take to finish before they are cut
# (Telegram then delivers those updates again).
DRAIN_SECONDS = 8.0


class WebhookHandler:
    """The aiohttp handler: check the secret, feed the update, answer once it is done."""

    def __init__(
        self, bot: Bot, dispatcher: Dispatcher, secret: str, stopping: asyncio.Event
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
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
        try:
            update = Update.model_validate(await request.json(), context={"bot": self.bot})
        except ValueError as e:  # pydantic's ValidationError is one too
            log.error("a webhook request with the right secret is not an update: %s", e)
            return web.Response(status=400, text="not a Telegram update")
        done = await telegram.feed(self.dispatcher, self.bot, update)
        if done is not None:
            # Shielded: a closed connection must not cancel the chat worker's job.
            await asyncio.shield(done)
        return web.Response(status=200)


async def serve(
    bot: Bot,
    dispatcher: Dispatcher,
    settings: WebhookSettings,
    stopping: asyncio.Event,
    on_ready: Callable[[WebhookHandler], None],
) -> None:
    """Listen, register the webhook, serve until `stopping`, then finish the requests in
    flight (bounded by DRAIN_SECONDS) and return."""
    handler = WebhookHandler(bot, dispatcher, settings.secret, stopping)
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
