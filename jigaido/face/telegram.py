"""The aiogram face: an update becomes a `Request` for its chat's worker, and an
answer becomes a `sendMessage`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
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
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)

from jigaido.core import args
from jigaido.core.buttons import Keyboard
from jigaido.core.commands import GROUP_COMMANDS, MIGRATE, PRESS, ChatKind, Request, needs_admin
from jigaido.core.errors import AdminsUnknown, ChatMoved, RetryLater, Undeliverable
from jigaido.face.admins import FETCH_TIMEOUT, Admins, Fetch
from jigaido.shell.pool import Job, Pool

log = logging.getLogger(__name__)

router = Router(name="jigaido")

# A press on a message that is in none of the chats the bot serves (an inline message):
# answered at once, in the poller's time, so never for long.
NOT_HERE = "This button works only in the chat I sent it to."
NOT_HERE_SECONDS = 3.0

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
    BotCommand(command="remind", description="Reminders of due dates: on or off (admins)"),
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
    BotCommand(command="remind", description="Reminders of due dates: on or off"),
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


@router.callback_query()
async def on_press(
    query: CallbackQuery,
    event_update: Update,
    pool: Pool,
    admins: Admins | None = None,
) -> Job | None:
    """A button pressed: an update like a command, for its chat's worker to apply once
    and answer (a toast, then the message edited). Its clock starts now: a press its
    worker cannot take in time is answered busy rather than left spinning."""
    arrived = asyncio.get_running_loop().time()
    request = to_press(query, event_update.update_id)
    if request is None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(NOT_HERE_SECONDS):
                await pool.outbox.toast(query.id, NOT_HERE, within=NOT_HERE_SECONDS)
        return None
    if admins is not None and needs_admin(request):
        assert request.user_id is not None
        request = replace(request, admin=await admins.is_admin(request.chat_id, request.user_id))
    return await pool.submit(request, arrived=arrived)


def to_press(query: CallbackQuery, update_id: int) -> Request | None:
    """The request a press becomes: the pressed message's chat and id, the presser, the
    button's data as it came (the core reads it, trusting nothing). None for a message
    in no group or private chat of the bot's (an inline message, a channel post)."""
    message = query.message
    if message is None:
        return None
    kind = _chat_kind(message.chat.type)
    if kind is None:
        return None
    chat = message.chat
    topic = None
    if isinstance(message, Message) and message.is_topic_message:
        topic = message.message_thread_id
    user = query.from_user
    return Request(
        update_id=update_id,
        chat_id=chat.id,
        kind=kind,
        user_id=user.id,
        message_id=message.message_id,
        command=PRESS,
        args=_valid_unicode(query.data or ""),
        thread_id=topic,
        user_name=user.full_name,
        callback_id=query.id,
    )


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


def _chat_kind(chat_type: str) -> ChatKind | None:
    """What the bot keeps for a chat of this type: a personal list, a group's, or none
    (a channel)."""
    if chat_type == "private":
        return "private"
    if chat_type in ("group", "supergroup"):
        return "group"
    return None


def to_request(message: Message, update_id: int, bot_username: str) -> Request | None:
    chat = message.chat
    if message.migrate_to_chat_id is not None:
        return _migration(update_id, message, new_id=message.migrate_to_chat_id, old_id=chat.id)
    if message.migrate_from_chat_id is not None:
        return _migration(update_id, message, new_id=chat.id, old_id=message.migrate_from_chat_id)
    kind = _chat_kind(chat.type)
    if kind is None:
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


# An edit Telegram cannot make because the message is gone or no longer the bot's to
# edit: an everyday event (a deleted card), not a bug. ("message is not modified" is
# a success: the message already shows what it should.)
_EDIT_GONE = ("message to edit not found", "message can't be edited", "MESSAGE_ID_INVALID")
# A toast Telegram no longer takes: the press's query expired or was answered already.
_QUERY_GONE = ("query is too old", "QUERY_ID_INVALID")


