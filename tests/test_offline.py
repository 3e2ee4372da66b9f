import json
from typing import Any

import pytest

from jigaido.face.offline import (
    BOT_ID,
    BOT_USER,
    OfflineAPI,
    Person,
    Shown,
    group_chat,
    group_id,
    private_chat,
    user_id,
)

ANN = Person("Ann")
TEAM = group_chat("team")
KEYBOARD = json.dumps(
    {
        "inline_keyboard": [
            [{"text": "Track", "callback_data": "t:1"}, {"text": "Claim", "callback_data": "c:1"}],
            [{"text": "Open", "url": "https://e.org"}],
        ]
    }
)


class Recorded:
    def __init__(self) -> None:
        self.api = OfflineAPI(clock=lambda: 1_767_225_600.0)
        self.shown: list[Shown] = []
        self.api.show = self.shown.append

    def ok(self, method: str, **form: Any) -> Any:
        status, body = self.api.answer(method, {k: str(v) for k, v in form.items()})
        assert (status, body["ok"]) == (200, True), body
        return body["result"]

    def refused(self, method: str, **form: Any) -> tuple[int, str]:
        status, body = self.api.answer(method, {k: str(v) for k, v in form.items()})
        assert body["ok"] is False
        assert body["error_code"] == status
        return status, body["description"]


@pytest.fixture
def tg() -> Recorded:
    recorded = Recorded()
    recorded.api.message(TEAM, ANN, "/start")  # the group is known once someone wrote there
    return recorded


def test_ids_are_derived_from_names() -> None:
    """The same name is the same id every time, whatever its case and spacing; users are
    positive, groups negative supergroup ids, and nobody is the bot."""
    assert user_id("Bob") == user_id(" bob ") == Person("BOB").id
    assert user_id("Bob") != user_id("Ann")
    assert 0 < user_id("Ann") < BOT_ID
    assert group_id("dev  team") == group_id("Dev Team")
    assert str(group_id("team")).startswith("-100")
    assert len(str(group_id("team"))) == len("-1001234567890")
    assert private_chat(ANN)["id"] == ANN.id


def test_a_message_becomes_the_update_telegram_delivers() -> None:
    """Writing gives a message update with growing update ids, message ids counted per
    chat, the sender, and a bot_command entity for a command."""
    api = OfflineAPI(clock=lambda: 1_767_225_600.0)
    first = api.message(TEAM, ANN, "/add@jigaido_try_bot Fix it")
    second = api.message(TEAM, ANN, "hello")
    assert second["update_id"] > first["update_id"]
    message = first["message"]
    assert message["message_id"] == 1
    assert second["message"]["message_id"] == 2
    assert message["from"] == {"id": ANN.id, "is_bot": False, "first_name": "Ann"}
    assert message["chat"] == TEAM
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 20}]
    assert "entities" not in second["message"]


def test_update_ids_grow_across_runs() -> None:
    """A later run's updates come after an earlier run's: the chats' files remember the
    update ids they applied, so one must never come again."""
    earlier = OfflineAPI(clock=lambda: 1_767_225_600.0).message(TEAM, ANN, "/bounty")
    later = OfflineAPI(clock=lambda: 1_767_225_601.0).message(TEAM, ANN, "/bounty")
    assert later["update_id"] > earlier["update_id"]


def test_get_me_is_the_try_bot(tg: Recorded) -> None:
    """getMe answers the bot's user, with its username."""
    assert tg.ok("getMe") == BOT_USER
    assert BOT_USER["username"] == "jigaido_try_bot"


def test_send_message_is_shown_with_its_reply_and_buttons(tg: Recorded) -> None:
    """sendMessage answers the Message, and shows the text, what it replies to and the
    keyboard's buttons."""
    result = tg.ok(
        "sendMessage",
        chat_id=TEAM["id"],
        text="<b>#1</b> Fix &amp; ship",
        parse_mode="HTML",
        reply_parameters=json.dumps({"message_id": 1}),
        reply_markup=KEYBOARD,
    )
    assert result["text"] == "#1 Fix & ship"
    assert result["from"] == BOT_USER
    assert result["message_id"] == 2
    [shown] = tg.shown
    assert (shown.what, shown.html, shown.message_id) == ("message", True, 2)
    assert shown.reply_to is not None
    assert shown.reply_to.sender_name == "Ann"
    assert [[b.text for b in row] for row in shown.keyboard] == [["Track", "Claim"], ["Open"]]
    assert shown.keyboard[1][0].url == "https://e.org"


