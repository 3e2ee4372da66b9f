"""`jigaido try`: a chat with the real bot in the terminal, with no token and no network.

What the person types becomes the update Telegram would deliver and goes to the same
dispatcher, router, workers, files and sender as `jigaido run`; only Telegram is
replaced, by `OfflineAPI` behind an aiogram session (offline.py). Each answer is
printed once its chat's worker has saved the change and sent it. Lines starting with
`:` are for the terminal (terminal.py): switch group, person, private chat.

Unlike `run`, the outbox keeps no Telegram rate limits (nothing here would enforce
them, and a person trying the bot should not wait a second for each answer), and the
admins of a group are not cached (`:admin` counts at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncGenerator, Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Update

from jigaido.core.model import Confirmed
from jigaido.face import phone, service, telegram, terminal
from jigaido.face.admins import Admins
from jigaido.face.offline import (
    BOT_NAME,
    MAX_NAME,
    TOKEN,
    Button,
    OfflineAPI,
    Person,
    Shown,
    chat_name,
    group_chat,
    normal_name,
    private_chat,
)
from jigaido.face.terminal import Terminal
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Job, Pool


async def run(data_dir: Path, tz: tzinfo, screen: Terminal) -> None:
    """Chat until the input ends, `:quit`, Ctrl-C or SIGTERM; then finish and save what
    was taken, as `jigaido run` does when it stops. The caller holds the data-dir lock."""
    leaving = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, leaving.set)
    api = OfflineAPI()
    bot = Bot(TOKEN, session=OfflineSession(api))
    try:
        me = await bot.me()
        # Asked afresh every time (the offline API costs nothing), so :admin counts at once;
        # the real bot keeps a group's list for up to 10 minutes.
        admins = Admins(telegram.make_admin_fetcher(bot), ttl=0.0)
        # Wired as service.run wires it, the outbox aside (see the module's docstring).
        sender = telegram.make_sender(bot)
        outbox = Outbox(sender, buttons=sender)
        core = service.wire(me.username or "", data_dir, tz, outbox, admins)
        chat = TryChat(
            api, bot, core.dispatcher, screen, data_dir=data_dir, leaving=leaving,
            on_done=lambda update_id: _confirm(core.pool, update_id),
        )  # fmt: skip
        try:
            await service.resubmit_held(core.pool, core.held)
            await chat.run()
        finally:
            await core.close()
        screen.say(f"Bye! Everything is saved in {data_dir}/; jigaido try carries on from there.")
    finally:
        await bot.session.close()
        screen.close()


def _confirm(pool: Pool, update_id: int) -> None:
    """What the poller does once Telegram is told an update is done: the dedupe records
    of updates up to it may go at the chat's next write."""
    pool.confirmed = Confirmed(update_id + 1, int(pool.clock()))


