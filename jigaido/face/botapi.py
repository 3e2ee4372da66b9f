"""Calling the Bot API until it answers: the one retry loop of getMe, getUpdates and
setWebhook (answers to chats have their own, in the outbox)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError

from jigaido.core.errors import ConfigError

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
UNREACHABLE_AFTER = 3  # failures in a row: about 3.5 s of trying
# Failures that may pass: the network, Telegram's own hiccups, a timeout.
TRANSIENT = (TelegramAPIError, TelegramNetworkError, OSError, TimeoutError)

T = TypeVar("T")


def backoff_seconds(failures: int) -> float:
    return min(MAX_BACKOFF, 0.5 * 2.0**failures)


async def until_answered(
    call: Callable[[], Awaitable[T]],
    what: str,
    stopping: asyncio.Event,
    backoff: Callable[[int], float] = backoff_seconds,
    where: str | None = None,
) -> T | None:
    """`call()`'s result, retried after `backoff(failures in a row)` seconds while it
    fails transiently; None once `stopping` is set. A refused token raises ConfigError
    at once: no retry can mend it. At the third failure in a row it says once, plainly,
    that the Bot API at `where` cannot be reached and what to check (the retry lines
    alone are throttled to one a minute, which reads as a bot gone quiet)."""
    failures = 0
    while not stopping.is_set():
        try:
            return await call()
        except TelegramUnauthorizedError as e:
            raise ConfigError("Telegram refused the bot token (401 Unauthorized)") from e
        except TRANSIENT as e:
            failures += 1
            delay = backoff(failures)
            # One failure is the network's weather; several in a row need a look.
            level = logging.WARNING if failures < 3 else logging.ERROR
            # A logger per call, so the log's rate limit (per logger and template)
            # does not let getMe's failures hide getUpdates' ones.
            log.getChild(what).log(level, "failed (%s); retrying in %.1f s", e, delay)
            if failures == UNREACHABLE_AFTER and where is not None:
                log.error(
                    "the Bot API at %s cannot be reached (%s): check the network, "
                    "TELEGRAM_API_URL and any proxy or firewall; trying again every %.0f s "
                    "at most",
                    where,
                    e,
                    MAX_BACKOFF,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
    return None
