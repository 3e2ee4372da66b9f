"""The fake Bot API itself, driven by a real aiogram client over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    LinkPreviewOptions,
    ReplyParameters,
    Update,
)

from tests.e2e.fakeapi import GROUP_ANONYMOUS_BOT_ID, FakeBotAPI, html_times, parse_html

# `api` (a started FakeBotAPI) comes from tests/e2e/conftest.py.


def make_client(api: FakeBotAPI, token: str | None = None) -> Bot:
    server = TelegramAPIServer.from_base(api.url)
    return Bot(token or api.token, session=AiohttpSession(api=server))


@pytest.fixture
async def client(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """An aiogram Bot talking to the fake; its session is closed afterwards."""
    bot = make_client(api)
    try:
        yield bot
    finally:
        await bot.session.close()


# -- basics --------------------------------------------------------------


async def test_get_me_describes_the_configured_bot(client: Bot) -> None:
    """getMe answers with the bot user built from the constructor arguments."""
    with anyio.fail_after(5):
        me = await client.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        42,
        True,
        "Jigaido",
        "jigaido_test_bot",
    )
    assert me.can_join_groups is True


async def test_url_is_loopback_with_the_bound_port(api: FakeBotAPI) -> None:
    """The server listens on 127.0.0.1 on a port chosen by the OS."""
    assert api.url.startswith("http://127.0.0.1:")
    assert int(api.url.rsplit(":", 1)[1]) > 0


async def test_set_my_commands_is_recorded_with_decoded_params(
    api: FakeBotAPI, client: Bot
) -> None:
    """setMyCommands returns true and its JSON parameters are recorded as Python objects."""
    with anyio.fail_after(5):
        ok = await client.set_my_commands(
            [BotCommand(command="add", description="Add a bounty")],
            scope=BotCommandScopeAllGroupChats(),
        )
    assert ok is True
    [call] = api.calls_to("setMyCommands")
    assert call.method == "setMyCommands"
    assert call.params["commands"] == [{"command": "add", "description": "Add a bounty"}]
    assert call.params["scope"] == {"type": "all_group_chats"}
    assert api.commands_for({"type": "all_group_chats"}) == call.params["commands"]
    assert api.commands_for() is None


async def test_lifecycle_methods_answer_true(api: FakeBotAPI, client: Bot) -> None:
    """deleteMyCommands, deleteWebhook, close and logOut answer true and are recorded."""
    with anyio.fail_after(5):
        assert await client.delete_my_commands() is True
        assert await client.delete_webhook(drop_pending_updates=False) is True
        assert await client.close() is True
        assert await client.log_out() is True
    assert [c.method for c in api.calls] == ["deleteMyCommands", "deleteWebhook", "close", "logOut"]
    assert api.calls[1].params == {"drop_pending_updates": False}


async def test_webhook_blocks_polling_and_delete_can_drop_pending(
    api: FakeBotAPI, client: Bot
) -> None:
    """While a webhook is set getUpdates is a 409; deleteWebhook can drop pending updates."""
    update_id = api.push_message(7, "old")
    with anyio.fail_after(5):
        await client.set_webhook("https://example.org/hook")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await client.get_updates()
        await client.delete_webhook(drop_pending_updates=True)
        assert await client.get_updates() == []
    assert api.confirmed_below == update_id + 1


async def test_wrong_token_is_unauthorized(api: FakeBotAPI) -> None:
    """A token other than the configured one gets 401, which aiogram raises."""
    other = make_client(api, token="43:WRONG")
    try:
        with anyio.fail_after(5), pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await other.get_me()
    finally:
        await other.session.close()
    assert api.calls == []


async def test_unknown_methods_are_404_and_names_are_case_insensitive(api: FakeBotAPI) -> None:
    """An unknown method answers 404 in Telegram's shape; method names ignore case."""
    with anyio.fail_after(5):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{api.url}/bot{api.token}/frobnicate") as response:
                assert response.status == 404
                assert await response.json() == {
                    "ok": False,
                    "error_code": 404,
                    "description": "Not Found",
                }
            async with http.post(f"{api.url}/bot{api.token}/GETME") as response:
                assert response.status == 200
                body = await response.json()
    assert body["ok"] is True
    assert body["result"]["id"] == 42
    assert [c.method for c in api.calls] == ["frobnicate", "getMe"]


