"""Bounties that get done, end to end: claim, done, reopen, the done list and cards,
admins as getChatAdministrators reports them (changing between calls, failing with 403
and with the network), anonymous admins, each chat's time zone and the date_time
entity, and a v1 group.json that is only rewritten when a command changes it."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jigaido.face.admins import RECHECK
from tests.e2e.fakeapi import FakeBotAPI, html_times
from tests.e2e.harness import BotProcess, Chat, assert_private_modes, listed_ids, snapshot

ANN, BOB, CY = 5, 6, 7
OWNER, ADMIN = 9, 8
BERLIN = ZoneInfo("Europe/Berlin")


def write_private(path: Path, text: str) -> None:
    """A file as the bot would have left it: 0600 in a 0700 directory."""
    path.parent.mkdir(mode=0o700)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)


def admin_calls(api: FakeBotAPI, chat_id: int) -> int:
    return sum(c.params.get("chat_id") == chat_id for c in api.calls_to("getChatAdministrators"))


async def test_claim_done_reopen_and_the_lists(api: FakeBotAPI, bot: BotProcess) -> None:
    """A bounty claimed, refused to a second claimer, done by its claimer, gone from the
    list but in /bounty done and its card, reopened by its creator; the files say so."""
    group = -2001
    g = Chat(api, group, user_id=ANN)
    assert await g.one("/add Fix login", first_name="Ann") == "✅ Added #1: Fix login"
    claimed = await g.ask("/claim 1", user_id=BOB, first_name="Bob <b>")
    assert [a.plain for a in claimed] == ["🙋 Bob <b> claimed #1: Fix login"]
    assert "Bob &lt;b&gt;" in claimed[0].text
    refused = await g.one("/claim 1", user_id=CY, first_name="Cy")
    assert "already claimed by Bob <b>" in refused
    assert "/unclaim 1" in refused
    assert "🙋 Bob <b>" in await g.one("/bounty", user_id=CY)
    doc = bot.read_json(group, "group.json")
    [b] = doc["bounties"]
    assert (b["status"], b["claimed_by_user_id"], b["claimed_by_name"]) == (
        "claimed", BOB, "Bob <b>",
    )  # fmt: skip

    assert await g.one("/done 1", user_id=BOB, first_name="Bob <b>") == "🎉 Done: #1 Fix login"
    [b] = bot.read_json(group, "group.json")["bounties"]
    assert (b["status"], b["done_by_user_id"], b["claimed_by_user_id"]) == ("done", BOB, BOB)
    assert isinstance(b["done_at"], int)
    assert "everything is done" in await g.one("/bounty")
    done = await g.ask("/bounty done")
    assert listed_ids(done) == [1]
    card = await g.one("/bounty 1")
    assert re.search(r"✅ done \d{4}-\d\d-\d\d by Bob <b> \(claimed by Bob <b>\)", card), card
    assert "➕ added" in card
    assert "by Ann" in card

    assert (await g.one("/reopen 1")).startswith("🔄 Reopened #1: Fix login.")
    [b] = bot.read_json(group, "group.json")["bounties"]
    assert (b["status"], b["claimed_by_user_id"], b["done_at"], b["done_by_user_id"]) == (
        "open", None, None, None,
    )  # fmt: skip
    assert listed_ids(await g.ask("/bounty")) == [1]


async def test_personal_bounties_get_done(api: FakeBotAPI, bot: BotProcess) -> None:
    """In a DM: /done and /reopen on your bounties, /bounty without the done ones, /my
    with them last, /bounty done and a card; /claim says it works in groups."""
    d = Chat(api, 556)
    await d.one("/add Renew passport")
    await d.one("/add Call the bank")
    assert await d.one("/done 1") == "🎉 Done: #1 Renew passport"
    assert listed_ids(await d.ask("/bounty")) == [2]
    mine = await d.ask("/my")
    assert listed_ids(mine) == [2, 1]
    assert "✅ done" in mine[0].plain
    assert listed_ids(await d.ask("/bounty done")) == [1]
    assert "works in groups" in await d.one("/claim 2")
    assert (await d.one("/bounty 2")).startswith("#2 Call the bank\n📅 no due date\n🟢 open")
    [b, _] = bot.read_json(556, "user.json")["bounties"]
    assert (b["status"], b["done_by_user_id"]) == ("done", 556)


async def test_admins_as_telegram_reports_them(api: FakeBotAPI, bot: BotProcess) -> None:
    """An admin edits and deletes others' bounties, a member may not; the list is asked
    once and kept; someone promoted since counts once the list is old enough to be
    stale; an anonymous admin needs no list."""
    group = -2002
    api.admins[group] = [OWNER, ADMIN]
    g = Chat(api, group, user_id=ANN)
    await g.one("/add First")
    await g.one("/add Second")
    before = snapshot(bot.data_dir / str(group))
    refused = await g.one("/delete 1", user_id=CY)
    assert "Only the person who added it or an admin of this group can delete it" in refused
    assert snapshot(bot.data_dir / str(group)) == before
    assert admin_calls(api, group) == 1

    assert (await g.one("/edit 1 Tidied", user_id=ADMIN)).startswith("✏️ Updated #1")
    assert (await g.one("/delete 2", user_id=ADMIN)).startswith("🗑 Deleted #2")
    assert admin_calls(api, group) == 1, "an admin on the list needs no new fetch"
    doc = bot.read_json(group, "group.json")
    assert [(b["id"], b["text"], b["created_by_user_id"]) for b in doc["bounties"]] == [
        (1, "Tidied", ANN)
    ]

    api.admins[group].append(CY)  # promoted
    await asyncio.sleep(RECHECK)  # the list the bot has is now old enough to be stale
    assert await g.one("/done 1", user_id=CY) == "🎉 Done: #1 Tidied"
    assert admin_calls(api, group) == 2

    as_group = {"id": group, "type": "supergroup", "title": "Test group"}
    reopened = await g.one("/reopen 1", user_id=None, sender_chat=as_group)
    assert reopened.startswith("🔄 Reopened #1")
    assert admin_calls(api, group) == 2, "an anonymous admin is one without asking"


async def test_when_admins_cannot_be_checked_nothing_changes(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """getChatAdministrators failing with 403 or with the network: a member's moderator
    action is refused saying the bot could not check, the files stay as they were, and
    the creator's own actions go on."""

    async def fault(group: int, inject: str) -> None:
        g = Chat(api, group, user_id=ANN)
        await g.one("/add Keep me")
        before = snapshot(bot.data_dir / str(group))
        if inject == "403":
            api.fail_next_calls("getChatAdministrators", 1, error_code=403)
        else:
            api.drop_next_calls("getChatAdministrators")
        said = await g.one("/delete 1", user_id=CY)
        assert "could not check that you are an admin" in said, said
        assert snapshot(bot.data_dir / str(group)) == before
        assert (await g.one("/edit 1 Still mine")).startswith("✏️")

    await asyncio.gather(fault(-2003, "403"), fault(-2004, "network"))
    assert len(api.calls_to("getChatAdministrators")) == 2


