"""Sending answers: every message goes through here, retried when Telegram or the
network asks for it, never dropped silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jigaido.errors import ChatMoved, RetryLater, Undeliverable

log = logging.getLogger(__name__)

# A transient network failure is retried this many times, backing off up to MAX_BACKOFF;
# a 429 is always retried after the wait Telegram names.
NETWORK_ATTEMPTS = 8
MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Reply:
    chat_id: int
    texts: tuple[str, ...]
    reply_to: int | None = None  # the command's message, in groups
    thread_id: int | None = None  # the forum topic the command came from


# chat_id, HTML text, message to reply to, forum topic. Raises RetryLater, ChatMoved
# or Undeliverable; the face translates aiogram's exceptions into these.
SendFunc = Callable[[int, str, int | None, int | None], Awaitable[None]]


class Outbox:
    def __init__(
        self, send: SendFunc, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self._send = send
        self._sleep = sleep
        self.sent = 0
        self.failed = 0

    async def deliver(self, reply: Reply) -> bool:
        """Send every part of `reply` in order; False if Telegram refused it for good."""
        for text in reply.texts:
            if not await self._send_one(reply.chat_id, text, reply.reply_to, reply.thread_id):
                return False
        return True

    async def _send_one(
        self, chat_id: int, text: str, reply_to: int | None, thread: int | None
    ) -> bool:
        network_failures = 0
        while True:
            try:
                await self._send(chat_id, text, reply_to, thread)
            except RetryLater as e:
                if not e.is_flood:
                    network_failures += 1
                    if network_failures >= NETWORK_ATTEMPTS:
                        log.error(
                            "chat %s: answer not sent after %d tries: %s",
                            chat_id,
                            network_failures,
                            e,
                        )
                        self.failed += 1
                        return False
                log.info("chat %s: %s", chat_id, e)
                await self._sleep(
                    e.seconds if e.is_flood else min(MAX_BACKOFF, 0.5 * 2**network_failures)
                )
            except ChatMoved as e:
                log.info("chat %s: moved to %s, sending there", chat_id, e.new_chat_id)
                chat_id, reply_to = e.new_chat_id, None
            except Undeliverable as e:
                log.warning("chat %s: Telegram refused the answer: %s", chat_id, e)
                self.failed += 1
                return False
            else:
                self.sent += 1
                return True