class Sender:
    """The outbox's way to Telegram (its SendFunc, and its Buttons): messages with or
    without buttons, edits and toasts, speaking in jigaido's errors, not aiogram's."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.no_preview = LinkPreviewOptions(is_disabled=True)

    async def __call__(
        self, chat_id: int, text: str, reply_to: int | None, thread_id: int | None
    ) -> None:
        await self.send(chat_id, text, reply_to, thread_id, ())

    async def send(
        self,
        chat_id: int,
        text: str,
        reply_to: int | None,
        thread_id: int | None,
        keyboard: Keyboard,
    ) -> None:
        async def once(html: str) -> None:
            await self.bot.send_message(
                chat_id=chat_id,
                text=html,
                parse_mode="HTML",
                link_preview_options=self.no_preview,
                message_thread_id=thread_id,
                reply_parameters=(
                    ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                    if reply_to is not None
                    else None
                ),
                reply_markup=_markup(keyboard),
            )

        with _our_errors():
            await _without_dates_if_refused(once, chat_id, text)

    async def edit(
        self, chat_id: int, message_id: int, text: str | None, keyboard: Keyboard
    ) -> None:
        async def once(html: str) -> None:
            await self.bot.edit_message_text(
                chat_id=chat_id,
                message_id=message_id,
                text=html,
                parse_mode="HTML",
                link_preview_options=self.no_preview,
                reply_markup=_markup(keyboard),
            )

        with _our_errors():
            try:
                if text is None:
                    await self.bot.edit_message_reply_markup(
                        chat_id=chat_id, message_id=message_id, reply_markup=_markup(keyboard)
                    )
                else:
                    await _without_dates_if_refused(once, chat_id, text)
            except TelegramBadRequest as e:
                if "message is not modified" in str(e):
                    return
                if any(gone in str(e) for gone in _EDIT_GONE):
                    raise Undeliverable(str(e), shut_out=True) from e
                raise

    async def toast(self, query_id: str, text: str) -> None:
        with _our_errors():
            try:
                await self.bot.answer_callback_query(query_id, text=text or None)
            except TelegramBadRequest as e:
                if any(gone in str(e) for gone in _QUERY_GONE):
                    raise Undeliverable(str(e), shut_out=True) from e
                raise

    async def typing(self, chat_id: int, thread_id: int | None) -> None:
        """Show the chat (its forum topic) "typing" while an answer waits its turn."""
        with _our_errors():
            await self.bot.send_chat_action(
                chat_id=chat_id, action="typing", message_thread_id=thread_id
            )


def make_sender(bot: Bot) -> Sender:
    """The outbox's send function, which is also its way to buttons, edits and toasts."""
    return Sender(bot)


def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    """None for no buttons: an edit without a markup takes the message's buttons off."""
    if not keyboard:
        return None
    rows = [
        [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row] for row in keyboard
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _without_dates_if_refused(
    call: Callable[[str], Awaitable[None]], chat_id: int, text: str
) -> None:
    """`call(text)`; if Telegram refuses a date_time entity in it, `call` it without."""
    try:
        await call(text)
    except TelegramBadRequest as e:
        plain = _DATE_TIME_TAG.sub("", text)
        if "ENTITY_DATE" not in str(e) or plain == text:
            raise
        log.info("chat %s: Telegram refused a date_time entity (%s); sent without", chat_id, e)
        await call(plain)


@contextlib.contextmanager
def _our_errors() -> Iterator[None]:
    """aiogram's exceptions as the outbox's: retry later, the chat moved, or never."""
    try:
        yield
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


async def register_menus(bot: Bot) -> None:
    """Show each kind of chat the commands that work there."""
    try:
        await bot.set_my_commands(GROUP_MENU, scope=BotCommandScopeAllGroupChats())
        await bot.set_my_commands(PRIVATE_MENU, scope=BotCommandScopeAllPrivateChats())
    except (TelegramNetworkError, TelegramServerError, TelegramBadRequest) as e:
        log.warning("could not register the command menus: %s", e)