# -- getUpdates -----------------------------------------------------------


async def test_get_updates_confirms_below_offset_and_refetches_the_rest(
    api: FakeBotAPI, client: Bot
) -> None:
    """An offset deletes older updates; unconfirmed ones come back on the next call."""
    ids = [api.push_message(7, f"m{i}") for i in range(3)]
    assert ids == [1000, 1001, 1002]
    with anyio.fail_after(5):
        first = await client.get_updates()
        assert [u.update_id for u in first] == ids
        again = await client.get_updates(offset=ids[1])
        assert [u.update_id for u in again] == ids[1:]
        assert api.pending_update_ids() == ids[1:]
        assert api.confirmed_below == ids[1]
        still = await client.get_updates(offset=ids[1])
        assert [u.update_id for u in still] == ids[1:]
        done = await client.get_updates(offset=ids[2] + 1)
    assert done == []
    assert api.pending_update_ids() == []
    assert api.confirmed_below == ids[2] + 1
    assert api.get_updates_calls == 4


async def test_get_updates_returns_at_most_limit(api: FakeBotAPI, client: Bot) -> None:
    """limit caps the batch, in update order; more than 100 is clamped to 100."""
    ids = [api.push_message(7, f"m{i}") for i in range(105)]
    with anyio.fail_after(5):
        two = await client.get_updates(limit=2, allowed_updates=["message"])
        many = await client.get_updates(limit=500)
    assert [u.update_id for u in two] == ids[:2]
    assert [u.update_id for u in many] == ids[:100]
    assert api.allowed_updates == ["message"]


async def test_negative_offset_keeps_only_the_last_updates(api: FakeBotAPI, client: Bot) -> None:
    """offset=-n forgets all but the last n pending updates, as Telegram does."""
    ids = [api.push_message(7, f"m{i}") for i in range(4)]
    with anyio.fail_after(5):
        last = await client.get_updates(offset=-1)
    assert [u.update_id for u in last] == ids[-1:]
    assert api.pending_update_ids() == ids[-1:]
    assert api.confirmed_below == ids[-1]


