"""Private chats end to end: the personal list in data/<user_id>/user.json."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess, Chat, is_int, listed_ids, snapshot


def this_year() -> int:
    return datetime.now(UTC).year


# -- helpers -------------------------------------------------------------------------


def check_user_doc(doc: dict[str, Any], user_id: int) -> None:
    """user.json has SPEC section 2's fields with their types, and no creator field."""
    assert doc["user_id"] == user_id
    assert is_int(doc["next_id"])
    assert isinstance(doc["bounties"], list)
    for b in doc["bounties"]:
        assert is_int(b["id"]), b
        assert 0 < b["id"] < doc["next_id"], b
        assert isinstance(b["text"], str), b
        assert b["link"] is None or isinstance(b["link"], str), b
        assert b["due_date_ts"] is None or is_int(b["due_date_ts"]), b
        assert is_int(b["created_at"]), b
        assert "created_by_user_id" not in b, b


# -- tests ---------------------------------------------------------------------------


async def test_private_commands_keep_a_personal_list(api: FakeBotAPI, bot: BotProcess) -> None:
    """In a DM every command works on the user's own user.json and answers without a reply."""
    user = 777
    path = bot.data_dir / str(user) / "user.json"

    # Telegram takes about one message a second into a private chat, so each part runs
    # in a chat of its own, all at once.
    async def personal_list() -> None:
        d = Chat(api, user)
        help_text = await d.one("/help")
        for cmd in ("/bounty", "/add", "/edit", "/delete", "nolink", "nodue"):
            assert cmd in help_text
        assert "/track" not in help_text

        assert "/help" in await d.one("/start")
        doc = bot.read_json(user, "user.json")
        check_user_doc(doc, user)
        assert (doc["next_id"], doc["bounties"]) == (1, [])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(bot.data_dir.stat().st_mode) == 0o700
        [empty] = await d.ask("/bounty")
        assert "No bounties yet" in empty.plain
        assert empty.disable_preview

        assert await d.one("/add Renew passport https://gov.example/p 2030-03-01") == (
            "✅ Added #1: Renew passport\n📅 due Fri 1 Mar 2030 (read from “2030-03-01”; "
            "not meant as a date? /edit 1 nodue)\n🔗 with link"
        )
        assert await d.one("/add Buy milk") == "✅ Added #2: Buy milk"
        assert await d.one("/add@jigaido_test_bot Call mum") == "✅ Added #3: Call mum"
        doc = bot.read_json(user, "user.json")
        check_user_doc(doc, user)
        assert doc["next_id"] == 4
        first = doc["bounties"][0]
        assert (first["text"], first["link"], first["due_date_ts"]) == (
            "Renew passport",
            "https://gov.example/p",
            int(datetime(2030, 3, 1, tzinfo=UTC).timestamp()),
        )

        listing = await d.ask("/bounty")
        assert listing[0].plain.startswith("Your bounties (3)")
        assert listed_ids(listing) == [1, 2, 3]
        assert all(a.disable_preview for a in listing)
        assert "#1 Renew passport\n🔗 https://gov.example/p\n📅 2030-03-01" in listing[0].plain
        assert [a.plain for a in await d.ask("/my")] == [a.plain for a in listing]

        edited = await d.one("/edit 2 Buy oat milk tomorrow")
        assert await d.one("/edit 1 nolink") == "✏️ Updated #1: link removed"
        by_id = {b["id"]: b for b in bot.read_json(user, "user.json")["bounties"]}
        due = datetime.fromtimestamp(by_id[2]["due_date_ts"], UTC)
        spelled = f"{due:%a} {due.day} {due:%b}" + (
            "" if due.year == this_year() else f" {due.year}"
        )
        assert edited == f"✏️ Updated #2: text: Buy oat milk; due {spelled}"
        assert due.time() == time(0)
        assert due.date() - datetime.fromtimestamp(by_id[2]["created_at"], UTC).date() in (
            timedelta(days=1),
            timedelta(days=2),  # midnight passed between /add and /edit
        )
        assert by_id[2]["text"] == "Buy oat milk"
        assert (by_id[1]["link"], by_id[1]["due_date_ts"]) == (None, first["due_date_ts"])

        assert await d.one("/delete 3") == "🗑 Deleted #3: Call mum"
        assert await d.one("/add Again") == "✅ Added #4: Again"
        assert "There is no bounty #3" in await d.one("/delete 3")
        doc = bot.read_json(user, "user.json")
        check_user_doc(doc, user)
        assert [b["id"] for b in doc["bounties"]] == [1, 2, 4]
        assert [b["text"] for b in doc["bounties"]] == ["Renew passport", "Buy oat milk", "Again"]

    async def refusals_and_ignored() -> None:
        d = Chat(api, 779)
        assert await d.one("/add Keep me") == "✅ Added #1: Keep me"
        before = snapshot(bot.data_dir / "779")
        assert "works in groups" in await d.one("/track 1")
        assert "works in groups" in await d.one("/untrack 1")
        assert await d.one("/frobnicate") == (
            "I don't know /frobnicate. Send /help for the commands."
        )
        assert "needs a text" in await d.one("/add")
        assert "/help" in await d.one("/start")
        for text in ("/add@other_bot Not mine", "/bounty@other_bot"):
            assert await d.ask(text) == []
        edited = d.push("/add Edited", edited=True, message_id=1)[0]
        await api.wait_confirmed(edited, timeout=30)
        assert api.sent_to(779)[-1].plain.startswith("👋")
        assert snapshot(bot.data_dir / "779") == before, "refusals and /start write nothing"

    async def lists_never_mix() -> None:
        group = Chat(api, -2001, user_id=778)
        other = Chat(api, 778)
        assert await other.one("/add Mine only") == "✅ Added #1: Mine only"
        assert await group.one("/add Group chore") == "✅ Added #1: Group chore"
        assert "Group chore" not in "".join(a.plain for a in await other.ask("/bounty"))
        assert "Mine only" not in await group.one("/bounty")
        assert "No bounties yet" in await Chat(api, 780).one("/bounty")
        assert not (bot.data_dir / "778" / "778.json").exists()
        assert not (bot.data_dir / "-2001" / "user.json").exists()

    await asyncio.gather(personal_list(), refusals_and_ignored(), lists_never_mix())
