"""Buttons end to end, the real bot against the fake Bot API: cards and their presses
(claim, a refused done, track and untrack), paged lists that turn and that shrank
meanwhile, data the bot did not make, Telegram's refusals of edits and toasts, and a
press redelivered after a crash."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from jigaido.core.commands import FOREIGN_BUTTON, NOT_A_BUTTON, OLD_BUTTON
from jigaido.shell.pool import BUSY
from tests.e2e.fakeapi import QUERY_GONE, FakeBotAPI, Sent
from tests.e2e.harness import BotProcess, Chat, button, listed_ids, snapshot

ANN, BOB, CY = 5, 6, 7  # Ann adds the bounties
OPEN_CARD = [["🙋 Claim", "✅ Done"], ["👀 Track / Untrack"]]
CLAIMED_CARD = [["↩️ Unclaim", "✅ Done"], ["👀 Track / Untrack"]]
DONE_CARD = [["🔄 Reopen"], ["👀 Track / Untrack"]]
PAGE = re.compile(r"· page (\d+)/(\d+)")


def labels(rows: list[list[dict[str, Any]]]) -> list[list[str]]:
    return [[str(b["text"]) for b in row] for row in rows]


def page_of(text: str | None) -> str | None:
    found = PAGE.search(text or "")
    return None if found is None else found[0]


def data_of(sent: Sent, label: str) -> str:
    found = button(sent.buttons, label)
    assert found is not None, (label, sent.buttons)
    return found


def bounty(bot: BotProcess, chat_id: int, bounty_id: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = bot.read_json(chat_id, "group.json")["bounties"]
    [one] = [b for b in found if b["id"] == bounty_id]
    return one


def tracked(bot: BotProcess, chat_id: int, user_id: int) -> list[int]:
    path = bot.data_dir / str(chat_id) / f"{user_id}.json"
    return bot.read_json(chat_id, f"{user_id}.json")["tracked"] if path.exists() else []


def accepted(toasts: list[Any]) -> list[str]:
    """The texts of the toasts Telegram took, each checked to be its only one."""
    assert [t.refused for t in toasts] == [None], toasts
    return [t.text for t in toasts]


async def test_a_card_is_claimed_refused_tracked_and_done_by_pressing(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """The /add answer and /bounty <id> carry the card's buttons; Claim says who claimed
    it and the card shows it (and on disk it is so); a Done pressed by someone who may
    not is refused in a toast and nothing changes; Track and Untrack toggle for the
    presser; the claimer's Done and the creator's Reopen turn the card's buttons."""
    group = -3001
    g = Chat(api, group, user_id=ANN)
    [added] = await g.ask("/add Fix login", first_name="Ann")
    assert labels(added.buttons) == OPEN_CARD
    [card] = await g.ask("/bounty 1")
    assert labels(card.buttons) == OPEN_CARD
    assert "callback_query" in (api.allowed_updates or []), api.allowed_updates

    claim = data_of(card, "🙋")
    toasts, edits = await g.press(card.message_id, claim, user_id=BOB, first_name="Bob")
    assert accepted(toasts) == ["🙋 Bob claimed #1: Fix login"]
    [edit] = edits
    assert edit.message_id == card.message_id
    assert "🙋 claimed by Bob" in (edit.plain or "")
    assert labels(edit.buttons) == CLAIMED_CARD
    b = bounty(bot, group, 1)
    assert (b["status"], b["claimed_by_user_id"]) == ("claimed", BOB)

    before = snapshot(bot.data_dir / str(group))
    toasts, edits = await g.press(card.message_id, data_of(card, "✅"), user_id=CY, first_name="Cy")
    [refusal] = accepted(toasts)
    assert refusal.startswith("⚠️ Only the person who added it"), refusal
    assert "Bob who claimed it" in refusal, refusal
    assert edits == []  # the card shows what it showed
    assert snapshot(bot.data_dir / str(group)) == before

    # Track and Untrack: the same button does what the presser needs.
    toasts, edits = await g.press(added.message_id, data_of(added, "👀"), user_id=CY)
    assert accepted(toasts) == ["👀 You now track #1: Fix login"]
    assert tracked(bot, group, CY) == [1]
    assert bounty(bot, group, 1)["tracked_by"] == [CY]
    [edit] = edits
    assert "👀 tracked by 1 person" in (edit.plain or "")
    assert "🙋 claimed by Bob" in (edit.plain or "")  # the card as it is now, not as it was sent
    toasts, edits = await g.press(added.message_id, data_of(added, "👀"), user_id=CY)
    assert accepted(toasts) == ["You no longer track #1."]
    assert tracked(bot, group, CY) == []
    assert "tracked_by" not in bounty(bot, group, 1)
    [edit] = edits
    assert "👀 tracked by 0 people" in (edit.plain or "")

    toasts, edits = await g.press(card.message_id, data_of(card, "✅"), user_id=BOB)
    assert accepted(toasts) == ["🎉 Done: #1 Fix login"]
    [edit] = edits
    assert labels(edit.buttons) == DONE_CARD
    assert bounty(bot, group, 1)["status"] == "done"
    reopen = button(edit.buttons, "🔄")
    assert reopen is not None
    toasts, edits = await g.press(card.message_id, reopen, user_id=ANN)
    assert accepted(toasts)[0].startswith("🔄 Reopened #1")
    [edit] = edits
    assert labels(edit.buttons) == OPEN_CARD
    assert bounty(bot, group, 1)["status"] == "open"