async def test_long_poll_returns_as_soon_as_an_update_arrives(api: FakeBotAPI, client: Bot) -> None:
    """A waiting getUpdates answers with an update pushed while it waits."""
    got: list[list[Update]] = []

    async def poll() -> None:
        got.append(await client.get_updates(timeout=30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await api.wait_until(lambda: api.get_updates_calls == 1)
            update_id = api.push_message(7, "hello")
    assert [[u.update_id for u in batch] for batch in got] == [[update_id]]


async def test_long_poll_times_out_with_an_empty_list(client: Bot) -> None:
    """With nothing pending, getUpdates waits its timeout and answers []."""
    started = time.monotonic()
    with anyio.fail_after(5):
        updates = await client.get_updates(timeout=1)
    assert updates == []
    assert time.monotonic() - started >= 0.9


async def test_stop_ends_a_long_poll_promptly(api: FakeBotAPI, client: Bot) -> None:
    """Stopping the server answers a waiting getUpdates at once instead of at its timeout."""
    got: list[list[Update]] = []

    async def poll() -> None:
        got.append(await client.get_updates(timeout=30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await api.wait_until(lambda: api.get_updates_calls == 1)
            started = time.monotonic()
            await api.stop()
    assert got == [[]]
    assert time.monotonic() - started < 0.5


async def test_a_newer_get_updates_ends_an_older_one(api: FakeBotAPI, client: Bot) -> None:
    """Two pollers: the older request fails with 409 Conflict, as with two bot instances."""
    errors: list[Exception] = []

    async def poll() -> None:
        try:
            await client.get_updates(timeout=30)
        except TelegramConflictError as exc:
            errors.append(exc)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await api.wait_until(lambda: api.get_updates_calls == 1)
            assert await client.get_updates(timeout=0) == []
    assert len(errors) == 1
    assert "terminated by other getUpdates request" in str(errors[0])


async def test_wait_confirmed_returns_once_the_offset_passes(api: FakeBotAPI, client: Bot) -> None:
    """wait_confirmed wakes when a getUpdates offset confirms the update."""
    update_id = api.push_message(7, "hi")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(api.wait_confirmed, update_id)
            await client.get_updates(offset=update_id + 1)
    assert api.pending_update_ids() == []


async def test_wait_confirmed_times_out_with_a_clear_message(api: FakeBotAPI) -> None:
    """Without a confirming offset, wait_confirmed fails naming the update."""
    update_id = api.push_message(7, "hi")
    with anyio.fail_after(5), pytest.raises(AssertionError, match=f"update {update_id} not"):
        await api.wait_confirmed(update_id, timeout=0.05)


# -- building updates -----------------------------------------------------


async def test_pushed_private_command_parses_as_aiogram_update(
    api: FakeBotAPI, client: Bot
) -> None:
    """A private message has chat id = user id and a bot_command entity for its command."""
    api.push_message(555, "/add@jigaido_test_bot 10 fix it", username="ann", first_name="Ann")
    with anyio.fail_after(5):
        [update] = await client.get_updates()
    message = update.message
    assert message is not None
    assert message.chat.id == 555
    assert message.chat.type == "private"
    assert message.from_user is not None
    assert (message.from_user.id, message.from_user.username) == (555, "ann")
    assert message.text == "/add@jigaido_test_bot 10 fix it"
    assert message.entities is not None
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bot_command", 0, len("/add@jigaido_test_bot"))
    ]


async def test_pushed_group_variants_parse_as_aiogram_updates(api: FakeBotAPI, client: Bot) -> None:
    """Anonymous admins, topics, edits, fromless posts and migrations build valid updates."""
    api.push_message(-100, "/list", sender_chat={"id": -100, "type": "supergroup", "title": "G"})
    api.push_message(-100, "in topic", user_id=9, message_thread_id=3, is_topic_message=True)
    api.push_message(-100, "fixed", user_id=9, edited=True, message_id=2)
    api.push_message(-100, "channel-like", no_from=True)
    api.push_message(-5, migrate_to_chat_id=-1005)
    api.push_message(-1005, migrate_from_chat_id=-5)
    with anyio.fail_after(5):
        anon, topic, edit, fromless, old, new = await client.get_updates()

    assert anon.message is not None
    assert anon.message.from_user is not None
    assert anon.message.from_user.id == GROUP_ANONYMOUS_BOT_ID
    assert anon.message.from_user.is_bot is True
    assert anon.message.sender_chat is not None
    assert anon.message.sender_chat.id == -100
    assert anon.message.chat.type == "supergroup"

    assert topic.message is not None
    assert (topic.message.message_thread_id, topic.message.is_topic_message) == (3, True)
    assert topic.message.message_id == anon.message.message_id + 1

    assert edit.message is None
    assert edit.edited_message is not None
    assert edit.edited_message.message_id == 2
    assert edit.edited_message.edit_date is not None

    assert fromless.message is not None
    assert fromless.message.from_user is None

    assert old.message is not None
    assert old.message.chat.type == "group"
    assert old.message.migrate_to_chat_id == -1005
    assert old.message.text is None
    assert new.message is not None
    assert new.message.migrate_from_chat_id == -5


async def test_push_raw_assigns_the_next_update_id(api: FakeBotAPI, client: Bot) -> None:
    """push_raw queues an arbitrary update under the next update_id."""
    first = api.push_message(7, "a")
    raw_id = api.push_raw(
        {
            "my_chat_member": {
                "chat": {"id": -100, "type": "supergroup", "title": "G"},
                "from": {"id": 9, "is_bot": False, "first_name": "U"},
                "date": 0,
                "old_chat_member": {
                    "status": "left",
                    "user": {"id": 42, "is_bot": True, "first_name": "J"},
                },
                "new_chat_member": {
                    "status": "member",
                    "user": {"id": 42, "is_bot": True, "first_name": "J"},
                },
            }
        }
    )
    assert raw_id == first + 1
    with anyio.fail_after(5):
        _, update = await client.get_updates()
    assert update.my_chat_member is not None


# -- sendMessage ----------------------------------------------------------


async def test_send_message_is_recorded_with_decoded_options(api: FakeBotAPI, client: Bot) -> None:
    """sendMessage records chat, text, parse mode, reply, thread and preview options."""
    with anyio.fail_after(5):
        message = await client.send_message(
            -100,
            "<b>Bounty</b> &amp; more",
            parse_mode="HTML",
            message_thread_id=3,
            reply_parameters=ReplyParameters(message_id=17),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    [sent] = api.sent
    assert sent.chat_id == -100
    assert sent.text == "<b>Bounty</b> &amp; more"
    assert sent.plain == "Bounty & more"
    assert sent.parse_mode == "HTML"
    assert sent.reply_to_message_id == 17
    assert sent.message_thread_id == 3
    assert sent.disable_preview is True
    assert sent.params["reply_parameters"] == {"message_id": 17}
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert message.chat.id == -100
    assert message.chat.type == "supergroup"
    assert message.from_user is not None
    assert message.from_user.id == 42
    assert message.text == "Bounty & more"
    assert message.message_id == sent.message_id


async def test_send_message_defaults_and_message_ids_per_chat(api: FakeBotAPI, client: Bot) -> None:
    """Without options nothing is set; message ids count up per chat, after pushed ones."""
    api.push_message(7, "hi")
    with anyio.fail_after(5):
        a = await client.send_message(7, "42")
        b = await client.send_message(7, "again")
        c = await client.send_message(8, "other")
    assert (a.message_id, b.message_id, c.message_id) == (2, 3, 1)
    assert a.chat.type == "private"
    first = api.sent_to(7)[0]
    assert first.text == "42"
    assert (first.parse_mode, first.reply_to_message_id, first.message_thread_id) == (
        None,
        None,
        None,
    )
    assert first.disable_preview is False
    assert [s.text for s in api.sent_to(8)] == ["other"]


async def test_wait_for_sent_returns_once_enough_were_sent(api: FakeBotAPI, client: Bot) -> None:
    """wait_for_sent wakes on the request that reaches the count."""
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.send_message, 7, "one")
            tg.start_soon(client.send_message, 7, "two")
            sent = await api.wait_for_sent(2)
    assert sorted(s.text for s in sent) == ["one", "two"]


async def test_wait_for_sent_times_out_listing_what_was_sent(api: FakeBotAPI, client: Bot) -> None:
    """On timeout wait_for_sent fails with an AssertionError that shows the sent texts."""
    with anyio.fail_after(5):
        await client.send_message(7, "only this")
        with pytest.raises(AssertionError, match=r"at least 2 .*only this"):
            await api.wait_for_sent(2, timeout=0.05)


async def test_injected_429_raises_retry_after_then_sends(api: FakeBotAPI, client: Bot) -> None:
    """fail_next_sends(1) answers 429 with retry_after once; the next send goes through."""
    api.fail_next_sends(1, error_code=429, retry_after=3)
    with anyio.fail_after(5):
        with pytest.raises(TelegramRetryAfter) as caught:
            await client.send_message(7, "hi")
        await client.send_message(7, "hi")
    assert caught.value.retry_after == 3
    assert len(api.calls_to("sendMessage")) == 2
    assert [s.text for s in api.sent] == ["hi"]


async def test_injected_403_raises_forbidden(api: FakeBotAPI, client: Bot) -> None:
    """fail_next_sends can inject other codes, such as a blocked user's 403."""
    api.fail_next_sends(1, error_code=403)
    with anyio.fail_after(5), pytest.raises(TelegramForbiddenError, match="blocked"):
        await client.send_message(7, "hi")
    assert api.sent == []


async def test_sending_to_a_migrated_group_raises_migrate_to_chat(
    api: FakeBotAPI, client: Bot
) -> None:
    """A send to an upgraded group fails with migrate_to_chat_id set to the new chat."""
    api.migrated_chats[-5] = -1005
    with anyio.fail_after(5):
        with pytest.raises(TelegramMigrateToChat) as caught:
            await client.send_message(-5, "hi")
        await client.send_message(-1005, "hi")
    assert caught.value.migrate_to_chat_id == -1005
    assert [s.chat_id for s in api.sent] == [-1005]


@pytest.mark.parametrize(
    "text",
    [
        "<b>unclosed",
        "closed</b>",
        "<b><i>crossed</b></i>",
        "a < b",
        "line<br>break",
        "<span>no class</span>",
        "<a href=x>unquoted & bare</a>",
        "Tom & Jerry",
        "&nbsp;",
        "<b",
    ],
)
async def test_bad_html_is_rejected(api: FakeBotAPI, client: Bot, text: str) -> None:
    """Text that Telegram's HTML parser (or the fake's strict & rule) refuses is a 400."""
    with anyio.fail_after(5), pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await client.send_message(7, text, parse_mode="HTML")
    assert api.sent == []


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins>", "bsieun"),
        ("<s>s</s><strike>k</strike><del>d</del><code>c</code><pre>p</pre>", "skdcp"),
        ('<a href="https://x.org/?a=1&amp;b=2">link</a>', "link"),
        ('<tg-spoiler>x</tg-spoiler><span class="tg-spoiler">y</span>', "xy"),
        ("<blockquote expandable>q</blockquote>", "q"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
        ("&lt;&gt;&amp;&quot;&#39;&#x27;", "<>&\"''"),
        ("<B>upper</B> > fine", "upper > fine"),
    ],
)
async def test_good_html_is_accepted(api: FakeBotAPI, client: Bot, text: str, plain: str) -> None:
    """Every tag and entity Telegram allows passes and is stripped from the plain text."""
    assert parse_html(text) == plain
    with anyio.fail_after(5):
        message = await client.send_message(7, text, parse_mode="HTML")
    assert message.text == plain
    assert api.sent[0].plain == plain


async def test_markup_does_not_count_towards_the_length_limit(api: FakeBotAPI, client: Bot) -> None:
    """4,096 characters inside tags and entities are within the limit."""
    with anyio.fail_after(5):
        await client.send_message(7, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")
    assert len(api.sent[0].plain) == 4096


@pytest.mark.parametrize(
    "text",
    ["x" * 4097, "😀" * 2049],
    ids=["ascii", "astral counts twice in utf-16"],
)
async def test_too_long_text_is_rejected(api: FakeBotAPI, client: Bot, text: str) -> None:
    """More than 4,096 UTF-16 code units is 'message is too long'."""
    with anyio.fail_after(5), pytest.raises(TelegramBadRequest, match="message is too long"):
        await client.send_message(7, text)
    assert api.sent == []


@pytest.mark.parametrize(("text", "parse_mode"), [("", None), ("   ", None), ("<b></b>", "HTML")])
async def test_empty_text_is_rejected(
    api: FakeBotAPI, client: Bot, text: str, parse_mode: str | None
) -> None:
    """Text that is empty after parsing is 'message text is empty'."""
    with anyio.fail_after(5), pytest.raises(TelegramBadRequest, match="message text is empty"):
        await client.send_message(7, text, parse_mode=parse_mode)
    assert api.sent == []


# -- lifecycle -----------------------------------------------------------


async def test_restart_listens_on_the_same_port(api: FakeBotAPI, client: Bot) -> None:
    """After stop and start the server is back at the same URL with its state kept."""
    url = api.url
    update_id = api.push_message(7, "kept")
    with anyio.fail_after(5):
        await api.stop()
        await api.start()
        [update] = await client.get_updates()
    assert api.url == url
    assert update.update_id == update_id


# -- admins and date_time entities ----------------------------------------


async def test_get_chat_administrators_lists_the_admins_as_they_change(
    api: FakeBotAPI, client: Bot
) -> None:
    """getChatAdministrators answers the owner and admins aiogram can read, and follows
    changes made between calls."""
    api.admins[-1001] = [5, 6]
    with anyio.fail_after(5):
        first = await client.get_chat_administrators(-1001)
        api.admins[-1001] = [5]
        second = await client.get_chat_administrators(-1001)
        none = await client.get_chat_administrators(-1002)
    assert [(m.status, m.user.id) for m in first] == [("creator", 5), ("administrator", 6)]
    assert [m.user.id for m in second] == [5]
    assert none == []
    assert len(api.calls_to("getChatAdministrators")) == 3


async def test_get_chat_administrators_faults(api: FakeBotAPI, client: Bot) -> None:
    """A private chat is a 400, a group that removed the bot a 403, an injected failure
    its code, and a dropped call a network error."""
    api.blocked_chats.add(-1003)
    api.fail_next_calls("getChatAdministrators", 1, error_code=403)
    api.drop_next_calls("getChatAdministrators")
    with anyio.fail_after(5):
        with pytest.raises(TelegramNetworkError):  # a dropped call comes first
            await client.get_chat_administrators(-1001)
        with pytest.raises(TelegramForbiddenError, match="kicked"):
            await client.get_chat_administrators(-1001)
        with pytest.raises(TelegramBadRequest, match="private chat"):
            await client.get_chat_administrators(7)
        with pytest.raises(TelegramForbiddenError):
            await client.get_chat_administrators(-1003)
        assert await client.get_chat_administrators(-1001) == []


@pytest.mark.parametrize(
    "text",
    [
        "<tg-time>no unix</tg-time>",
        '<tg-time unix="soon">x</tg-time>',
        '<tg-time unix="-5">x</tg-time>',
        '<tg-time unix="1" format="x">bad format</tg-time>',
        '<tg-time unix="1" format="rt">relative with more</tg-time>',
        '<tg-time unix="1" format="dD">two dates</tg-time>',
        '<code><tg-time unix="1">in code</tg-time></code>',
        '<tg-time unix="1"><a href="https://x.org">link inside</a></tg-time>',
        '<tg-time unix="1"><tg-time unix="2">twice</tg-time></tg-time>',
    ],
)
async def test_bad_date_time_tags_are_rejected(api: FakeBotAPI, client: Bot, text: str) -> None:
    """A tg-time without a numeric unix, with a format outside r|w?[dD]?[tT]?, or nested
    with an entity it may not share characters with, is refused."""
    with anyio.fail_after(5), pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await client.send_message(7, text, parse_mode="HTML")
    assert api.sent == []


async def test_date_time_tags_are_accepted_near_now(api: FakeBotAPI, client: Bot) -> None:
    """tg-time with each allowed format, inside a style, passes with its text as the
    plain text; one years ahead is ENTITY_DATE_INVALID, one past 32 bits passes."""
    now = int(time.time())
    good = [
        f'<tg-time unix="{now}">now</tg-time>',
        f'<b>due <tg-time unix="{now + 86400}" format="wdt">tomorrow</tg-time></b>',
        f'<tg-time unix="{now}" format="r">r</tg-time>'
        f'<tg-time unix="{now}" format="DT">D</tg-time>',
        f'<tg-time unix="{2**31}" format="d">not formatted</tg-time>',
    ]
    with anyio.fail_after(5):
        for text in good:
            await client.send_message(7, text, parse_mode="HTML")
        far = f'<tg-time unix="{now + 4 * 365 * 86400}">x</tg-time>'
        with pytest.raises(TelegramBadRequest, match="ENTITY_DATE_INVALID"):
            await client.send_message(7, far, parse_mode="HTML")
    assert [s.plain for s in api.sent] == ["now", "due tomorrow", "rD", "not formatted"]
    assert html_times(good[1]) == [now + 86400]
