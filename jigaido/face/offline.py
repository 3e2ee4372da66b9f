"""Telegram without the network, for `jigaido try`: the Bot API's side of the chats,
inside the process.

`OfflineAPI` answers a Bot API method, given the form fields aiogram would post, with
the HTTP status and JSON Telegram would answer (trychat.py's aiogram session hands it
the requests), and makes up the updates Telegram would deliver when a person writes or
presses a button. What the bot makes appear on a phone goes to `OfflineAPI.show`, for
the terminal to print. Plain data in and out: no aiogram, no I/O.

People and groups are named; their ids are derived from the names (the same name, in
any case, is the same id every time) and stored nowhere.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from jigaido.core.render import MESSAGE_LIMIT
from jigaido.face import phone

BOT_ID = 7_700_000_001  # above every user id below
BOT_USERNAME = "jigaido_try_bot"
BOT_NAME = "Jigaido"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": BOT_NAME,
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,  # privacy mode, as a new bot has it
    "supports_inline_queries": False,
}
# Looks like a token, as aiogram insists; it never leaves the process.
TOKEN = f"{BOT_ID}:offline-jigaido-try"
MAX_NAME = 64  # Telegram's limit on a first name


def normal_name(name: str) -> str:
    """`name` with its spaces tidied: what is shown."""
    return " ".join(name.split())


def user_id(name: str) -> int:
    """A stable user id for `name` (case and spacing aside), in the range of real ones."""
    return 2_000_000_000 + _digest("user", name) % 5_000_000_000


def group_id(name: str) -> int:
    """A stable supergroup id for `name`: `-100` and ten digits, like Telegram's."""
    return -(1_000_000_000_000 + 1_000_000_000 + _digest("group", name) % 9_000_000_000)


def _digest(kind: str, name: str) -> int:
    key = f"{kind}:{normal_name(name).casefold()}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


@dataclass(frozen=True, slots=True)
class Person:
    name: str

    @property
    def id(self) -> int:
        return user_id(self.name)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.name}


def group_chat(name: str) -> dict[str, Any]:
    return {"id": group_id(name), "type": "supergroup", "title": normal_name(name)}


def private_chat(person: Person) -> dict[str, Any]:
    return {"id": person.id, "type": "private", "first_name": person.name}


def chat_name(chat: Mapping[str, Any]) -> str:
    """`group "team"`, or `Ann's private chat`."""
    if chat["type"] == "private":
        return f"{chat['first_name']}'s private chat"
    return f'group "{chat["title"]}"'


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(slots=True)
class Posted:
    """A message in a chat, as Telegram keeps it."""

    chat: dict[str, Any]
    message_id: int
    sender: dict[str, Any]
    text: str  # as sent: HTML when `html`
    html: bool
    date: int
    keyboard: Keyboard = ()
    markup: dict[str, Any] | None = None  # reply_markup, as sent

    @property
    def plain(self) -> str:
        return phone.to_plain(self.text) if self.html else self.text

    @property
    def sender_name(self) -> str:
        return str(self.sender.get("first_name", ""))

    @property
    def by_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    def as_json(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat,
            "from": self.sender,
            "text": self.plain,
        }
        if self.markup is not None:
            message["reply_markup"] = self.markup
        return message


@dataclass(frozen=True, slots=True)
class Shown:
    """Something the bot made appear on a phone."""

    what: Literal["message", "edited", "toast", "alert", "refused"]
    chat: Mapping[str, Any] | None  # None: a refusal of a request naming no known chat
    text: str
    html: bool = False
    reply_to: Posted | None = None
    keyboard: Keyboard = ()
    message_id: int = 0  # of the message shown or edited


