"""Reading getUpdates answers that aiogram refuses: update by update, the unreadable
ones named by their update_id and why, the answer itself retried when it is not one."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiohttp import web

from jigaido.face import botapi
from jigaido.face.updates import (
    MAX_PROBLEMS,
    Unreadable,
    UnreadableAnswer,
    get_updates,
    read,
    split,
)
from tests.e2e.fakeapi import FakeBotAPI

USER = 100
TOKEN = "42:TEST"


def legacy_forward(chat_id: int, message_id: int = 7) -> dict[str, Any]:
    """A private message forwarded from a user who hides their account, long before
    `forward_origin` existed: Telegram sends a `hidden_user` origin with only `type`
    and `date`, no `sender_user_name` (aiogram/aiogram#1840, forward date 2015-01-28).
    aiogram 3.31 takes `sender_user_name` as required."""
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"},
        "forward_origin": {"type": "hidden_user", "date": 1422450181},
        "forward_date": 1422450181,
        "text": "a secret from 2015",
    }


def command(update_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": USER, "type": "private", "first_name": "Ann"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


@pytest.fixture
def bot() -> Bot:
    """A bot that never connects: reading updates needs it only to bind them to."""
    return Bot(TOKEN)


def test_the_legacy_forward_is_what_aiogram_refuses(bot: Bot) -> None:
    """The payload of the bug: aiogram cannot read it, and so not a getUpdates answer
    holding it (the whole answer fails)."""
    answer = {
        "ok": True,
        "result": [command(1, "/bounty"), {"update_id": 2, "message": legacy_forward(USER)}],
    }
    with pytest.raises(ClientDecodeError):
        bot.session.check_response(bot, GetUpdates(), 200, bot.session.json_dumps(answer))


def test_split_keeps_the_readable_updates_in_order_and_names_the_unreadable(bot: Bot) -> None:
    """A legacy forward between two commands: the commands come out as Updates bound to
    the bot, the forward as Unreadable with its update_id and the field at fault, all in
    the answer's order, and the reason carries none of the message's text."""
    entries = split(
        [
            command(10, "/add one"),
            {"update_id": 11, "message": legacy_forward(USER)},
            command(12, "/my"),
        ],
        bot,
    )
    first, bad, last = entries
    assert isinstance(first, Update)
    assert isinstance(last, Update)
    assert (first.update_id, last.update_id) == (10, 12)
    assert first.message is not None
    assert first.message.text == "/add one"
    assert first.message.bot is bot, "bound, so handlers can answer through it"
    assert isinstance(bad, Unreadable)
    assert bad.update_id == 11
    assert bad.name == "update 11"
    assert bad.why == "message.forward_origin.hidden_user.sender_user_name: Field required"
    assert "a secret" not in bad.why, "no user text in the log"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ([1, 2], "a JSON array, not an object"),
        ("update", "a JSON string, not an object"),
        (None, "a JSON null, not an object"),
        ({"message": legacy_forward(USER)}, "no update_id"),
        (
            {"update_id": True, "message": legacy_forward(USER)},
            "update_id is a JSON boolean, not an integer",
        ),
        ({"update_id": "13"}, "update_id is a JSON string, not an integer"),
        ({"update_id": 1.5}, "update_id is a JSON number, not an integer"),
    ],
)
def test_an_entry_without_a_usable_update_id_is_unreadable_without_one(
    bot: Bot, entry: object, why: str
) -> None:
    """Not an object, no update_id, or one that is not an integer (aiogram itself would
    take True for 1): unreadable, with no update_id to confirm it by."""
    [unreadable] = split([entry], bot)
    assert unreadable == Unreadable(None, why)
    assert unreadable.name == "an update without a usable update_id"


def test_an_update_wrong_in_many_places_names_a_few(bot: Bot) -> None:
    """An id but garbage inside: unreadable by that id; the reason lists at most
    MAX_PROBLEMS of pydantic's complaints and counts the rest."""
    assert read({"update_id": 5, "message": "nope"}, bot) == Unreadable(
        5, "message: Input should be a valid dictionary or instance of Message"
    )
    garbage = {"update_id": 6, "message": {"message_id": "x", "date": "y", "chat": 1, "text": 2}}
    unreadable = read(garbage, bot)
    assert isinstance(unreadable, Unreadable)
    assert unreadable.update_id == 6
    assert unreadable.why.count("; ") == MAX_PROBLEMS - 1
    assert unreadable.why.endswith(" more)")


async def test_get_updates_asks_again_for_the_same_updates_and_reads_them_one_by_one() -> None:
    """Against a Bot API at its own address (as a self-hosted one is): when aiogram
    cannot read the answer, the same request goes again (same offset, limit and update
    types, no long poll) to the same server, and comes back read update by update."""
    async with FakeBotAPI(token=TOKEN, first_update_id=20) as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        try:
            api.push_message(USER, "/add one")
            api.push_raw({"message": legacy_forward(USER)})
            api.push_message(USER, "/my")
            method = GetUpdates(offset=20, limit=50, timeout=5, allowed_updates=["message"])
            entries = await get_updates(bot, method, request_timeout=10)
        finally:
            await bot.session.close()
    assert [type(e) for e in entries] == [Update, Unreadable, Update]
    assert [e.update_id for e in entries] == [20, 21, 22]
    first, again = api.calls_to("getUpdates")
    assert first.params == {"offset": 20, "limit": 50, "timeout": 5, "allowed_updates": ["message"]}
    assert again.params == {**first.params, "timeout": 0}


async def test_a_readable_answer_is_read_by_aiogram_in_one_request() -> None:
    """No unreadable update: one request, aiogram's own Updates."""
    async with FakeBotAPI(token=TOKEN) as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        try:
            api.push_message(USER, "/add one")
            entries = await get_updates(bot, GetUpdates(timeout=0), request_timeout=10)
        finally:
            await bot.session.close()
    assert [type(e) for e in entries] == [Update]
    assert len(api.calls_to("getUpdates")) == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON: Expecting value"),
        (
            '{"ok": true, "result": {"update_id": 1}}',
            "not a Bot API answer: result: Input should be a valid list",
        ),
        ('[{"update_id": 1}]', "not a Bot API answer: "),
        ('{"ok": true}', "ok, but no list of updates"),
        (
            '{"ok": true, "result": [1, {"message": {}}]}',
            "no entry has a usable update_id (a JSON number",
        ),
    ],
)
async def test_an_answer_that_is_not_a_list_of_updates_is_retried(body: str, problem: str) -> None:
    """A proxy's error page, or JSON that is no getUpdates answer, or one without a
    single update_id to confirm past: UnreadableAnswer, a failure botapi retries with
    backoff, never a crash; its message says what was wrong but not the answer itself."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
        bot = Bot(TOKEN, session=AiohttpSession(api=server))
        try:
            with pytest.raises(UnreadableAnswer) as raised:
                await get_updates(bot, GetUpdates(timeout=0), request_timeout=10)
        finally:
            await bot.session.close()
    finally:
        await runner.cleanup()
    assert isinstance(raised.value, botapi.TRANSIENT)
    assert problem in str(raised.value)
    assert "502 Bad Gateway" not in str(raised.value)
