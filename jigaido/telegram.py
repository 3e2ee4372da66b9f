"""The aiogram face: an update becomes a `Request` for its chat's worker, and an
answer becomes a `sendMessage`."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import (
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

from jigaido import args
from jigaido.commands import GROUP_COMMANDS, MIGRATE, ChatKind, Request
from jigaido.errors import ChatMoved, RetryLater, Undeliverable
from jigaido.outbox import SendFunc
from jigaido.pool import Job, Pool

log = logging.getLogger(__name__)

router = Router(name="jigaido")

GROUP_MENU = [
    BotCommand(command="bounty", description="List this group's bounties"),
    BotCommand(command="add", description="Add a bounty: text [link] [due]"),
    BotCommand(command="edit", description="Change your bounty: id [text] [link] [due]"),
    BotCommand(command="delete", description="Delete your bounty: id"),
    BotCommand(command="track", description="Track a bounty: id"),
    BotCommand(command="untrack", description="Stop tracking a bounty: id"),
    BotCommand(command="my", description="The bounties you track here"),
    BotCommand(command="help", description="What I can do"),
]
PRIVATE_MENU = [
    BotCommand(command="bounty", description="List your bounties"),
    BotCommand(command="add", description="Add a bounty: text [link] [due]"),
    BotCommand(command="edit", description="Change a bounty: id [text] [link] [due]"),
    BotCommand(command="delete", description="Delete a bounty: id"),
    BotCommand(command="my", description="Your bounties (same as /bounty)"),
    BotCommand(command="help", description="What I can do"),
]


@router.message()
async def on_message(
    message: Message, event_update: Update, pool: Pool, bot_username: str
) -> Job | None:
    """Hand a command to its chat's worker; the job tells the poller when the update may
    be confirmed. Everything else is ignored."""
    request = to_request(message, event_update.update_id, bot_username)
    if request is None:
        return None
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
    user_id = user.id if user is not None and message.sender_chat is None else None
    if user_id is not None and user is not None:
        user_name: str | None = user.full_name
    else:
        user_name = message.sender_chat.title if message.sender_chat is not None else None
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


def make_sender(bot: Bot) -> SendFunc:
    """A send function for the outbox that speaks in jigaido's errors, not aiogram's."""
    no_preview = LinkPreviewOptions(is_disabled=True)

    async def send(chat_id: int, text: str, reply_to: int | None, thread_id: int | None) -> None:
        try:
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
