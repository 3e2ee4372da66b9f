"""The Bot API retry loop that getMe, getUpdates and setWebhook share."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError
from aiogram.methods import GetMe

from jigaido.core.errors import ConfigError
from jigaido.face import botapi

pytestmark = pytest.mark.anyio


class Flaky:
    """Fails `failures` times with `error`, then answers "ok"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def network_error() -> TelegramNetworkError:
    return TelegramNetworkError(GetMe(), "connection refused")


async def test_transient_failures_are_retried_with_growing_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failures are retried after backoff(1), backoff(2), ...; warnings at first, errors
    from the third in a row, each naming the call."""
    waits: list[int] = []
    call = Flaky(4, network_error())

    def backoff(failures: int) -> float:
        waits.append(failures)
        return 0.0

    with caplog.at_level(logging.WARNING, logger="jigaido.face.botapi"):
        assert await botapi.until_answered(call, "getMe", asyncio.Event(), backoff) == "ok"
    assert call.calls == 5
    assert waits == [1, 2, 3, 4]
    assert [(r.name, r.levelname) for r in caplog.records] == [
        ("jigaido.face.botapi.getMe", "WARNING"),
        ("jigaido.face.botapi.getMe", "WARNING"),
        ("jigaido.face.botapi.getMe", "ERROR"),
        ("jigaido.face.botapi.getMe", "ERROR"),
    ]


async def test_the_default_backoff_doubles_up_to_thirty_seconds() -> None:
    assert [botapi.backoff_seconds(n) for n in (1, 2, 3, 5, 6, 20)] == [1, 2, 4, 16, 30, 30]


async def test_stopping_ends_the_wait_and_returns_none() -> None:
    """Set while waiting to retry, `stopping` ends the wait at once."""
    stopping = asyncio.Event()
    call = Flaky(1000, network_error())
    asyncio.get_running_loop().call_later(0.05, stopping.set)
    async with asyncio.timeout(5):  # the backoff asked for an hour
        assert await botapi.until_answered(call, "getUpdates", stopping, lambda _: 3600) is None
    assert call.calls == 1


async def test_a_refused_token_is_a_config_error_at_once() -> None:
    call = Flaky(1000, TelegramUnauthorizedError(GetMe(), "Unauthorized"))
    with pytest.raises(ConfigError, match="refused the bot token"):
        await botapi.until_answered(call, "getMe", asyncio.Event(), lambda _: 0.0)
    assert call.calls == 1


async def test_other_errors_are_not_retried() -> None:
    """Only what may pass is retried: a bug propagates."""
    call = Flaky(1000, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await botapi.until_answered(call, "getMe", asyncio.Event(), lambda _: 0.0)
    assert call.calls == 1


async def test_an_unreachable_bot_api_is_said_once_plainly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the third failure in a row, one ERROR line says the Bot API at that address
    cannot be reached and what to check; not again while it keeps failing."""
    call = Flaky(8, network_error())
    where = "http://127.0.0.1:9"
    with caplog.at_level(logging.WARNING, logger="jigaido.face.botapi"):
        assert await botapi.until_answered(call, "getMe", asyncio.Event(), lambda _: 0.0, where)
    plain = [r.getMessage() for r in caplog.records if r.name == "jigaido.face.botapi"]
    assert plain == [
        f"the Bot API at {where} cannot be reached (HTTP Client says - connection refused): "
        "check the network, TELEGRAM_API_URL and any proxy or firewall; trying again every "
        "30 s at most"
    ]
