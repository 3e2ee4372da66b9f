"""The aiogram face: an update becomes a `Request` for its chat's worker, and an
answer becomes a `sendMessage`."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)

from jigaido.core import args
from jigaido.core.commands import GROUP_COMMANDS, MIGRATE, ChatKind, Request, needs_admin
from jigaido.core.errors import AdminsUnknown, ChatMoved, RetryLater, Undeliverable
from jigaido.face.admins import FETCH_TIMEOUT, Admins, Fetch
from jigaido.shell.outbox import SendFunc
from jigaido.shell.pool import Job, Pool

log = logging.getLogger(__name__)

router = Router(name="jigaido")

GROUP_MENU = [
    BotCommand(command="bounty", description="Open bounties; or: done, or an id for its card"),
    BotCommand(command="add", description="Add a bounty: text [link] [due]"),
    BotCommand(command="edit", description="Change your bounty: id [text] [link] [due]"),
    BotCommand(command="delete", description="Delete your bounty: id"),
    BotCommand(command="claim", description="Say you are on a bounty: id"),
    BotCommand(command="unclaim", description="Release a claim: id"),
    BotCommand(command="done", description="Mark a bounty done: id"),
    BotCommand(command="reopen", description="Reopen a done bounty: id"),
    BotCommand(command="track", description="Track a bounty: id"),
    BotCommand(command="untrack", description="Stop tracking a bounty: id"),
    BotCommand(command="my", description="The bounties you track here"),
    BotCommand(command="timezone", description="The group's time zone (admins set it)"),
    BotCommand(command="help", description="What I can do"),
]
PRIVATE_MENU = [
    BotCommand(command="bounty", description="Open bounties; or: done, or an id for its card"),
    BotCommand(command="add", description="Add a bounty: text [link] [due]"),
    BotCommand(command="edit", description="Change a bounty: id [text] [link] [due]"),
    BotCommand(command="delete", description="Delete a bounty: id"),
    BotCommand(command="done", description="Mark a bounty done: id"),
    BotCommand(command="reopen", description="Reopen a done bounty: id"),
    BotCommand(command="my", description="All your bounties, the done ones last"),
    BotCommand(command="timezone", description="Your time zone for due dates"),
    BotCommand(command="help", description="What I can do"),
]


@router.message()
async def on_message(
    message: Message,
    event_update: Update,
    pool: Pool,
    bot_username: str,
    admins: Admins | None = None,
) -> Job | None:
    """Hand a command to its chat's worker; the job tells the poller when the update may
    be confirmed. Everything else is ignored. Whether the sender is an admin is asked
    here, before the worker takes it (without `admins`, moderator actions by anyone but
    their author say the bot could not check)."""
    request = to_request(message, event_update.update_id, bot_username)
    if request is None:
        return None
    if admins is not None and needs_admin(request):
        assert request.user_id is not None
        request = replace(request, admin=await admins.is_admin(request.chat_id, request.user_id))
    return await pool.submit(request)


async def feed(dispatcher: Dispatcher, bot: Bot, update: Update) -> Job | None:
    """Hand `update` to the router: its chat's job, or None when there is nothing to wait
    for. A handler's failure is logged and the update counts as done, so one bad update
    cannot come back forever."""
    try:
        result = await dispatcher.feed_update(bot, update)
    except Exception:
        log.exception("update %s could not be handled", update.update_id)
        return None
    return result if isinstance(result, Job) else None


def to_request(message: Message, update_id: int, bot_username: str) -> Request | None:
    chat = message.chat
    if message.migrate_to_chat_id is not None:
        return _migration(update_id, message, new_id=message.migrate_to_chat_id, old_id=chat.id)
    if message.migrate_from_chat_id is not None:
        return _migration(update_id, message, new_id=chat.id, old_id=message.migrate_from_chat_id)
    if chat.type == "private":
        kind: ChatKind = "private"
    elif chat.type in ("group", "supergroup"):
        kind = "group"
    else:
        return None
    if not message.text:
        return None
    split = args.split_command(_valid_unicode(message.text), bot_username)
    if split is None:
        return None
    command, rest = split
    if kind == "group" and command not in GROUP_COMMANDS:
        return None  # other bots' commands and chatter are none of ours
    # A message sent as a chat (anonymous admin, linked channel) has no person behind it.
    user = message.from_user
    sender_chat = message.sender_chat
    user_id = user.id if user is not None and sender_chat is None else None
    if user_id is not None and user is not None:
        user_name: str | None = user.full_name
    else:
        user_name = sender_chat.title if sender_chat is not None else None
    # Only an admin can write as the group itself (a linked channel writes as itself).
    anonymous_admin = kind == "group" and sender_chat is not None and sender_chat.id == chat.id
    return Request(
        update_id=update_id,
        chat_id=chat.id,
        kind=kind,
        user_id=user_id,
        message_id=message.message_id,
        command=command,
        args=rest,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        user_name=user_name,
        admin=True if anonymous_admin else None,
    )


def _valid_unicode(text: str) -> str:
    """Lone surrogates (possible in JSON, never in real text) become U+FFFD, so every
    text can be stored as UTF-8."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _migration(update_id: int, message: Message, *, new_id: int, old_id: int) -> Request:
    return Request(
        update_id=update_id,
        chat_id=new_id,
        kind="group",
        user_id=None,
        message_id=message.message_id,
        command=MIGRATE,
        args=str(old_id),
    )


