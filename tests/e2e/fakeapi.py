"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests.

The bot under test talks to it over real HTTP exactly as it would to
api.telegram.org (`TELEGRAM_API_URL`), so these tests cover aiogram's session,
the bot's escaping and its polling loop as well as its handlers. The fake keeps
Telegram's rules where a bot can get them wrong: `getUpdates` offsets and long
polling, the 4,096-character limit, HTML entity parsing, 429 and migration
errors. Everything it sees is recorded for the test to assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

__all__ = [
    "DEFAULT_USER_ID",
    "GROUP_ANONYMOUS_BOT_ID",
    "MAX_MESSAGE_LENGTH",
    "QUERY_GONE",
    "Call",
    "Edited",
    "EntityParseError",
    "FakeBotAPI",
    "Sent",
    "Toast",
    "html_times",
    "parse_html",
    "utf16_len",
]

GROUP_ANONYMOUS_BOT_ID = 1087968824
"""The user Telegram puts in `from` when an anonymous group admin writes."""

DEFAULT_USER_ID = 1001
"""The sender of pushed group messages when the test names none."""

MAX_MESSAGE_LENGTH = 4096
"""Telegram's limit on a text message, in UTF-16 code units after entity parsing."""

CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
})  # fmt: skip
"""sendChatAction's actions, as the Bot API lists them."""

QUERY_SECONDS = 15.0
"""How long after a press Telegram takes its answerCallbackQuery (not documented; about
15 s is what bots meet, e.g. telegraf/telegraf#1839)."""
QUERY_GONE = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One authorised request: the canonical method name and its decoded parameters."""

    method: str
    params: JSONDict
    time: float
    """`time.monotonic()` when the request arrived."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One message that `sendMessage` accepted."""

    chat_id: int
    text: str
    """The text as the bot sent it, markup included."""
    parse_mode: str | None
    reply_to_message_id: int | None
    message_thread_id: int | None
    disable_preview: bool
    params: JSONDict
    time: float
    """`time.monotonic()` when the request arrived."""
    message_id: int = 0
    """The id the fake gave the message in its chat."""

    @property
    def plain(self) -> str:
        """The text a user would read: HTML tags stripped and entities decoded."""
        if _is_html(self.parse_mode):
            return parse_html(self.text)
        return self.text

    @property
    def buttons(self) -> list[list[JSONDict]]:
        """Its inline keyboard's rows of buttons (`text`, `callback_data`), or []."""
        return _rows(self.params.get("reply_markup"))


@dataclass(frozen=True, slots=True)
class Edited:
    """One edit that editMessageText or editMessageReplyMarkup accepted."""

    chat_id: int
    message_id: int
    text: str | None
    """The new text as the bot sent it (None: editMessageReplyMarkup, the text stays)."""
    buttons: list[list[JSONDict]]
    """The message's buttons after the edit ([]: none left)."""
    time: float

    @property
    def plain(self) -> str | None:
        return None if self.text is None else parse_html(self.text)


@dataclass(frozen=True, slots=True)
class Toast:
    """One answerCallbackQuery, accepted or not (`refused` says why not)."""

    query_id: str
    text: str
    show_alert: bool
    time: float
    refused: str | None = None


@dataclass(slots=True)
class _Message:
    """A message of a chat as Telegram keeps it, for edits and presses."""

    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    markup: JSONDict | None
    by_bot: bool


@dataclass(slots=True)
class _Query:
    pushed: float  # time.monotonic()
    answered: bool = False


def _rows(markup: Any) -> list[list[JSONDict]]:
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        return []
    return [list(row) for row in markup["inline_keyboard"] if isinstance(row, list)]


class EntityParseError(ValueError):
    """The text is not HTML that Telegram accepts."""