async def test_a_paged_list_turns_and_one_that_shrank_shows_a_page_it_has(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """25 bounties are one message, page 1/3 with ▶; ▶ and ◀ edit it in place. After
    12 are deleted, a press of the old ▶ to page 3 shows page 2/2, the last there is;
    at 5 left, the list without pages or buttons; with none, the empty list's text."""
    group = -3002
    g = Chat(api, group, user_id=ANN)
    last = 0
    for i in range(1, 26):
        last, _ = g.push(f"/add Task {i:02d}")
    await api.wait_confirmed(last, timeout=30)

    [first] = await g.ask("/bounty")
    assert page_of(first.plain) == "· page 1/3"
    assert labels(first.buttons) == [["▶"]]
    assert listed_ids([first]) == list(range(1, 11))
    sends = len(api.sent)

    async def turn(data: str) -> Any:
        toasts, edits = await g.press(first.message_id, data, user_id=BOB)
        assert accepted(toasts) == [""]  # the spinner ends; the message says it all
        [page] = edits
        assert page.message_id == first.message_id
        return page

    second = await turn(data_of(first, "▶"))
    assert page_of(second.plain) == "· page 2/3"
    assert labels(second.buttons) == [["◀", "▶"]]
    assert listed_ids([second]) == list(range(11, 21))
    to_third = button(second.buttons, "▶")
    assert to_third is not None
    third = await turn(to_third)
    assert page_of(third.plain) == "· page 3/3"
    assert labels(third.buttons) == [["◀"]]
    assert listed_ids([third]) == list(range(21, 26))
    back = button(third.buttons, "◀")
    assert back is not None
    assert listed_ids([await turn(back)]) == list(range(11, 21))
    assert len(api.sent) == sends  # turning pages sends no message

    for i in range(1, 13):
        last, _ = g.push(f"/delete {i}")
    await api.wait_confirmed(last, timeout=30)
    shrunk = await turn(to_third)  # the list has two pages now
    assert page_of(shrunk.plain) == "· page 2/2"
    assert labels(shrunk.buttons) == [["◀"]]
    assert listed_ids([shrunk]) == list(range(23, 26))

    for i in range(13, 21):
        last, _ = g.push(f"/delete {i}")
    await api.wait_confirmed(last, timeout=30)
    alone = await turn(to_third)
    assert page_of(alone.plain) is None
    assert alone.buttons == []
    assert listed_ids([alone]) == list(range(21, 26))

    for i in range(21, 26):
        last, _ = g.push(f"/delete {i}")
    await api.wait_confirmed(last, timeout=30)
    toasts, _ = await g.press(first.message_id, to_third, user_id=BOB)
    assert accepted(toasts) == [""]
    text, rows = api.message(group, first.message_id) or ("", [])
    assert text.startswith("No bounties yet"), text
    assert rows == []


async def test_a_private_chat_pages_its_list_and_marks_done_by_pressing(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """In a DM, /my of 12 personal bounties is paged like a group's list, and a card
    offers Done, then Reopen, which do what /done and /reopen do there."""
    me = 4242
    dm = Chat(api, me)
    last = 0
    for i in range(1, 13):
        last, _ = dm.push(f"/add Mine {i:02d}")
    await api.wait_confirmed(last, timeout=30)
    [first] = await dm.ask("/my")
    assert page_of(first.plain) == "· page 1/2"
    toasts, edits = await dm.press(first.message_id, data_of(first, "▶"))
    assert accepted(toasts) == [""]
    [page] = edits
    assert page_of(page.plain) == "· page 2/2"
    assert listed_ids([page]) == [11, 12]

    [card] = await dm.ask("/bounty 3")
    assert labels(card.buttons) == [["✅ Done"]]
    toasts, edits = await dm.press(card.message_id, data_of(card, "✅"))
    assert accepted(toasts) == ["🎉 Done: #3 Mine 03"]
    [edit] = edits
    assert labels(edit.buttons) == [["🔄 Reopen"]]
    [b] = [b for b in bot.read_json(me, "user.json")["bounties"] if b["id"] == 3]
    assert b["status"] == "done"
    toasts, edits = await dm.press(card.message_id, data_of(edit, "🔄"))
    assert accepted(toasts)[0].startswith("🔄 Reopened #3")
    [b] = [b for b in bot.read_json(me, "user.json")["bounties"] if b["id"] == 3]
    assert b["status"] == "open"


async def test_data_the_bot_did_not_make_is_refused_politely_and_changes_nothing(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """Another chat's id, a deleted bounty, one never made, garbage and another
    version's data: each gets its polite toast, and every file stays byte for byte."""
    a, b = -3003, -3004
    ga, gb = Chat(api, a, user_id=ANN), Chat(api, b, user_id=ANN)
    [card] = await ga.ask("/add Ours")
    [second] = await ga.ask("/add Deleted soon")
    await gb.ask("/add Theirs")
    await ga.ask("/delete 2")
    claim_theirs = data_of(card, "🙋").replace(str(a), str(b))
    assert claim_theirs == f"j1:c:{b}:1"
    before = snapshot(bot.data_dir)

    forged = {
        claim_theirs: FOREIGN_BUTTON,
        f"j1:p:{b}:o:1": FOREIGN_BUTTON,
        f"j1:c:{a}:99": "There is no bounty #99 here; nothing changed.",
        "garbage": NOT_A_BUTTON,
        "": NOT_A_BUTTON,
        f"j1:c:{a}:1:2": NOT_A_BUTTON,
        f"j1:c:{a}:01": NOT_A_BUTTON,
        f"j1:p:{a}:m:1": NOT_A_BUTTON,  # a group's tracked list names whose it is
        "j1:" + "9" * 61: NOT_A_BUTTON,
        "💥" * 16: NOT_A_BUTTON,
        f"j0:c:{a}:1": OLD_BUTTON,
        f"j2:t:{a}:1": OLD_BUTTON,
    }
    for data, toast in forged.items():
        toasts, edits = await ga.press(card.message_id, data, user_id=BOB)
        assert accepted(toasts) == [toast], data
        assert edits == [], data
    toasts, edits = await ga.press(second.message_id, data_of(second, "🙋"), user_id=BOB)
    assert accepted(toasts) == ["Bounty #2 was deleted, so nothing changed."]
    [edit] = edits  # its buttons go, its text stays
    assert (edit.message_id, edit.text, edit.buttons) == (second.message_id, None, [])
    assert snapshot(bot.data_dir) == before
    assert "Ours" in await ga.one("/bounty")


async def test_telegrams_refusals_of_edits_and_toasts_are_taken_in_stride(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """Telegram's "message is not modified" is a success (the toast goes, nothing is
    logged as an error); a card deleted meanwhile, one the bot can no longer edit, and a
    query too old for its toast are each an everyday event: the press is applied once,
    its update confirmed, and other chats are served as before."""
    group, other = -3005, -3006
    g = Chat(api, group, user_id=ANN)
    await g.ask("/add Stays as it is")
    [card] = await g.ask("/bounty 1")  # (a press on the /add answer makes it the card)
    edit_calls = len(api.calls_to("editMessageText"))
    toasts, edits = await g.press(card.message_id, data_of(card, "✅"), user_id=CY)
    assert accepted(toasts)[0].startswith("⚠️ Only the person who added it")
    assert len(api.calls_to("editMessageText")) == edit_calls + 1  # answered "not modified"
    assert edits == []

    [gone] = await g.ask("/add Card deleted meanwhile")
    update_id, query = api.push_press(group, gone.message_id, data_of(gone, "🙋"), user_id=BOB)
    api.forget_message(group, gone.message_id)  # before the bot gets to edit it
    await api.wait_confirmed(update_id, timeout=30)
    assert [t.text for t in api.toasts_for(query) if t.refused is None] == [
        "🙋 User claimed #2: Card deleted meanwhile"
    ]
    assert api.edits_of(group, gone.message_id) == []
    assert bounty(bot, group, 2)["claimed_by_user_id"] == BOB

    [frozen] = await g.ask("/add Card no longer editable")
    api.uneditable.add((group, frozen.message_id))
    toasts, edits = await g.press(frozen.message_id, data_of(frozen, "👀"), user_id=CY)
    assert accepted(toasts) == ["👀 You now track #3: Card no longer editable"]
    assert edits == []
    assert tracked(bot, group, CY) == [3]

    # A press on a message too old for Telegram to show the bot (sent as date 0).
    update_id, query = api.push_press(
        group, frozen.message_id, data_of(frozen, "🙋"), user_id=CY, inaccessible=True
    )
    await api.wait_confirmed(update_id, timeout=30)
    assert [t.text for t in api.toasts_for(query) if t.refused is None] == [
        "🙋 User claimed #3: Card no longer editable"
    ]
    assert bounty(bot, group, 3)["claimed_by_user_id"] == CY

    api.query_seconds = 0.0  # every press's query has expired by the time it is answered
    toasts, edits = await g.press(card.message_id, data_of(card, "🙋"), user_id=BOB)
    assert [t.refused for t in toasts] == [QUERY_GONE]
    [edit] = edits  # the card shows the claim all the same
    assert "🙋 claimed by User" in (edit.plain or "")
    assert bounty(bot, group, 1)["claimed_by_user_id"] == BOB

    api.query_seconds = 15.0
    o = Chat(api, other, user_id=ANN)
    [theirs] = await o.ask("/add Other chat")
    toasts, edits = await o.press(theirs.message_id, data_of(theirs, "🙋"), user_id=BOB)
    assert accepted(toasts) == ["🙋 User claimed #1: Other chat"]
    assert [e.message_id for e in edits] == [theirs.message_id]
    for line in bot.log.splitlines():
        assert not re.search(r"\b(ERROR|WARNING)\b", line), line


async def test_a_press_redelivered_after_a_crash_is_answered_again_not_applied_again(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """Track and Claim pressed; their toasts are asked for only once both are on disk,
    and the bot is SIGKILLed before Telegram took them (so before their updates were
    confirmed). Delivered again to the next process, each is answered with what it did
    the first time: tracking is not toggled back, the claim not refused as "already"."""
    group = -3007
    data = tmp_path / "data"
    bot = BotProcess(api, data, tmp_path / "bot.log")
    await bot.start()
    g = Chat(api, group, user_id=ANN)
    [card] = await g.ask("/add Survive a crash")
    api.query_seconds = 120.0  # the restart takes a while on a slow machine
    api.stall("answerCallbackQuery")
    track, track_query = api.push_press(group, card.message_id, data_of(card, "👀"), user_id=CY)
    claim, claim_query = api.push_press(
        group, card.message_id, data_of(card, "🙋"), user_id=BOB, first_name="Bob"
    )
    await api.wait_until(
        lambda: len(api.calls_to("answerCallbackQuery")) == 2, 30, description="both toasts"
    )
    # A toast is asked for only once its press is durable.
    assert tracked(bot, group, CY) == [1]
    assert bounty(bot, group, 1)["claimed_by_user_id"] == BOB
    await bot.kill()
    api.stall("answerCallbackQuery", stalled=False)
    assert api.confirmed_below <= track < claim
    assert (api.toasts, api.edits) == ([], [])

    again = BotProcess(api, data, tmp_path / "bot2.log")
    await again.start()
    await api.wait_confirmed(claim, timeout=30)
    assert accepted(api.toasts_for(track_query)) == ["👀 You now track #1: Survive a crash"]
    assert accepted(api.toasts_for(claim_query)) == ["🙋 Bob claimed #1: Survive a crash"]
    assert tracked(again, group, CY) == [1]
    b = bounty(again, group, 1)
    assert (b["claimed_by_user_id"], b["tracked_by"]) == (BOB, [CY])
    text, rows = api.message(group, card.message_id) or ("", [])
    assert "claimed by Bob" in text, text
    assert "tracked by 1 person" in text, text
    assert labels(rows) == CLAIMED_CARD
    assert await again.stop() == 0
    assert "Traceback" not in again.log, again.log


async def test_a_press_its_chat_cannot_get_to_in_time_is_answered_busy_not_applied(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """A group whose answers cannot leave (sendMessage hangs) stops taking work once
    1,000 are owed; a Claim pressed behind them gets "busy" 10 s after it came, well
    inside Telegram's 15 s, and is never applied, not even once the chat catches up."""
    group = -3008
    g = Chat(api, group, user_id=ANN)
    [card] = await g.ask("/add Pressed when busy")
    api.stall("sendMessage")
    last = 0
    for i in range(1000):
        last, _ = g.push(f"/add Backlog {i}")
    await api.wait_until(
        lambda: len(bot.read_json(group, "group.json")["bounties"]) == 1001,
        60,
        description="the backlog applied",
    )
    pushed = time.monotonic()  # the fake's clock
    update_id, query = api.push_press(group, card.message_id, data_of(card, "🙋"), user_id=BOB)
    await api.wait_until(lambda: bool(api.toasts_for(query)), 20, description="the busy toast")
    [toast] = api.toasts_for(query)
    assert toast.refused is None, toast
    assert toast.text == BUSY
    assert 9.5 <= toast.time - pushed < 14, toast.time - pushed
    assert bounty(bot, group, 1).get("claimed_by_user_id") is None

    api.stall("sendMessage", stalled=False)
    await api.wait_confirmed(max(last, update_id), timeout=120)
    assert bounty(bot, group, 1).get("claimed_by_user_id") is None
    assert bounty(bot, group, 1)["status"] == "open"
    assert api.toasts_for(query) == [toast]