class TryChat:
    """One person at a time, in one chat at a time, talking to the bot."""

    def __init__(
        self,
        api: OfflineAPI,
        bot: Bot,
        dispatcher: Dispatcher,
        screen: Terminal,
        *,
        data_dir: Path,
        leaving: asyncio.Event,
        on_done: Callable[[int], None] = lambda _update_id: None,
    ) -> None:
        self.api = api
        self.bot = bot
        self.dispatcher = dispatcher
        self.screen = screen
        self.data_dir = data_dir
        self.leaving = leaving
        self.on_done = on_done  # an update's effect is saved and its answer shown
        self.person = Person(terminal.FIRST_PERSON)
        self.group: str | None = terminal.FIRST_GROUP  # None: the private chat
        self.presses = "callback_query" in dispatcher.resolve_used_update_types()
        # chat id -> the buttons a number presses there: (message id, button), or None
        # for one whose message has changed since (the others keep their numbers)
        self.buttons: dict[int, list[tuple[int, Button] | None]] = {}
        self._renumber: set[int] = set()  # chats whose next buttons are numbered from 1
        self._shown = 0  # things shown since the last line was sent
        api.show = self.show

    @property
    def chat(self) -> dict[str, Any]:
        if self.group is None:
            return private_chat(self.person)
        return group_chat(self.group)

    def prompt(self) -> str:
        admin = self.group is not None and self.api.is_admin(self.chat["id"], self.person)
        who = f"{self.person.name} (admin)" if admin else self.person.name
        where = "DM" if self.group is None else f'group "{self.group}"'
        return self.screen.prompt_style(f"{who} @ {where}>") + " "

    async def run(self) -> None:
        while not self.leaving.is_set():
            line = await self._read()
            if line is None or not await self.handle(line):
                return

    async def handle(self, line: str) -> bool:
        """Act on one line; False when it says to leave."""
        text = line.strip()  # as Telegram trims a message
        if not text:
            return True
        if text.startswith(":"):
            return self.meta(text[1:])
        if text.isdigit() and self.buttons.get(self.chat["id"]):
            await self._press(int(text))
        else:
            await self._send(text)
        return True

    def show(self, shown: Shown) -> None:
        """Print what the bot made appear, as a phone shows it."""
        self._shown += 1
        if shown.what == "refused":
            self.screen.note(f"Telegram refused the bot's {shown.text}")
            return
        if shown.what in ("toast", "alert"):
            kind = "pop-up" if shown.what == "toast" else "alert"
            self.screen.say(f"{self.screen.bold(BOT_NAME)} ({kind}): {shown.text}")
            return
        self.screen.say(self._header(shown))
        body = phone.to_plain(shown.text, ansi=self.screen.ansi) if shown.html else shown.text
        lines = [*body.split("\n"), *self._number(shown)]
        self.screen.say("\n".join(f"  {line}" if line else "" for line in lines))

    # --- meta-commands ------------------------------------------------------------

    def meta(self, command: str) -> bool:
        parts = command.split(maxsplit=1)
        name = parts[0] if parts else ""
        arg = parts[1] if len(parts) > 1 else ""
        if name in ("quit", "exit"):
            return False
        if name not in terminal.USAGE:
            self.screen.say(terminal.unknown(name))
        elif name in ("group", "as"):
            self._named(name, arg)
        elif arg:
            self.screen.say(terminal.usage(name))
        elif name == "dm":
            self.group = None
            self.screen.say(f"You are in your private chat with the bot now{self._files()}.")
        elif name == "admin":
            self._toggle_admin()
        else:
            self.screen.say(terminal.help_text())
        return True

    def _named(self, name: str, arg: str) -> None:
        shown = normal_name(arg)
        if not shown:
            self.screen.say(terminal.usage(name))
        elif len(shown) > MAX_NAME or not shown.isprintable():
            self.screen.say(f"A name is 1 to {MAX_NAME} printable characters.")
        elif name == "group":
            self.group = shown
            self.screen.say(f'You are in group "{shown}" now{self._files()}.')
        else:
            self.person = Person(shown)
            where = "" if self.group is not None else f", in {shown}'s private chat"
            self.screen.say(f"You are {shown} now (user id {self.person.id}){where}.")

    def _toggle_admin(self) -> None:
        if self.group is None:
            self.screen.say(terminal.usage("admin") + " (in a group)")
            return
        chat_id = self.chat["id"]
        admin = not self.api.is_admin(chat_id, self.person)
        self.api.set_admin(chat_id, self.person, admin=admin)
        now = "an admin" if admin else "no longer an admin"
        self.screen.say(f'{self.person.name} is {now} of group "{self.group}".')

    def _files(self) -> str:
        chat_id = self.chat["id"]
        return f" (chat id {chat_id}; its files go in {self.data_dir / str(chat_id)}/)"

    # --- messages and presses -----------------------------------------------------

    async def _send(self, text: str) -> None:
        chat = self.chat
        update = self.api.message(chat, self.person, text)
        if await self._turn(update, chat["id"]):
            return
        if chat["type"] == "private":
            self.screen.note("no answer: the bot answers commands, such as /help")
        elif text.startswith("/"):
            self.screen.note("no answer: in a group the bot answers only its own commands")
        else:
            self.screen.note("no answer: in a group the bot reads only commands, such as /help")

    async def _press(self, number: int) -> None:
        chat_id = self.chat["id"]
        buttons = self.buttons[chat_id]
        if not 1 <= number <= len(buttons):
            self.screen.note(f"there is no button [{number}]: they are [1] to [{len(buttons)}]")
            return
        pressed = buttons[number - 1]
        posted = None if pressed is None else self.api.messages.get((chat_id, pressed[0]))
        if pressed is None or posted is None:
            self.screen.note("that button is gone: its message has changed")
            return
        button = pressed[1]
        if button.url is not None:
            self.screen.note(f"that button opens {button.url}")
        elif button.callback_data is None:
            self.screen.note("jigaido try cannot press this kind of button")
        elif not self.presses:
            self.screen.note("buttons are not ready yet: this version of the bot ignores a press")
        elif not await self._turn(self.api.press(posted, button, self.person), chat_id):
            self.screen.note("no answer to the press")

    async def _turn(self, raw: dict[str, Any], chat_id: int) -> bool:
        """Hand `raw` to the dispatcher as Telegram would, and wait until its answer is
        out; True if anything was shown."""
        self._shown = 0
        self._renumber.add(chat_id)
        update = Update.model_validate(raw, context={"bot": self.bot})
        job = await telegram.feed(self.dispatcher, self.bot, update)
        if job is not None and await self._finished(job):
            self.on_done(update.update_id)
        return self._shown > 0

    async def _finished(self, job: Job) -> bool:
        leaving = asyncio.ensure_future(self.leaving.wait())
        waiting: list[asyncio.Future[Any]] = [job.done, leaving]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        return job.finished

    async def _read(self) -> str | None:
        reading = asyncio.ensure_future(self.screen.read(self.prompt()))
        leaving = asyncio.ensure_future(self.leaving.wait())
        try:
            await asyncio.wait([reading, leaving], return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading  # the prompt is no longer being read: nothing to redraw
            self.screen.say("")  # off the prompt's line
            return None
        line = reading.result()
        if line is None and not self.screen.echo:
            self.screen.say("")  # Ctrl-D leaves the cursor after the prompt
        return line

    def _header(self, shown: Shown) -> str:
        chat = shown.chat
        where = "" if chat is None or chat["id"] == self.chat["id"] else f" in {chat_name(chat)}"
        if shown.what == "edited":
            return f"{self.screen.bold(BOT_NAME)} edited a message{where}:"
        replied = shown.reply_to
        to = "" if replied is None or replied.by_bot else f", replying to {replied.sender_name}"
        return f"{self.screen.bold(BOT_NAME)}{where}{to}:"

    def _number(self, shown: Shown) -> list[str]:
        """The keyboard's lines; its buttons become the ones a number presses in its
        chat (after the last message sent, numbering starts again from 1). An edited
        message's old buttons are gone."""
        if shown.chat is None:
            return []
        chat_id = shown.chat["id"]
        if shown.what == "edited" and chat_id in self.buttons:
            self.buttons[chat_id] = [
                None if b is None or b[0] == shown.message_id else b for b in self.buttons[chat_id]
            ]
        if not shown.keyboard:
            return []
        if chat_id in self._renumber:
            self._renumber.discard(chat_id)
            self.buttons[chat_id] = []
        pressable = self.buttons.setdefault(chat_id, [])
        first = len(pressable) + 1
        pressable += [(shown.message_id, b) for row in shown.keyboard for b in row]
        labels = [[b.text + (" ↗" if b.url else "") for b in row] for row in shown.keyboard]
        return phone.keyboard(labels, first)


class OfflineSession(BaseSession):
    """An aiogram session answered by an `OfflineAPI`: the request is made into the form
    aiogram's HTTP session would post, the answer is the JSON Telegram would give, and
    aiogram's own checks turn it into a result or the exception the real API would
    raise. It opens no connection."""

    def __init__(self, api: OfflineAPI) -> None:
        super().__init__()
        self.offline = api

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature; nothing waits here
    ) -> TelegramType:
        name = method.__api_method__
        form, attached = self._form(bot, method)
        if attached:
            status, body = self.offline.refuse(
                name, form, 400, "Bad Request: jigaido try sends no files"
            )
        else:
            status, body = self.offline.answer(name, form)
        response = self.check_response(
            bot=bot, method=method, status_code=status, content=json.dumps(body)
        )
        return cast(TelegramType, response.result)

    def _form(self, bot: Bot, method: TelegramMethod[TelegramType]) -> tuple[dict[str, str], bool]:
        """The fields as aiogram's HTTP session posts them (strings, nested objects as
        JSON, empty ones left out), and whether files were attached."""
        files: dict[str, InputFile] = {}
        form = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                form[key] = str(prepared)
        return form, bool(files)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise OSError(f"jigaido try downloads nothing ({url})")
        yield b""  # makes this the async generator aiogram expects

    async def close(self) -> None:
        """Nothing to close: no connection was opened."""