def make_admin_fetcher(bot: Bot) -> Fetch:
    """getChatAdministrators as `admins.Admins` asks it: the admins' user ids, or
    AdminsUnknown whatever went wrong (the network, 403 once the bot left, a 429)."""

    async def fetch(chat_id: int) -> frozenset[int]:
        try:
            members = await bot.get_chat_administrators(
                chat_id=chat_id, request_timeout=int(FETCH_TIMEOUT)
            )
        except (TelegramAPIError, TimeoutError) as e:
            raise AdminsUnknown(str(e) or type(e).__name__) from e
        return frozenset(member.user.id for member in members)

    return fetch


# Telegram refuses a message whose date_time entity it does not take (a date too far
# ahead for it: ENTITY_DATE_INVALID); the same text without the entity still says it all.
_DATE_TIME_TAG = re.compile(r"</?tg-time\b[^>]*>")


def make_sender(bot: Bot) -> SendFunc:
    """A send function for the outbox that speaks in jigaido's errors, not aiogram's."""
    no_preview = LinkPreviewOptions(is_disabled=True)

    async def send_once(
        chat_id: int, text: str, reply_to: int | None, thread_id: int | None
    ) -> None:
        await bot.send_message(
            chat_id=chat_id,
            text=text,
            parse_mode="HTML",
            link_preview_options=no_preview,
            message_thread_id=thread_id,
            reply_parameters=(
                ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                if reply_to is not None
                else None
            ),
        )

    async def send_html(
        chat_id: int, text: str, reply_to: int | None, thread_id: int | None
    ) -> None:
        try:
            await send_once(chat_id, text, reply_to, thread_id)
        except TelegramBadRequest as e:
            plain = _DATE_TIME_TAG.sub("", text)
            if "ENTITY_DATE" not in str(e) or plain == text:
                raise
            log.info("chat %s: Telegram refused a date_time entity (%s); sent without", chat_id, e)
            await send_once(chat_id, plain, reply_to, thread_id)

    async def send(chat_id: int, text: str, reply_to: int | None, thread_id: int | None) -> None:
        try:
            await send_html(chat_id, text, reply_to, thread_id)
        except TelegramRetryAfter as e:
            raise RetryLater(e.retry_after, "Telegram asked to slow down", is_flood=True) from e
        except TelegramMigrateToChat as e:
            raise ChatMoved(e.migrate_to_chat_id) from e
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as e:
            raise RetryLater(1.0, str(e), is_flood=False) from e
        except TelegramForbiddenError as e:
            raise Undeliverable(str(e), shut_out=True) from e
        except (
            TelegramBadRequest,
            TelegramNotFound,
            TelegramUnauthorizedError,
        ) as e:
            raise Undeliverable(str(e)) from e

    return send


async def register_menus(bot: Bot) -> None:
    """Show each kind of chat the commands that work there."""
    try:
        await bot.set_my_commands(GROUP_MENU, scope=BotCommandScopeAllGroupChats())
        await bot.set_my_commands(PRIVATE_MENU, scope=BotCommandScopeAllPrivateChats())
    except (TelegramNetworkError, TelegramServerError, TelegramBadRequest) as e:
        log.warning("could not register the command menus: %s", e)