async def test_time_zones_and_the_date_time_entity(api: FakeBotAPI, bot: BotProcess) -> None:
    """An admin sets the group's zone (a member may not, an unknown name is refused with
    an example); due dates are read in it and shown in a date_time entity holding the
    chat-zone text; a DM user sets their own."""
    group = -2005
    api.admins[group] = [OWNER]
    g = Chat(api, group, user_id=ANN)
    assert "Only an admin" in await g.one("/timezone Europe/Berlin", user_id=CY)
    assert "Mars/Base" in await g.one("/timezone Mars/Base", user_id=OWNER)
    set_to = await g.one("/timezone europe/berlin", user_id=OWNER)
    assert set_to.startswith("🕒 This group's time zone is now Europe/Berlin")
    assert bot.read_json(group, "group.json")["tz"] == "Europe/Berlin"
    assert "Europe/Berlin" in await g.one("/timezone", user_id=CY)

    [added] = await g.ask("/add Call tomorrow 18:30")
    [b] = bot.read_json(group, "group.json")["bounties"]
    this_year = datetime.fromtimestamp(b["created_at"], BERLIN).year
    day = datetime.fromtimestamp(b["created_at"], BERLIN).date() + timedelta(days=1)
    due = int(datetime.combine(day, time(18, 30), tzinfo=BERLIN).timestamp())
    assert b["due_date_ts"] == due
    spelled = f"{day:%a} {day.day} {day:%b}" + ("" if day.year == this_year else f" {day.year}")
    assert f'<tg-time unix="{due}" format="wdt">{spelled} 18:30</tg-time>' in added.text
    assert added.plain == (
        f"✅ Added #1: Call\n📅 due {spelled} 18:30 (read from “tomorrow 18:30”; "
        "not meant as a date? /edit 1 nodue)"
    )
    [listing] = await g.ask("/bounty")
    assert html_times(listing.text) == [due]

    d = Chat(api, 557)
    assert (await d.one("/timezone asia/tokyo")).startswith("🕒 Your time zone is now Asia/Tokyo")
    assert bot.read_json(557, "user.json")["tz"] == "Asia/Tokyo"


async def test_a_date_time_telegram_refuses_is_sent_without_it(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """When Telegram refuses a date_time entity (ENTITY_DATE_INVALID), the answer goes
    out again without it, saying the same."""
    api.entity_date_ahead = 3600
    d = Chat(api, 558)
    [added] = await d.ask("/add Dentist 72h")  # a time: days would be a whole day
    assert "<tg-time" not in added.text
    assert added.plain.startswith("✅ Added #1: Dentist\n📅 due ")
    refused = [c for c in api.calls_to("sendMessage") if "<tg-time" in str(c.params.get("text"))]
    assert len(refused) == 1


async def test_a_v1_group_file_is_read_as_it_is(api: FakeBotAPI, bot: BotProcess) -> None:
    """A v1 group.json lists as it is and is not rewritten by a command that changes
    nothing; the first change writes the v2 fields and keeps every v1 one."""
    group = -2006
    v1 = {
        "group_id": group,
        "next_id": 3,
        "bounties": [
            {"id": 1, "created_by_user_id": ANN, "text": "Old one", "link": None,
             "due_date_ts": None, "created_at": 1735603200},
            {"id": 2, "created_by_user_id": ANN, "text": "Old two",
             "link": "https://x.org/2", "due_date_ts": 1735689600, "created_at": 1735603300},
        ],
    }  # fmt: skip
    directory = bot.data_dir / str(group)
    write_private(directory / "group.json", json.dumps(v1))
    raw = snapshot(directory)
    g = Chat(api, group, user_id=BOB)
    assert listed_ids(await g.ask("/bounty")) == [2, 1]
    assert "🟢 open: /claim 1" in await g.one("/bounty 1")
    assert "Nothing was marked done" in await g.one("/bounty done")
    assert "There is no bounty #3" in await g.one("/claim 3")
    assert snapshot(directory) == raw, "a command that changed nothing rewrote a v1 file"

    assert (await g.one("/claim 1")).startswith("🙋")
    doc = bot.read_json(group, "group.json")
    for old, new in zip(v1["bounties"], doc["bounties"], strict=True):
        assert {k: new[k] for k in old} == old
    assert doc["bounties"][0]["status"] == "claimed"
    assert doc["bounties"][1]["status"] == "open"
    assert_private_modes(bot.data_dir)