@pytest.mark.parametrize(
    ("text", "mode", "why"),
    [
        ("<b>x", "HTML", "can't parse entities"),
        ("<blink>x</blink>", "HTML", "can't parse entities"),
        ("  <b> </b> ", "HTML", "message text is empty"),
        ("x" * 4097, "HTML", "message is too long"),
        ("&amp;" * 4097, "HTML", "message is too long"),
        ("*x*", "MarkdownV2", "only HTML"),
    ],
)
def test_a_message_telegram_would_refuse_is_refused(
    tg: Recorded, text: str, mode: str, why: str
) -> None:
    """Bad markup, an empty or too long text are refused with Telegram's 400, and the
    refusal is shown (a phone would show nothing, and the bot would not know why)."""
    status, description = tg.refused("sendMessage", chat_id=TEAM["id"], text=text, parse_mode=mode)
    assert status == 400
    assert why in description
    assert [s.what for s in tg.shown] == ["refused"]
    assert why in tg.shown[0].text


def test_the_longest_message_is_taken(tg: Recorded) -> None:
    """4,096 characters after parsing is within Telegram's limit."""
    tg.ok("sendMessage", chat_id=TEAM["id"], text="&lt;" * 4096, parse_mode="HTML")


def test_chats_nobody_wrote_in_are_refused(tg: Recorded) -> None:
    """The bot cannot write first to a person (403), and knows no group nobody wrote in."""
    assert tg.refused("sendMessage", chat_id=user_id("Zed"), text="hi")[0] == 403
    assert tg.refused("sendMessage", chat_id=group_id("elsewhere"), text="hi") == (
        400,
        "Bad Request: chat not found",
    )


def test_edit_message_text_changes_the_message_once(tg: Recorded) -> None:
    """editMessageText shows the new text and buttons; the same content again is
    Telegram's "message is not modified"; a person's message cannot be edited."""
    sent = tg.ok("sendMessage", chat_id=TEAM["id"], text="page 1/2", reply_markup=KEYBOARD)
    edit = {"chat_id": TEAM["id"], "message_id": sent["message_id"], "text": "page 2/2"}
    assert tg.ok("editMessageText", **edit)["text"] == "page 2/2"
    assert [s.what for s in tg.shown] == ["message", "edited"]
    assert tg.shown[1].keyboard == ()
    assert "message is not modified" in tg.refused("editMessageText", **edit)[1]
    person = {"chat_id": TEAM["id"], "message_id": 1, "text": "x"}
    assert tg.refused("editMessageText", **person)[1] == "Bad Request: message can't be edited"
    gone = {"chat_id": TEAM["id"], "message_id": 99, "text": "x"}
    assert tg.refused("editMessageText", **gone)[1] == "Bad Request: message to edit not found"


def test_a_press_is_a_callback_query_answered_once(tg: Recorded) -> None:
    """Pressing gives a callback_query update carrying the message and the button's data;
    its answer shows as a pop-up, and a second answer is refused."""
    sent = tg.ok("sendMessage", chat_id=TEAM["id"], text="card", reply_markup=KEYBOARD)
    posted = tg.api.messages[TEAM["id"], sent["message_id"]]
    update = tg.api.press(posted, posted.keyboard[0][1], Person("Bob"))
    query = update["callback_query"]
    assert query["data"] == "c:1"
    assert query["from"]["first_name"] == "Bob"
    assert query["message"]["message_id"] == sent["message_id"]
    assert tg.ok("answerCallbackQuery", callback_query_id=query["id"], text="Claimed") is True
    assert (tg.shown[-1].what, tg.shown[-1].text) == ("toast", "Claimed")
    assert tg.refused("answerCallbackQuery", callback_query_id=query["id"])[0] == 400


def test_an_alert_is_shown_as_one(tg: Recorded) -> None:
    """show_alert makes the answer an alert."""
    sent = tg.ok("sendMessage", chat_id=TEAM["id"], text="card", reply_markup=KEYBOARD)
    posted = tg.api.messages[TEAM["id"], sent["message_id"]]
    query = tg.api.press(posted, posted.keyboard[0][0], ANN)["callback_query"]
    tg.ok("answerCallbackQuery", callback_query_id=query["id"], text="No", show_alert="true")
    assert tg.shown[-1].what == "alert"


def test_administrators_are_those_made_admins(tg: Recorded) -> None:
    """getChatAdministrators lists nobody until someone is made an admin; a private
    chat has none, as Telegram says."""
    assert tg.ok("getChatAdministrators", chat_id=TEAM["id"]) == []
    tg.api.set_admin(TEAM["id"], ANN, admin=True)
    [member] = tg.ok("getChatAdministrators", chat_id=TEAM["id"])
    assert member["status"] == "administrator"
    assert member["user"]["id"] == ANN.id
    tg.api.set_admin(TEAM["id"], ANN, admin=False)
    assert tg.ok("getChatAdministrators", chat_id=TEAM["id"]) == []
    tg.api.message(private_chat(ANN), ANN, "/start")
    assert "no administrators" in tg.refused("getChatAdministrators", chat_id=ANN.id)[1]


def test_an_unknown_method_is_a_clear_not_found(tg: Recorded) -> None:
    """A method the offline API does not have is Telegram's 404, naming it."""
    assert tg.refused("sendPhoto", chat_id=TEAM["id"]) == (
        404,
        "Not Found: jigaido try has no offline sendPhoto",
    )
    assert "sendPhoto" in tg.shown[-1].text