class _Reject(Exception):
    """Answer the current request with a Telegram error."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True, slots=True)
class _Failure:
    error_code: int
    description: str
    parameters: JSONDict | None


# ----------------------------------------------------------------------------
# Telegram's HTML parse mode


_ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
        "a", "code", "pre", "tg-spoiler", "span", "blockquote", "tg-emoji", "tg-time",
    }
)  # fmt: skip
# A date_time entity (`<tg-time unix="..." format="...">`) shares its characters with
# no entity but the text styles: "all other entities can't contain each other".
_NOT_WITH_TIME = frozenset({"a", "code", "pre", "tg-emoji", "tg-time"})
_TIME_FORMAT = re.compile(r"r|w?[dD]?[tT]?")
_UNIX_TIME = re.compile(r"[0-9]+")
ENTITY_DATE_AHEAD = 3 * 365 * 86400
"""How far ahead Telegram takes a date_time entity: past about three years from now it
refuses the message with ENTITY_DATE_INVALID (tdlib/telegram-bot-api#852; the exact bound
is not documented, so the fake uses the lowest seen)."""
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9a-fA-F]+)|([A-Za-z]+));")
_NAME_CHARS = re.compile(r"[A-Za-z0-9-]*")
_UNQUOTED_VALUE = re.compile(r"[A-Za-z0-9.-]*")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def parse_html(text: str) -> str:
    """Return the plain text of Telegram-style HTML, or raise `EntityParseError`.

    Follows tdlib's parser (the tag set, balanced nesting, messages with UTF-8 byte
    offsets) with deliberate differences: Telegram keeps an `&` that starts no entity
    as a literal character, this parser rejects it, because such an `&` in the bot's
    output means user text reached the markup unescaped; and a `<tg-time>` nested in or
    around a link, code or custom emoji is refused, where Telegram's rule is only that
    such entities "can't contain each other".
    """
    return _HtmlParser(text).parse()


def html_times(text: str) -> list[int]:
    """The Unix times of the date_time entities (`<tg-time unix=...>`) in `text`."""
    parser = _HtmlParser(text)
    parser.parse()
    return parser.times


class _HtmlParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.times: list[int] = []

    def error(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def offset(self, index: int) -> int:
        return len(self.text[:index].encode("utf-8", "surrogatepass"))

    def parse(self) -> str:
        text = self.text
        out: list[str] = []
        stack: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            if char == "&":
                out.append(self.entity())
            elif char != "<":
                out.append(char)
                self.pos += 1
            elif text.startswith("</", self.pos):
                self.end_tag(stack)
            else:
                stack.append(self.start_tag(stack))
        if stack:
            raise self.error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
        return "".join(out)

    def entity(self) -> str:
        match = _ENTITY.match(self.text, self.pos)
        if match is None:
            raise self.error(
                f'Unescaped "&" at byte offset {self.offset(self.pos)}: '
                "write &amp; (the fake is stricter than Telegram here)"
            )
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            if name not in _NAMED_ENTITIES:
                raise self.error(
                    f'Unsupported HTML entity "&{name};" at byte offset {self.offset(self.pos)}'
                )
            value = _NAMED_ENTITIES[name]
        else:
            code = int(decimal) if decimal is not None else int(hexadecimal, 16)
            if not 0 < code <= 0x10FFFF:
                raise self.error(
                    f"Invalid character reference at byte offset {self.offset(self.pos)}"
                )
            value = chr(code)
        self.pos = match.end()
        return value

    def decode_value(self, raw: str, begin: int) -> str:
        sub = _HtmlParser(raw)
        out: list[str] = []
        while sub.pos < len(raw):
            if raw[sub.pos] == "&":
                try:
                    out.append(sub.entity())
                except EntityParseError as exc:
                    raise self.error(
                        f"{exc} in an attribute of the tag at byte offset {self.offset(begin)}"
                    ) from None
            else:
                out.append(raw[sub.pos])
                sub.pos += 1
        return "".join(out)

    def end_tag(self, stack: list[str]) -> None:
        begin = self.pos
        end = self.text.find(">", begin)
        if end < 0:
            raise self.error(f"Unclosed end tag at byte offset {self.offset(begin)}")
        name = self.text[begin + 2 : end].strip().lower()
        if not stack:
            raise self.error(f"Unexpected end tag at byte offset {self.offset(begin)}")
        if name != stack[-1]:
            raise self.error(
                f"Unmatched end tag at byte offset {self.offset(begin)}, "
                f'expected "</{stack[-1]}>", found "</{name}>"'
            )
        stack.pop()
        self.pos = end + 1

    def start_tag(self, stack: list[str]) -> str:
        text, begin = self.text, self.pos
        end = begin + 1
        while end < len(text) and not text[end].isspace() and text[end] != ">":
            end += 1
        if end >= len(text):
            raise self.error(f"Unclosed start tag at byte offset {self.offset(begin)}")
        name = text[begin + 1 : end].lower()
        if name not in _ALLOWED_TAGS:
            raise self.error(f'Unsupported start tag "{name}" at byte offset {self.offset(begin)}')
        self.pos = end
        attributes = self.attributes(name, begin)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self.error(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.offset(begin)}'
            )
        if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
            raise self.error(
                f'Tag "tg-emoji" must have a numeric "emoji-id" at byte offset {self.offset(begin)}'
            )
        if name == "tg-time" or (name in _NOT_WITH_TIME and "tg-time" in stack):
            self.date_time(name, attributes, stack, begin)
        return name

    def date_time(
        self, name: str, attributes: dict[str, str], stack: list[str], begin: int
    ) -> None:
        """A `<tg-time>`, or a tag opened inside one: the rules of the date_time entity."""
        if name != "tg-time" or any(tag in _NOT_WITH_TIME for tag in stack):
            raise self.error(
                f'Tag "{name}" can\'t be nested with "tg-time" at byte offset {self.offset(begin)}'
            )
        unix = attributes.get("unix")
        if unix is None or not _UNIX_TIME.fullmatch(unix):
            raise self.error(
                f'Tag "tg-time" must have a numeric "unix" at byte offset {self.offset(begin)}'
            )
        if not _TIME_FORMAT.fullmatch(attributes.get("format", "")):
            raise self.error(
                f'Invalid date-time format "{attributes["format"]}" in the tag "tg-time" '
                f"at byte offset {self.offset(begin)}"
            )
        self.times.append(int(unix))

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        text = self.text
        found: dict[str, str] = {}
        unclosed = f"Unclosed start tag at byte offset {self.offset(begin)}"
        while True:
            self.skip_spaces()
            if self.pos >= len(text):
                raise self.error(unclosed)
            if text[self.pos] == ">":
                self.pos += 1
                return found
            match = _NAME_CHARS.match(text, self.pos)
            assert match is not None
            attribute = match.group().lower()
            if not attribute:
                raise self.error(
                    f'Empty attribute name in the tag "{tag}" at byte offset {self.offset(begin)}'
                )
            self.pos = match.end()
            self.skip_spaces()
            if self.pos >= len(text):
                raise self.error(unclosed)
            if text[self.pos] != "=":
                if tag == "blockquote" and attribute == "expandable":
                    found[attribute] = ""
                    continue
                raise self.error(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {self.offset(begin)}'
                )
            self.pos += 1
            self.skip_spaces()
            if self.pos >= len(text):
                raise self.error(unclosed)
            quote = text[self.pos]
            if quote in "'\"":
                close = text.find(quote, self.pos + 1)
                if close < 0:
                    raise self.error(unclosed)
                raw = text[self.pos + 1 : close]
                self.pos = close + 1
            else:
                value = _UNQUOTED_VALUE.match(text, self.pos)
                assert value is not None
                raw = value.group()
                self.pos = value.end()
                if self.pos >= len(text) or not (text[self.pos].isspace() or text[self.pos] == ">"):
                    raise self.error(
                        f"Unexpected end of name token at byte offset {self.offset(self.pos)}"
                    )
            found[attribute] = self.decode_value(raw, begin)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1


def _is_html(parse_mode: str | None) -> bool:
    return parse_mode is not None and parse_mode.lower() == "html"


# ----------------------------------------------------------------------------
# Request decoding

# Parameters that are strings even when they look like JSON ("42", "true").
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "language_code", "url", "secret_token",
        "ip_address", "business_connection_id", "message_effect_id", "emoji", "title",
        "description", "short_description", "name", "callback_query_id",
        "inline_message_id", "query", "question", "custom_emoji_id", "sticker",
    }
)  # fmt: skip


def _decode_params(raw: Mapping[str, Any]) -> JSONDict:
    params: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in _STRING_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


def _as_int(params: JSONDict, key: str, default: int) -> int:
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Reject(400, f"Bad Request: invalid {key} specified")
    try:
        return int(value)
    except ValueError:
        raise _Reject(400, f"Bad Request: invalid {key} specified") from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"true", "1"}
    return bool(value)


_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")


# ----------------------------------------------------------------------------
# The server

_Handler = Callable[[Call], Awaitable[Any]]


class FakeBotAPI:
    """A Telegram Bot API server for one bot, on 127.0.0.1.

    Build updates with `push_message`/`push_raw`; read what the bot did in `calls`
    and `sent`; synchronise with `wait_for_sent`, `wait_until` and `wait_confirmed`,
    which wake on every request and every pushed update instead of sleeping.
    """

    def __init__(
        self,
        token: str = "42:TEST",
        username: str = "jigaido_test_bot",
        bot_id: int = 42,
        *,
        port: int = 0,
        first_update_id: int = 1000,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.confirmed_below = 0
        """The highest `getUpdates` offset received: every update below it is confirmed."""
        self.get_updates_calls = 0
        self.allowed_updates: list[str] | None = None
        """`allowed_updates` of the latest `getUpdates` that sent one (recorded, not applied)."""
        self.migrated_chats: dict[int, int] = {}
        """old chat id → new chat id: sends to the old id fail with `migrate_to_chat_id`."""
        self.blocked_chats: set[int] = set()
        """Sends to these chats fail with 403 "Forbidden: bot was blocked by the user"."""
        self.webhook_url = ""
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.edits: list[Edited] = []
        self.toasts: list[Toast] = []
        """Every answerCallbackQuery, in order, refused ones too."""
        self.query_seconds = QUERY_SECONDS
        """An answerCallbackQuery this long after its press is refused as too old."""
        self.uneditable: set[tuple[int, int]] = set()
        """(chat, message) the bot may no longer edit: "message can't be edited"."""
        self._messages: dict[tuple[int, int], _Message] = {}
        self._queries: dict[str, _Query] = {}
        self.descriptions: dict[str, str] = {}
        """"description" and "short_description", as the bot last set them."""
        """(scope as sorted JSON, language_code) → the commands set for it."""
        self.admins: dict[int, list[int]] = {}
        """group id → the user ids getChatAdministrators names (the first is the owner);
        change it at any time, as promotions and demotions do. A group not listed has
        no admins (every group has an owner, but an anonymous one is not listed)."""
        self._dropped_calls: dict[str, int] = {}  # method (lower case) -> how many
        self._stalled: set[str] = set()  # methods (lower case) whose calls never arrive
        self.entity_date_ahead = ENTITY_DATE_AHEAD
        """A date_time entity further ahead than this many seconds is ENTITY_DATE_INVALID."""
        self._port = port
        self._next_update_id = first_update_id
        self._pending: list[JSONDict] = []
        # Updates numbered after restart_update_ids and not yet delivered: an offset
        # cannot confirm them (it may be a stale one from before the restart).
        self._undelivered_since_restart: set[int] | None = None
        self._failures: deque[_Failure] = deque()
        self._call_failures: dict[str, deque[_Failure]] = {}  # method (lower case) -> next
        self._message_ids: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "setMyCommands": self._set_my_commands,
                "setMyDescription": self._set_my_description,
                "setMyShortDescription": self._set_my_description,
                "getChatAdministrators": self._get_chat_administrators,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "close": self._true,
                "logOut": self._true,
            }.items()
        }

    # -- lifecycle --------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL for `TelegramAPIServer.from_base` / `TELEGRAM_API_URL`."""
        if not self._port:
            raise RuntimeError("FakeBotAPI has not been started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        """Listen on 127.0.0.1; after a `stop`, listen again on the same port."""
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI is already running")
        self._stopping = False
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Answer pending long polls with no updates, then close every connection."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        self._notify()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- building updates -------------------------------------------------

    def push_added_to_group(self, chat_id: int, *, by_user_id: int = DEFAULT_USER_ID) -> int:
        """Queue the my_chat_member update Telegram sends when someone adds the bot to a
        group; return its update_id."""
        bot = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Jigaido",
            "username": self.username,
        }
        return self.push_raw(
            {
                "my_chat_member": {
                    "chat": {"id": chat_id, "type": "supergroup", "title": "Test group"},
                    "from": {"id": by_user_id, "is_bot": False, "first_name": "User"},
                    "date": int(time.time()),
                    "old_chat_member": {"status": "left", "user": bot},
                    "new_chat_member": {"status": "member", "user": bot},
                }
            }
        )

    def push_raw(self, update: JSONDict) -> int:
        """Queue `update` (without `update_id`) for `getUpdates`; return its update_id."""
        if "update_id" in update:
            raise ValueError("push_raw assigns update_id itself")
        update_id = self._next_update_id
        self._next_update_id += 1
        self._pending.append({"update_id": update_id, **update})
        if self._undelivered_since_restart is not None:
            self._undelivered_since_restart.add(update_id)
        for value in update.values():
            if isinstance(value, dict) and isinstance(value.get("chat"), dict):
                chat = value["chat"]
                self._chats[chat["id"]] = chat
                self._message_ids[chat["id"]] = max(
                    self._message_ids.get(chat["id"], 0), int(value.get("message_id", 0))
                )
        self._notify()
        return update_id

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        username: str | None = None,
        first_name: str = "User",
        title: str = "Test group",
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        sender_chat: JSONDict | None = None,
        no_from: bool = False,
        entities: list[JSONDict] | None = None,
        migrate_to_chat_id: int | None = None,
        migrate_from_chat_id: int | None = None,
        edited: bool = False,
        message_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queue a message update as Telegram would deliver it; return its update_id.

        A private chat's id is its user's id, so `user_id` defaults to `chat_id`
        there; in groups it defaults to `DEFAULT_USER_ID`, or to GroupAnonymousBot
        when `sender_chat` is given. `entities=None` marks a leading command as
        `bot_command`; pass `[]` for none. `edited` needs the `message_id` of the
        edited message (a new id otherwise). Migration service messages carry no text.
        """
        migration = migrate_to_chat_id is not None or migrate_from_chat_id is not None
        if migration and text is not None:
            raise ValueError("a migration service message has no text")
        if not migration and text is None:
            raise ValueError("text is required")
        if chat_type is None:
            if migrate_to_chat_id is not None:
                chat_type = "group"
            else:
                chat_type = "private" if chat_id > 0 else "supergroup"
        if chat_type == "private":
            if chat_id <= 0:
                raise ValueError("a private chat's id is positive")
            if user_id is None:
                user_id = chat_id
            if user_id != chat_id:
                raise ValueError("a private chat's id is its user's id")
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if username is not None:
                chat["username"] = username
        else:
            if user_id is None:
                user_id = GROUP_ANONYMOUS_BOT_ID if sender_chat is not None else DEFAULT_USER_ID
            chat = {"id": chat_id, "type": chat_type, "title": title}
            if is_topic_message:
                chat["is_forum"] = True

        now = int(time.time())
        if message_id is None:
            message_id = self._new_message_id(chat_id)
        message: JSONDict = {"message_id": message_id, "date": now, "chat": chat}
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
        if is_topic_message is not None:
            message["is_topic_message"] = is_topic_message
        if not no_from:
            if user_id == GROUP_ANONYMOUS_BOT_ID:
                sender: JSONDict = {
                    "id": user_id,
                    "is_bot": True,
                    "first_name": "Group",
                    "username": "GroupAnonymousBot",
                }
            else:
                sender = {"id": user_id, "is_bot": False, "first_name": first_name}
                if username is not None:
                    sender["username"] = username
            message["from"] = sender
        if sender_chat is not None:
            message["sender_chat"] = sender_chat
        if reply_to_message_id is not None:
            message["reply_to_message"] = {
                "message_id": reply_to_message_id,
                "date": now,
                "chat": chat,
            }
        if text is not None:
            message["text"] = text
            if entities is None:
                command = _COMMAND.match(text)
                entities = (
                    [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
                    if command
                    else []
                )
            if entities:
                message["entities"] = entities
        if migrate_to_chat_id is not None:
            message["migrate_to_chat_id"] = migrate_to_chat_id
        if migrate_from_chat_id is not None:
            message["migrate_from_chat_id"] = migrate_from_chat_id
        if edited:
            message["edit_date"] = now

        kind = "channel_post" if chat_type == "channel" else "message"
        return self.push_raw({f"edited_{kind}" if edited else kind: message})

    def push_press(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "User",
        inaccessible: bool = False,
    ) -> tuple[int, str]:
        """Queue the callback_query of a press on a button of message `message_id`
        (its `data` as given: a test may forge it); return (update_id, query id). The
        message is the one the fake keeps (the bot's, with its buttons); `inaccessible`
        sends it as Telegram does one too old for the bot to see (date 0)."""
        if user_id is None:
            user_id = chat_id if chat_id > 0 else DEFAULT_USER_ID
        chat = self._chat(chat_id)
        kept = self._messages.get((chat_id, message_id))
        message: JSONDict = {"message_id": message_id, "date": 0, "chat": chat}
        if not inaccessible:
            message.update(date=int(time.time()), text="…")
            if kept is not None:
                message["text"] = parse_html(kept.text) if _is_html(kept.parse_mode) else kept.text
                if kept.by_bot:
                    message["from"] = self._bot_user()
                if kept.markup is not None:
                    message["reply_markup"] = kept.markup
        query_id = f"q{self._next_update_id}"
        self._queries[query_id] = _Query(time.monotonic())
        query = {
            "id": query_id,
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        return self.push_raw({"callback_query": query}), query_id

    def toasts_for(self, query_id: str) -> list[Toast]:
        return [t for t in self.toasts if t.query_id == query_id]

    def edits_of(self, chat_id: int, message_id: int) -> list[Edited]:
        return [e for e in self.edits if (e.chat_id, e.message_id) == (chat_id, message_id)]

    def message(self, chat_id: int, message_id: int) -> tuple[str, list[list[JSONDict]]] | None:
        """A message as it is now (its text as the bot sent it, its buttons), or None."""
        kept = self._messages.get((chat_id, message_id))
        return None if kept is None else (kept.text, _rows(kept.markup))

    def restart_update_ids(self, first: int) -> None:
        """Number the next updates from `first`, as Telegram may after a week without
        updates (lower or higher than before). `confirmed_below` starts again too."""
        self._next_update_id = first
        self.confirmed_below = 0
        self._undelivered_since_restart = set()

    # -- fault injection --------------------------------------------------

    def fail_next_sends(
        self,
        n: int = 1,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next `n` sendMessage calls fail; a 429 carries `retry_after`.

        Failures queue up behind those already requested. They take effect before
        any other check, as Telegram's flood control does.
        """
        if description is None:
            description = {
                400: "Bad Request: message to reply not found",
                403: "Forbidden: bot was blocked by the user",
                429: f"Too Many Requests: retry after {retry_after}",
            }.get(error_code, "Internal Server Error")
        parameters = {"retry_after": retry_after} if error_code == 429 else None
        self._failures.extend(_Failure(error_code, description, parameters) for _ in range(n))

    def fail_next_calls(
        self, method: str, n: int = 1, error_code: int = 500, description: str | None = None
    ) -> None:
        """Make the next `n` calls of `method` (e.g. "getMe", "getUpdates") fail with
        `error_code`, as when Telegram has a bad minute (or, with 403, when the bot was
        removed from the chat)."""
        if description is None:
            description = {
                403: "Forbidden: bot was kicked from the supergroup chat",
                429: "Too Many Requests: retry after 1",
            }.get(error_code, "Internal Server Error")
        failures = self._call_failures.setdefault(method.lower(), deque())
        failures.extend(_Failure(error_code, description, None) for _ in range(n))

    def drop_next_calls(self, method: str, n: int = 1) -> None:
        """Close the connection of the next `n` calls of `method` without an answer, as a
        network failure does (aiogram raises TelegramNetworkError)."""
        key = method.lower()
        self._dropped_calls[key] = self._dropped_calls.get(key, 0) + n

    def stall(self, method: str, *, stalled: bool = True) -> None:
        """From now on (until `stall(method, stalled=False)`) calls of `method` get no
        answer and take no effect: each waits, and once released its connection is closed
        unanswered, as a request lost in a network that hung. (A bot killed meanwhile
        never had it reach Telegram.)"""
        if stalled:
            self._stalled.add(method.lower())
        else:
            self._stalled.discard(method.lower())
            self._notify()

    def forget_message(self, chat_id: int, message_id: int) -> None:
        """The message is deleted (by a user or an admin): an edit of it is "message to
        edit not found"; a press on it carries it as the bot last knew it."""
        self._messages.pop((chat_id, message_id), None)

    # -- Telegram's flood limits (opt-in, for the benchmark) ---------------

    def enforce_limits(
        self,
        *,
        overall: tuple[int, float] = (30, 1.0),
        group: tuple[int, float] = (20, 60.0),
        private: tuple[int, float] = (1, 1.0),
    ) -> None:
        """From now on, refuse a sendMessage beyond Telegram's limits with
        `429 Too Many Requests` and the `retry_after` (whole seconds) until it would
        pass: at most `overall` = (count, seconds) messages in any such stretch for the
        whole bot, `group` into one group, `private` into one private chat. Counted
        by arrival, accepted messages only; refusals are counted in `flood_refusals`."""
        self.flood_refusals = 0
        self._flood_rates = {"overall": overall, "group": group, "private": private}
        self._flood_log: dict[int | None, deque[float]] = {}
        # An edit counts like a message (Telegram answers 429 to edits in a burst too).
        for method, handler in (
            ("sendmessage", self._send_message),
            ("editmessagetext", self._edit_message_text),
            ("editmessagereplymarkup", self._edit_message_reply_markup),
        ):
            name, _ = self._handlers[method]
            self._handlers[method] = (name, functools.partial(self._within_limits, handler))

    async def _within_limits(self, handler: _Handler, call: Call) -> Any:
        chat_id = call.params.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            wait = max(self._flood_wait(None, call.time), self._flood_wait(chat_id, call.time))
            if wait > 0:
                self.flood_refusals += 1
                retry_after = max(1, int(-(-wait // 1)))
                raise _Reject(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
        result = await handler(call)
        if isinstance(chat_id, int):
            for key in (None, chat_id):
                self._flood_log.setdefault(key, deque()).append(call.time)
        return result

    def _flood_wait(self, chat_id: int | None, now: float) -> float:
        """Seconds until one more message to `chat_id` (None: any chat) keeps its limit."""
        kind = "overall" if chat_id is None else "group" if chat_id < 0 else "private"
        count, seconds = self._flood_rates[kind]
        log = self._flood_log.get(chat_id)
        if log is None:
            return 0.0
        while log and log[0] <= now - seconds:
            log.popleft()
        if len(log) < count:
            return 0.0
        return log[-count] + seconds - now

    # -- reading what happened --------------------------------------------

    def sent_to(self, chat_id: int) -> list[Sent]:
        """Messages accepted for `chat_id`, in order."""
        return [sent for sent in self.sent if sent.chat_id == chat_id]

    def calls_to(self, method: str) -> list[Call]:
        """Calls of `method` (any case), in order, failed ones included."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def pending_update_ids(self) -> list[int]:
        """update_ids not yet confirmed by a `getUpdates` offset."""
        return [update["update_id"] for update in self._pending]

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict] | None:
        """The commands `setMyCommands` set for a scope (default scope if None)."""
        return self.commands.get(_scope_key(scope, language_code))

    # -- waiting ----------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10,  # noqa: ASYNC109 - the failure must say what was awaited
        *,
        description: str | None = None,
    ) -> None:
        """Return once `predicate()` holds, re-checking after every request and push."""
        if not await self._wait(predicate, timeout):
            what = description or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"{what} did not hold within {timeout}s; {self._summary()}")

    async def wait_for_sent(
        self,
        n: int,
        timeout: float = 10,  # noqa: ASYNC109 - see wait_until
    ) -> list[Sent]:
        """Return all sent messages once at least `n` have been sent in total."""
        if not await self._wait(lambda: len(self.sent) >= n, timeout):
            raise AssertionError(
                f"expected at least {n} sent message(s) within {timeout}s, "
                f"got {len(self.sent)}; {self._summary()}"
            )
        return list(self.sent)

    async def wait_confirmed(
        self,
        update_id: int,
        timeout: float = 10,  # noqa: ASYNC109 - see wait_until
    ) -> None:
        """Return once a `getUpdates` offset has confirmed `update_id`."""
        if not await self._wait(lambda: self.confirmed_below > update_id, timeout):
            raise AssertionError(
                f"update {update_id} not confirmed within {timeout}s "
                f"(confirmed below {self.confirmed_below}); {self._summary()}"
            )

    def _summary(self) -> str:
        sent = [(s.chat_id, s.text) for s in self.sent]
        methods = [call.method for call in self.calls[-10:]]
        return (
            f"sent={sent!r}, pending updates={self.pending_update_ids()}, "
            f"last calls={methods}, getUpdates calls={self.get_updates_calls}"
        )

    def _notify(self) -> None:
        # A fresh Event per change is a broadcast that synchronous code (push_*) can
        # fire; an asyncio.Condition would need its lock, i.e. an await.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, predicate: Callable[[], bool], seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            changed = self._changed
            if predicate():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    # -- HTTP -------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        if not path.startswith("/bot") or path.count("/") != 2:
            return _error(404, "Not Found")
        token, _, method = path.removeprefix("/bot").partition("/")
        if token != self.token:
            return _error(401, "Unauthorized")
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                raw.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        elif request.method == "POST":
            raw.update(await request.post())
        name, handler = self._handlers.get(method.lower(), (method, None))
        call = Call(name, _decode_params(raw), time.monotonic())
        self.calls.append(call)
        self._notify()
        if handler is None:
            return _error(404, "Not Found")
        if method.lower() in self._stalled:
            await self._wait(lambda: method.lower() not in self._stalled or self._stopping, 3600)
            if request.transport is not None:  # (None: the client has gone already)
                request.transport.close()
            return web.Response(status=500)
        if self._dropped_calls.get(method.lower()):
            self._dropped_calls[method.lower()] -= 1
            # The connection dies before an answer: what a client sees when the network
            # between it and Telegram fails mid-request.
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        failures = self._call_failures.get(method.lower())
        if failures:
            failure = failures.popleft()
            return _error(failure.error_code, failure.description)
        try:
            result = await handler(call)
        except _Reject as rejection:
            return _error(rejection.error_code, rejection.description, rejection.parameters)
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    # -- methods ----------------------------------------------------------

    def _bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Jigaido",
            "username": self.username,
        }

    async def _true(self, call: Call) -> bool:
        return True

    async def _get_me(self, call: Call) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        params = call.params
        self.get_updates_calls += 1
        if self.webhook_url:
            raise _Reject(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        # Like Telegram, a newer getUpdates ends an older one still waiting.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        offset = _as_int(params, "offset", 0)
        limit = min(max(_as_int(params, "limit", 100), 1), 100)
        timeout = max(_as_int(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            self.allowed_updates = params["allowed_updates"]
        self._confirm(offset)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            if self._stopping:
                return []
            if generation != self._poll_generation:
                raise _Reject(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self._pending:
                batch = self._pending[:limit]
                if self._undelivered_since_restart:
                    self._undelivered_since_restart.difference_update(u["update_id"] for u in batch)
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            # An offset confirms what was delivered: after update ids restarted lower, a
            # stale offset from before says nothing about the new updates.
            fresh = self._undelivered_since_restart or set()
            self._pending = [
                u for u in self._pending if u["update_id"] >= offset or u["update_id"] in fresh
            ]
            if offset <= self._next_update_id:  # past every id given out: stale
                self.confirmed_below = max(self.confirmed_below, offset)
        elif offset < 0 and len(self._pending) > -offset:
            # Telegram: keep the last -offset updates and forget all earlier ones.
            self._drop(len(self._pending) + offset)

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        last = self._pending[count - 1]["update_id"]
        del self._pending[:count]
        self.confirmed_below = max(self.confirmed_below, last + 1)

    async def _send_message(self, call: Call) -> JSONDict:
        params = call.params
        if self._failures:
            failure = self._failures.popleft()
            raise _Reject(failure.error_code, failure.description, failure.parameters)
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _Reject(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _Reject(400, "Bad Request: chat not found")
        self._check_reachable(chat_id)

        text, parse_mode, plain = self._text(params)
        markup = _inline_keyboard(params.get("reply_markup"))

        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict) and "message_id" in reply_parameters:
            reply_to = reply_parameters["message_id"]
        preview = params.get("link_preview_options")
        disable_preview = (
            isinstance(preview, dict) and _as_bool(preview.get("is_disabled"))
        ) or _as_bool(params.get("disable_web_page_preview"))
        thread_id = params.get("message_thread_id")

        message_id = self._new_message_id(chat_id)
        self._messages[chat_id, message_id] = _Message(
            chat_id, message_id, text, parse_mode, markup, by_bot=True
        )
        self.sent.append(
            Sent(
                chat_id=chat_id,
                text=text,
                parse_mode=parse_mode,
                reply_to_message_id=int(reply_to) if reply_to is not None else None,
                message_thread_id=int(thread_id) if thread_id is not None else None,
                disable_preview=disable_preview,
                params=params,
                time=call.time,
                message_id=message_id,
            )
        )
        message: JSONDict = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._bot_user(),
            "text": plain,
        }
        if thread_id is not None:
            message["message_thread_id"] = int(thread_id)
            message["is_topic_message"] = True
        return message

    def _text(self, params: JSONDict) -> tuple[str, str | None, str]:
        """The text, parse mode and visible text of a message, checked as Telegram does."""
        text = params.get("text")
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None and parse_mode.lower() not in {"html", "markdown", "markdownv2"}:
            raise _Reject(400, "Bad Request: unsupported parse_mode")
        plain = text
        if _is_html(parse_mode):
            parser = _HtmlParser(text)
            try:
                plain = parser.parse()
            except EntityParseError as exc:
                raise _Reject(400, f"Bad Request: can't parse entities: {exc}") from None
            # Past 2**31 Telegram leaves the entity unformatted; short of that, too far
            # ahead refuses the whole message.
            if any(time.time() + self.entity_date_ahead < t < 2**31 for t in parser.times):
                raise _Reject(400, "Bad Request: ENTITY_DATE_INVALID")
        if not plain.strip():
            raise _Reject(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_MESSAGE_LENGTH:
            raise _Reject(400, "Bad Request: message is too long")
        return text, parse_mode, plain

    def _editable(self, params: JSONDict) -> _Message:
        """The message an edit names, or Telegram's refusal."""
        if params.get("inline_message_id") is not None:
            raise _Reject(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = params.get("chat_id")
        message_id = params.get("message_id")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _Reject(400, "Bad Request: chat not found")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise _Reject(400, "Bad Request: message identifier is not specified")
        kept = self._messages.get((chat_id, message_id))
        if kept is None:
            raise _Reject(400, "Bad Request: message to edit not found")
        if not kept.by_bot or (chat_id, message_id) in self.uneditable:
            raise _Reject(400, "Bad Request: message can't be edited")
        return kept

    async def _edit_message_text(self, call: Call) -> JSONDict:
        kept = self._editable(call.params)
        text, parse_mode, plain = self._text(call.params)
        markup = _inline_keyboard(call.params.get("reply_markup"))
        if (text, parse_mode, markup) == (kept.text, kept.parse_mode, kept.markup):
            raise _Reject(400, NOT_MODIFIED)
        kept.text, kept.parse_mode, kept.markup = text, parse_mode, markup
        self.edits.append(Edited(kept.chat_id, kept.message_id, text, _rows(markup), call.time))
        return self._as_json(kept, plain)

    async def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        kept = self._editable(call.params)
        markup = _inline_keyboard(call.params.get("reply_markup"))
        if markup == kept.markup:
            raise _Reject(400, NOT_MODIFIED)
        kept.markup = markup
        self.edits.append(Edited(kept.chat_id, kept.message_id, None, _rows(markup), call.time))
        plain = parse_html(kept.text) if _is_html(kept.parse_mode) else kept.text
        return self._as_json(kept, plain)

    def _as_json(self, kept: _Message, plain: str) -> JSONDict:
        message: JSONDict = {
            "message_id": kept.message_id,
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "chat": self._chat(kept.chat_id),
            "from": self._bot_user(),
            "text": plain,
        }
        if kept.markup is not None:
            message["reply_markup"] = kept.markup
        return message

    async def _answer_callback_query(self, call: Call) -> bool:
        params = call.params
        query_id = str(params.get("callback_query_id", ""))
        text = str(params.get("text") or "")
        toast = Toast(query_id, text, _as_bool(params.get("show_alert")), call.time)
        query = self._queries.get(query_id)
        refused = None
        if query is None or query.answered or call.time - query.pushed > self.query_seconds:
            refused = QUERY_GONE
        elif utf16_len(text) > 200:
            refused = "Bad Request: MESSAGE_TOO_LONG"
        if refused is not None:
            self.toasts.append(Toast(query_id, text, toast.show_alert, call.time, refused))
            raise _Reject(400, refused)
        assert query is not None
        query.answered = True
        self.toasts.append(toast)
        return True

    def _new_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _chat(self, chat_id: int) -> JSONDict:
        if chat_id in self._chats:
            return self._chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "supergroup", "title": "Test group"}

    def _check_reachable(self, chat_id: int) -> None:
        """What Telegram answers a send to a chat that moved or blocked the bot."""
        if chat_id in self.migrated_chats:
            raise _Reject(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated_chats[chat_id]},
            )
        if chat_id in self.blocked_chats:
            raise _Reject(403, "Forbidden: bot was blocked by the user")

    async def _send_chat_action(self, call: Call) -> bool:
        """Recorded in `calls` (read them with `calls_to("sendChatAction")`); refused as
        Telegram would for a chat the bot cannot reach or an action it does not know."""
        chat_id = call.params.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _Reject(400, "Bad Request: chat not found")
        if call.params.get("action") not in CHAT_ACTIONS:
            raise _Reject(400, "Bad Request: wrong parameter action in request")
        self._check_reachable(chat_id)
        return True

    async def _set_my_description(self, call: Call) -> bool:
        # Telegram's limits: 512 characters for the description, 120 for the short one.
        for name, limit in (("description", 512), ("short_description", 120)):
            if name in call.params:
                text = str(call.params[name])
                if len(text) > limit:
                    raise _Reject(400, f"Bad Request: {name} is too long")
                self.descriptions[name] = text
        return True

    async def _set_my_commands(self, call: Call) -> bool:
        params = call.params
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _Reject(400, 'Bad Request: parameter "commands" is required')
        key = _scope_key(params.get("scope"), params.get("language_code") or "")
        self.commands[key] = commands
        return True

    async def _get_chat_administrators(self, call: Call) -> list[JSONDict]:
        chat_id = call.params.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _Reject(400, "Bad Request: chat not found")
        if chat_id > 0:
            raise _Reject(400, "Bad Request: there are no administrators in the private chat")
        if chat_id in self.migrated_chats:
            raise _Reject(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated_chats[chat_id]},
            )
        if chat_id in self.blocked_chats:
            raise _Reject(403, "Forbidden: bot was kicked from the supergroup chat")
        return [
            _chat_member(user_id, owner=i == 0)
            for i, user_id in enumerate(self.admins.get(chat_id, []))
        ]

    async def _get_my_commands(self, call: Call) -> list[JSONDict]:
        params = call.params
        key = _scope_key(params.get("scope"), params.get("language_code") or "")
        return self.commands.get(key, [])

    async def _delete_my_commands(self, call: Call) -> bool:
        params = call.params
        key = _scope_key(params.get("scope"), params.get("language_code") or "")
        self.commands.pop(key, None)
        return True

    async def _set_webhook(self, call: Call) -> bool:
        params = call.params
        self.webhook_url = str(params.get("url") or "")
        if _as_bool(params.get("drop_pending_updates")):
            self._drop(len(self._pending))
        return True

    async def _delete_webhook(self, call: Call) -> bool:
        params = call.params
        self.webhook_url = ""
        if _as_bool(params.get("drop_pending_updates")):
            self._drop(len(self._pending))
        return True

    async def _get_webhook_info(self, call: Call) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }


def _inline_keyboard(markup: Any) -> JSONDict | None:
    """An inline keyboard as Telegram checks it (callback data of 1 to 64 bytes); other
    markups are kept as they are."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise _Reject(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _Reject(400, 'Bad Request: field "inline_keyboard" must be an Array of Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise _Reject(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise _Reject(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _chat_member(user_id: int, *, owner: bool) -> JSONDict:
    """A ChatMemberOwner or a ChatMemberAdministrator with every field the Bot API sends."""
    user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
    if owner:
        return {"status": "creator", "user": user, "is_anonymous": False}
    rights = (
        "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
        "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
        "can_post_stories", "can_edit_stories", "can_delete_stories",
        "can_send_welcome_messages", "can_pin_messages",
    )  # fmt: skip
    return {
        "status": "administrator",
        "user": user,
        "can_be_edited": False,
        "is_anonymous": False,
        **dict.fromkeys(rights, True),
    }


def _scope_key(scope: Any, language_code: str) -> tuple[str, str]:
    if not isinstance(scope, dict):
        scope = {"type": "default"}
    return json.dumps(scope, sort_keys=True), language_code


def _error(error_code: int, description: str, parameters: JSONDict | None = None) -> web.Response:
    body: JSONDict = {"ok": False, "error_code": error_code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=error_code)
