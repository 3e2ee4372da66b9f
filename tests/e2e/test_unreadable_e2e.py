"""An update aiogram cannot read, met by the real bot process: skipped and logged once,
never fatal, in long polling and in webhook mode alike."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess
from tests.e2e.test_webhook_e2e import GROUP, HEADER, SECRET, WebhookBot, message_update
from tests.test_updates import legacy_forward

USER = 100  # a private chat: its id is its user's


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(r"(^|\s)ERROR\s", line)]


async def test_polling_skips_an_unreadable_update_and_serves_on(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """A legacy forward between two commands in one batch: both commands are answered,
    the forward is confirmed past and logged once at ERROR with its update_id, and the
    bot keeps running. The first answer is held back by a 429, so the batch comes back
    (forward included) while the bot waits, and it is still logged only once."""
    api.fail_next_sends(1, 429, retry_after=2)
    # No await between the pushes: the bot's long poll takes all three at once.
    api.push_message(USER, "/add before it")
    bad = api.push_raw({"message": legacy_forward(USER, message_id=90)})
    after = api.push_message(USER, "/add after it")
    await api.wait_confirmed(after, timeout=30)
    assert api.confirmed_below > bad
    # Both answers wait behind the 429, so they may come merged into one message.
    shown = "\n".join(s.plain for s in api.sent_to(USER))
    assert shown.index("✅ Added #1: before it") < shown.index("✅ Added #2: after it"), shown
    assert len(api.calls_to("getUpdates")) > 3, "the batch was fetched again meanwhile"
    assert not bot.exited, bot.log
    [line] = error_lines(bot.log)
    assert f"update {bad} " in line, line
    assert "sender_user_name" in line, "says why"
    assert "Traceback" not in bot.log, bot.log


async def test_webhook_drops_an_unreadable_update_with_200(api: FakeBotAPI, tmp_path: Path) -> None:
    """With the right secret, a legacy forward is answered 200 (Telegram would resend
    anything else forever) and logged once at ERROR with its update_id; a body that
    is not JSON at all is still 400; the updates around them are served."""
    bot = WebhookBot(api, tmp_path / "data", tmp_path / "bot.log", JIGAIDO_WEBHOOK_SECRET=SECRET)
    await bot.start()
    try:
        async with aiohttp.ClientSession(headers={HEADER: SECRET}) as http:

            async def post(body: object) -> int:
                async with http.post(bot.listener, json=body) as response:
                    return response.status

            assert await post(message_update(20, "/add first", 20)) == 200
            bad = {"update_id": 21, "message": legacy_forward(USER, message_id=21)}
            assert await post(bad) == 200
            async with http.post(bot.listener, data=b'{"update_id": 22, "mess') as response:
                assert response.status == 400
            assert await post(message_update(23, "/add second", 23)) == 200
        assert not bot.exited, bot.log
    finally:
        status = await bot.stop()
    assert status == 0, bot.log
    assert [s.plain for s in api.sent_to(GROUP)] == ["✅ Added #1: first", "✅ Added #2: second"]
    errors = error_lines(bot.log)
    [dropped] = [line for line in errors if "update 21 " in line]
    assert "sender_user_name" in dropped, dropped
    assert "Traceback" not in bot.log, bot.log
