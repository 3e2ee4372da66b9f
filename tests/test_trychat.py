"""The terminal chat with routers of the tests' own, standing in for features the bot's
router has not got yet (buttons); the bot's own router is tried end to end in
tests/e2e/test_try_e2e.py."""

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNotFound
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from jigaido.face.offline import TOKEN, OfflineAPI, group_id, user_id
from jigaido.face.terminal import Terminal
from jigaido.face.trychat import OfflineSession, TryChat

CARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Track", callback_data="track:1"),
            InlineKeyboardButton(text="Claim", callback_data="claim:1"),
        ],
        [InlineKeyboardButton(text="Issue", url="https://e.org/1")],
    ]
)


def card_router(*, presses: bool) -> Router:
    router = Router()

    @router.message(Command("card"))
    async def card(message: Message) -> None:
        await message.answer("<b>#1</b> Fix login", parse_mode="HTML", reply_markup=CARD)

    @router.message(Command("two"))
    async def two(message: Message) -> None:
        await message.answer("first", reply_markup=CARD)
        await message.answer("second", reply_markup=CARD)

    if presses:

        @router.callback_query()
        async def press(query: CallbackQuery) -> None:
            await query.answer(f"Done: {query.data}")
            assert isinstance(query.message, Message)
            await query.message.edit_text(f"<b>#1</b> {query.data}", parse_mode="HTML")

    return router


class Session:
    def __init__(self, tmp_path: Path, router: Router) -> None:
        self.out = io.StringIO()
        self.api = OfflineAPI()
        self.bot = Bot(TOKEN, session=OfflineSession(self.api))
        dispatcher = Dispatcher()
        dispatcher.include_router(router)
        self.leaving = asyncio.Event()
        screen = Terminal(io.StringIO(), self.out, {})
        self.chat = TryChat(
            self.api, self.bot, dispatcher, screen, data_dir=tmp_path, leaving=self.leaving
        )

    async def say(self, *lines: str) -> str:
        """What the lines make appear."""
        start = len(self.out.getvalue())
        for line in lines:
            assert await self.chat.handle(line)
        return self.out.getvalue()[start:]


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    s = Session(tmp_path, card_router(presses=True))
    yield s
    await s.bot.session.close()


async def test_buttons_are_listed_by_number(session: Session) -> None:
    """A keyboard shows under its message as numbered buttons, one line per row; a link
    button is marked."""
    assert await session.say("/card") == (
        "Jigaido:\n  #1 Fix login\n  [1] Track  [2] Claim\n  [3] Issue ↗\n"
    )


async def test_a_number_presses_its_button(session: Session) -> None:
    """Typing a button's number presses it: the bot gets the callback query, and its
    pop-up and edit are shown, the edited message's buttons replacing the old ones."""
    await session.say("/card")
    shown = await session.say("2")
    assert "Jigaido (pop-up): Done: claim:1\n" in shown
    assert "Jigaido edited a message:\n  #1 claim:1\n" in shown
    assert "(that button is gone: its message has changed)" in await session.say("1")
    await session.say("/card")
    assert "there is no button [4]: they are [1] to [3]" in await session.say("4")


async def test_a_link_button_says_where_it_goes(session: Session) -> None:
    """A URL button is not sent to the bot: the chat says what it opens."""
    await session.say("/card")
    assert "(that button opens https://e.org/1)" in await session.say("3")


async def test_buttons_of_one_answer_are_numbered_on(session: Session) -> None:
    """Two keyboards in one answer are numbered on, so each number names one button;
    the next answer's buttons start again from 1."""
    shown = await session.say("/two")
    assert "[1] Track  [2] Claim" in shown
    assert "[4] Track  [5] Claim" in shown
    assert "[1] Track" in await session.say("/card")


async def test_buttons_belong_to_their_chat(session: Session) -> None:
    """A number presses a button of the chat you are in; elsewhere it is just text."""
    await session.say("/card")
    elsewhere = await session.say(":group other", "1")
    assert "pop-up" not in elsewhere
    assert "no answer" in elsewhere
    assert "pop-up" in await session.say(":group team", "1")


async def test_presses_wait_for_a_router_that_takes_them(tmp_path: Path) -> None:
    """Until the bot's router handles callback queries, a press says buttons are not
    ready, and nothing is sent to the bot."""
    s = Session(tmp_path, card_router(presses=False))
    await s.say("/card")
    assert "(buttons are not ready yet" in await s.say("1")
    await s.bot.session.close()


async def test_the_prompt_shows_who_and_where(session: Session) -> None:
    """The prompt names the person, the chat, and whether the person is its admin."""
    assert session.chat.prompt() == 'Ann @ group "team"> '
    await session.say(":admin")
    assert session.chat.prompt() == 'Ann (admin) @ group "team"> '
    await session.say(":as Bob", ":dm")
    assert session.chat.prompt() == "Bob @ DM> "


async def test_admin_toggles_in_a_group_only(session: Session) -> None:
    """:admin makes you an admin of the group you are in and back; in a private chat it
    answers its usage."""
    assert 'Ann is an admin of group "team".' in await session.say(":admin")
    assert session.api.is_admin(group_id("team"), session.chat.person)
    assert "no longer an admin" in await session.say(":admin")
    assert "Usage: :admin" in await session.say(":dm", ":admin")


async def test_meta_commands_answer_their_usage(session: Session) -> None:
    """A meta-command without its name, with a stray argument or unknown gets its usage
    or the list of them; :help lists them all."""
    assert "Usage: :group NAME" in await session.say(":group")
    assert "Usage: :as NAME" in await session.say(":as   ")
    assert "Usage: :dm" in await session.say(":dm now")
    assert "There is no :frob. These are: :group NAME, :dm, :as NAME" in await session.say(":frob")
    assert "A name is 1 to 64" in await session.say(":as " + "x" * 65)
    shown = await session.say(":help")
    for name in (":group NAME", ":dm", ":as NAME", ":admin", ":help", ":quit"):
        assert name in shown
    assert not await session.chat.handle(":quit")


async def test_as_switches_person_and_private_chat(session: Session) -> None:
    """:as names the person's stable id; in a private chat it moves to theirs."""
    assert f"You are Bob now (user id {user_id('Bob')})." in await session.say(":as Bob")
    assert ", in Cy's private chat." in await session.say(":dm", ":as Cy")
    assert session.chat.chat["id"] == user_id("cy")


async def test_session_errors_are_aiogram_exceptions(session: Session) -> None:
    """The offline answers go through aiogram's own checks: a refusal is the exception the
    real Bot API would cause, never a crash of the session."""
    bot = session.bot
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(user_id("Zed"), "hi")
    with pytest.raises(TelegramNotFound, match="no offline getChat"):
        await bot.get_chat(group_id("team"))
    await session.say("/card")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>#1</b> Fix login", chat_id=group_id("team"), message_id=2, parse_mode="HTML",
            reply_markup=CARD,
        )  # fmt: skip
    me = await bot.me()
    assert me.username == "jigaido_try_bot"