class _Refused(Exception):
    """Telegram's `{"ok": false}` answer."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class OfflineAPI:
    """The chats as Telegram sees them: who said what where, with the ids it gives."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.show: Callable[[Shown], None] = lambda _shown: None
        self.chats: dict[int, dict[str, Any]] = {}  # those a person has written in
        self.messages: dict[tuple[int, int], Posted] = {}
        self.admins: dict[int, dict[int, Person]] = {}  # group id -> its administrators
        self._message_ids: dict[int, int] = {}  # chat id -> the last message id given
        self._last_update_id = 0
        self._open_queries: set[str] = set()
        self._methods: dict[str, Callable[[Mapping[str, str]], Any]] = {
            "getMe": lambda _form: BOT_USER,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "getChatAdministrators": self._get_chat_administrators,
            # Accepted and without effect here: nothing to show for them.
            "setMyCommands": lambda _form: True,
            "deleteWebhook": lambda _form: True,
            "sendChatAction": lambda _form: True,
        }

    # --- what people do -------------------------------------------------------------

    def message(self, chat: dict[str, Any], person: Person, text: str) -> dict[str, Any]:
        """`person` writes `text` in `chat`: the update Telegram would deliver."""
        self.chats[chat["id"]] = chat
        message_id = self._next_message_id(chat["id"])
        posted = Posted(chat, message_id, person.as_json(), text, False, int(self.clock()))
        self.messages[chat["id"], message_id] = posted
        message = posted.as_json()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return {"update_id": self._next_update_id(), "message": message}

    def press(self, posted: Posted, button: Button, person: Person) -> dict[str, Any]:
        """`person` presses `button` under `posted`: the callback query update."""
        update_id = self._next_update_id()
        query_id = str(update_id)
        self._open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": person.as_json(),
            "chat_instance": str(posted.chat["id"]),
            "message": posted.as_json(),
            "data": button.callback_data,
        }
        return {"update_id": update_id, "callback_query": query}

    def set_admin(self, group: int, person: Person, *, admin: bool) -> None:
        admins = self.admins.setdefault(group, {})
        if admin:
            admins[person.id] = person
        else:
            admins.pop(person.id, None)

    def is_admin(self, group: int, person: Person) -> bool:
        return person.id in self.admins.get(group, {})

    # --- the Bot API ----------------------------------------------------------------

    def answer(self, method: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body Telegram would answer `method` with."""
        handler = self._methods.get(method)
        if handler is None:
            return self.refuse(method, form, 404, f"Not Found: jigaido try has no offline {method}")
        try:
            return 200, {"ok": True, "result": handler(form)}
        except _Refused as e:
            if e.description == _NOT_MODIFIED:
                # A phone shows nothing, and there is nothing to explain: it is as it was.
                return e.code, {"ok": False, "error_code": e.code, "description": e.description}
            return self.refuse(method, form, e.code, e.description)

    def refuse(
        self, method: str, form: Mapping[str, str], code: int, description: str
    ) -> tuple[int, dict[str, Any]]:
        """Telegram's refusal of `method`, shown too: a phone would show nothing, and
        the person trying the bot should know why."""
        chat = self.chats.get(_int_or_zero(form.get("chat_id")))
        self.show(Shown("refused", chat, f"{method}: {description}"))
        return code, {"ok": False, "error_code": code, "description": description}

    def _send_message(self, form: Mapping[str, str]) -> dict[str, Any]:
        chat = self._chat(form)
        text, html = self._text(form)
        keyboard, markup = _keyboard(form.get("reply_markup"))
        reply_to = self.messages.get((chat["id"], _reply_to(form)))
        posted = Posted(
            chat, self._next_message_id(chat["id"]), BOT_USER, text, html, int(self.clock())
        )
        posted.keyboard, posted.markup = keyboard, markup
        self.messages[chat["id"], posted.message_id] = posted
        self.show(Shown("message", chat, text, html, reply_to, keyboard, posted.message_id))
        return posted.as_json()

    def _edit_message_text(self, form: Mapping[str, str]) -> dict[str, Any]:
        posted = self._editable(form)
        text, html = self._text(form)
        keyboard, markup = _keyboard(form.get("reply_markup"))
        if (text, html, markup) == (posted.text, posted.html, posted.markup):
            raise _Refused(400, _NOT_MODIFIED)
        posted.text, posted.html, posted.keyboard, posted.markup = text, html, keyboard, markup
        self.show(Shown("edited", posted.chat, text, html, None, keyboard, posted.message_id))
        return posted.as_json()

    def _edit_message_reply_markup(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The buttons alone; without a reply_markup, the message loses its buttons."""
        posted = self._editable(form)
        keyboard, markup = _keyboard(form.get("reply_markup"))
        if markup == posted.markup:
            raise _Refused(400, _NOT_MODIFIED)
        posted.keyboard, posted.markup = keyboard, markup
        shown = Shown("edited", posted.chat, posted.text, posted.html, None, keyboard)
        self.show(replace(shown, message_id=posted.message_id))
        return posted.as_json()

    def _editable(self, form: Mapping[str, str]) -> Posted:
        """The bot's message an edit names, as Telegram finds it or refuses."""
        if "inline_message_id" in form:
            raise _Refused(400, "Bad Request: jigaido try has no inline messages")
        chat = self._chat(form)
        posted = self.messages.get((chat["id"], _int(form, "message_id")))
        if posted is None:
            raise _Refused(400, "Bad Request: message to edit not found")
        if not posted.by_bot:
            raise _Refused(400, "Bad Request: message can't be edited")
        return posted

    def _answer_callback_query(self, form: Mapping[str, str]) -> bool:
        query_id = form.get("callback_query_id", "")
        if query_id not in self._open_queries:
            raise _Refused(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_queries.discard(query_id)
        text = form.get("text")
        if text:
            alert = form.get("show_alert") == "true"
            self.show(Shown("alert" if alert else "toast", None, text))
        return True

    def _get_chat_administrators(self, form: Mapping[str, str]) -> list[dict[str, Any]]:
        chat = self._chat(form)
        if chat["type"] == "private":
            raise _Refused(400, "Bad Request: there are no administrators in the private chat")
        admins = self.admins.get(chat["id"], {}).values()
        return [_administrator(person) for person in admins]

    def _chat(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The chat the request names; Telegram knows only those someone wrote in."""
        chat_id = _int(form, "chat_id")
        chat = self.chats.get(chat_id)
        if chat is not None:
            return chat
        if chat_id > 0:
            raise _Refused(403, "Forbidden: bot can't initiate conversation with a user")
        raise _Refused(400, "Bad Request: chat not found")

    def _text(self, form: Mapping[str, str]) -> tuple[str, bool]:
        """The message's text and whether it is HTML, checked as Telegram checks it."""
        text = form.get("text", "")
        mode = form.get("parse_mode")
        if mode not in (None, "HTML"):
            raise _Refused(400, f"Bad Request: jigaido try shows only HTML, not {mode}")
        html = mode == "HTML"
        try:
            plain = phone.to_plain(text) if html else text
        except phone.BadHTML as e:
            raise _Refused(400, f"Bad Request: can't parse entities: {e}") from None
        if not plain.strip():
            raise _Refused(400, "Bad Request: message text is empty")
        if _utf16_len(plain.strip()) > MESSAGE_LIMIT:
            raise _Refused(400, "Bad Request: message is too long")
        return text, html

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _next_update_id(self) -> int:
        """Growing across runs without being stored: the clock in microseconds. The
        chats' files remember the update ids they applied, so one must never repeat."""
        self._last_update_id = max(self._last_update_id + 1, int(self.clock() * 1_000_000))
        return self._last_update_id


_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def _keyboard(raw: str | None) -> tuple[Keyboard, dict[str, Any] | None]:
    """An inline keyboard's buttons (other markups are shown without buttons)."""
    if raw is None:
        return (), None
    markup = json.loads(raw)
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        return (), markup if isinstance(markup, dict) else None
    keyboard = tuple(
        tuple(
            Button(str(b.get("text", "")), b.get("callback_data"), b.get("url"))
            for b in row
            if isinstance(b, dict)
        )
        for row in rows
        if isinstance(row, list)
    )
    return keyboard, markup


def _reply_to(form: Mapping[str, str]) -> int:
    raw = form.get("reply_parameters")
    if raw is not None:
        parameters = json.loads(raw)
        if isinstance(parameters, dict):
            return _int_or_zero(parameters.get("message_id"))
    return _int_or_zero(form.get("reply_to_message_id"))


def _administrator(person: Person) -> dict[str, Any]:
    rights = (
        "can_be_edited can_manage_chat can_delete_messages can_manage_video_chats "
        "can_restrict_members can_promote_members can_change_info can_invite_users "
        "can_post_stories can_edit_stories can_delete_stories can_send_welcome_messages"
    )
    member: dict[str, Any] = {"status": "administrator", "user": person.as_json()}
    member.update(dict.fromkeys(rights.split(), False))
    member.update(is_anonymous=False, can_manage_chat=True, can_delete_messages=True)
    return member


def _int(form: Mapping[str, str], name: str) -> int:
    value = form.get(name)
    if value is None:
        raise _Refused(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except ValueError:
        raise _Refused(400, f"Bad Request: {name} is not a number: {value}") from None


def _utf16_len(text: str) -> int:
    """Telegram's unit of length."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _int_or_zero(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
