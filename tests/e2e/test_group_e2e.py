"""Group chats end to end: every command, bad input, addressing, escaping, long lists,
isolation between groups, forum topics, messages without a user, the command menus."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from jigaido.core.render import LIST_TEXT, shorten
from tests.e2e.fakeapi import MAX_MESSAGE_LENGTH, FakeBotAPI, utf16_len
from tests.e2e.harness import BotProcess, Chat, assert_private_modes, is_int, listed_ids, snapshot

# -- helpers -------------------------------------------------------------------------


def check_group_doc(doc: dict[str, Any], group_id: int) -> None:
    """group.json has SPEC section 2's fields with their types."""
    assert doc["group_id"] == group_id
    assert is_int(doc["next_id"])
    assert isinstance(doc["bounties"], list)
    for b in doc["bounties"]:
        assert is_int(b["id"]), b
        assert 0 < b["id"] < doc["next_id"], b
        assert is_int(b["created_by_user_id"]), b
        assert isinstance(b["text"], str), b
        assert b["link"] is None or isinstance(b["link"], str), b
        assert b["due_date_ts"] is None or is_int(b["due_date_ts"]), b
        assert is_int(b["created_at"]), b


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def spelled(day: date, today: date) -> str:
    """A day as answers spell it: "Fri 4 Dec", with the year when it is not this one."""
    shown = f"{day:%a} {day.day} {day:%b}"
    return shown if day.year == today.year else f"{shown} {day.year}"


# -- tests ---------------------------------------------------------------------------


async def test_group_commands_work_as_specified(api: FakeBotAPI, bot: BotProcess) -> None:
    """Every group command replies to its message and changes the group's files as specified."""

    # Telegram takes about one message a second and 20 a minute into a group, so each
    # part runs in a group of its own, all at once.
    async def start_and_help() -> None:
        g = Chat(api, -1001, user_id=5)
        help_text = await g.one("/help")
        for cmd in (
            "/bounty", "/add", "/edit", "/delete", "/claim", "/unclaim", "/done", "/reopen",
            "/track", "/untrack", "/my", "/timezone",
        ):  # fmt: skip
            assert cmd in help_text
        assert "nolink" in help_text
        assert "nodue" in help_text
        [empty] = await g.ask("/bounty")
        assert "No bounties yet" in empty.plain
        assert empty.disable_preview
        assert "/add" in await g.one("/start")
        doc = bot.read_json(-1001, "group.json")
        assert (doc["group_id"], doc["next_id"], doc["bounties"]) == (-1001, 1, [])
        before = snapshot(bot.data_dir / "-1001")
        assert "/add" in await g.one("/start")
        assert snapshot(bot.data_dir / "-1001") == before, "a second /start rewrote a file"

    async def add_every_form_and_list() -> None:
        group = -1011
        g = Chat(api, group, user_id=5)
        t0 = int(datetime.now(UTC).timestamp())
        adds = [
            "/add Fix login https://x.org/1 tomorrow",
            "/add Write docs today",
            "/add Ship it 2030-05-17",
            "/add Call Bob 2030-05-17 14:30",
            "/add Review 3d",
            "/add Plan 2w",
            "/add Deploy 12h",
            "/add Retro friday",
            "/add Keep  inner   spacing\nand lines https://x.org/9",
            "/add Due before link 2030-01-02 https://x.org/10",
            "/add No extras",
            "/add Old thing 2020-01-01",
        ]
        answers = [await g.one(text) for text in adds]
        t1 = int(datetime.now(UTC).timestamp())
        doc = bot.read_json(group, "group.json")
        check_group_doc(doc, group)
        assert doc["next_id"] == 13
        by_id = {b["id"]: b for b in doc["bounties"]}
        assert sorted(by_id) == list(range(1, 13))
        for b in by_id.values():
            assert b["created_by_user_id"] == 5
            assert t0 <= b["created_at"] <= t1
        today = day_of(by_id[1]["created_at"])
        friday = today + timedelta(days=(4 - today.weekday() - 1) % 7 + 1)
        expected = {
            1: ("Fix login", "https://x.org/1", midnight(today + timedelta(days=1))),
            2: ("Write docs", None, midnight(day_of(by_id[2]["created_at"]))),
            3: ("Ship it", None, midnight(date(2030, 5, 17))),
            4: ("Call Bob", None, int(datetime(2030, 5, 17, 14, 30, tzinfo=UTC).timestamp())),
            # Days and weeks name the day that far ahead, not the minute.
            5: ("Review", None, midnight(day_of(by_id[5]["created_at"]) + timedelta(days=3))),
            6: ("Plan", None, midnight(day_of(by_id[6]["created_at"]) + timedelta(days=14))),
            7: ("Deploy", None, by_id[7]["created_at"] + 12 * 3600),
            8: ("Retro", None, midnight(friday)),
            9: ("Keep  inner   spacing\nand lines", "https://x.org/9", None),
            10: ("Due before link", "https://x.org/10", midnight(date(2030, 1, 2))),
            11: ("No extras", None, None),
            12: ("Old thing", None, midnight(date(2020, 1, 1))),
        }
        if day_of(by_id[8]["created_at"]) != today:  # the clock passed midnight mid-test
            expected.pop(8)
        for i, (text, link, due) in expected.items():
            got = (by_id[i]["text"], by_id[i]["link"], by_id[i]["due_date_ts"])
            assert got == (text, link, due), i
        tomorrow = today + timedelta(days=1)
        assert answers[0] == (
            f"✅ Added #1: Fix login\n📅 due {spelled(tomorrow, today)} (read from “tomorrow”; "
            "not meant as a date? /edit 1 nodue)\n🔗 with link"
        )
        assert (
            answers[3]
            == "✅ Added #4: Call Bob\n📅 due Fri 17 May 2030 14:30 (read from “2030-05-17 14:30”; "
            "not meant as a date? /edit 4 nodue)"
        )
        assert answers[10] == "✅ Added #11: No extras"

        [first] = await g.ask("/bounty")  # twelve: two pages of one message, ▶ turns it
        assert first.disable_preview
        listing = await g.every_page(first)
        assert [p.plain.split("\n", 1)[0] for p in listing if p.plain] == [
            "Bounties of this group (12) · page 1/2",
            "Bounties of this group (12) · page 2/2",
        ]
        assert all(
            e.params["link_preview_options"]["is_disabled"] for e in api.calls_to("editMessageText")
        )
        shown = "\n".join(p.plain or "" for p in listing)
        order = sorted(
            by_id.values(), key=lambda b: (b["due_date_ts"] is None, b["due_date_ts"] or 0)
        )
        assert listed_ids(listing) == [b["id"] for b in order]
        assert "#1 Fix login\n🔗 https://x.org/1\n📅 " in shown
        assert "#4 Call Bob\n📅 2030-05-17 14:30" in shown
        assert "#9 Keep  inner   spacing\nand lines\n🔗 https://x.org/9" in shown
        assert "#12 Old thing\n📅 2020-01-01 ⚠️ overdue" in shown
        assert shown.count("overdue") == 1
        assert any('<a href="https://x.org/1">' in (p.text or "") for p in listing)

    async def edit_and_delete() -> None:
        group = -1021
        g = Chat(api, group, user_id=5)
        assert (
            await g.one("/add Ship it 2030-05-17")
            == "✅ Added #1: Ship it\n📅 due Fri 17 May 2030 (read from “2030-05-17”; "
            "not meant as a date? /edit 1 nodue)"
        )
        assert (await g.one("/add Fix login https://x.org/1 tomorrow")).startswith("✅ Added #2")
        assert await g.one("/add Old thing 2020-01-01") == (
            "✅ Added #3: Old thing\n📅 due Wed 1 Jan 2020 (read from “2020-01-01”; "
            "not meant as a date? /edit 3 nodue)"
        )
        # /edit changes only the fields given; nolink and nodue remove.
        assert await g.one("/edit 1 Ship it now") == "✏️ Updated #1: text: Ship it now"
        assert await g.one("/edit 1 https://y.org/3") == "✏️ Updated #1: link changed"
        assert await g.one("/edit 1 2031-01-01 10:00") == "✏️ Updated #1: due Wed 1 Jan 2031 10:00"
        assert await g.one("/edit 2 nolink nodue") == (
            "✏️ Updated #2: link removed; due date removed"
        )
        by_id = {b["id"]: b for b in bot.read_json(group, "group.json")["bounties"]}
        assert (by_id[1]["text"], by_id[1]["link"], by_id[1]["due_date_ts"]) == (
            "Ship it now",
            "https://y.org/3",
            int(datetime(2031, 1, 1, 10, 0, tzinfo=UTC).timestamp()),
        )
        assert (by_id[2]["text"], by_id[2]["link"], by_id[2]["due_date_ts"]) == (
            "Fix login",
            None,
            None,
        )
        # Only the creator may edit or delete.
        before = snapshot(bot.data_dir / str(group))
        assert "Only the person who added it or an admin of this group can edit it" in await g.one(
            "/edit 1 Hijacked", user_id=6
        )
        assert "Only the person who added it or an admin of this group can delete" in await g.one(
            "/delete 1", user_id=6
        )
        assert snapshot(bot.data_dir / str(group)) == before
        # A deleted id is never handed out again.
        assert await g.one("/delete 3") == "🗑 Deleted #3: Old thing"
        assert await g.one("/add After delete") == "✅ Added #4: After delete"
        doc = bot.read_json(group, "group.json")
        check_group_doc(doc, group)
        assert doc["next_id"] == 5
        assert [b["id"] for b in doc["bounties"]] == [1, 2, 4]

    async def track_untrack_my() -> None:
        group = -1031
        g = Chat(api, group, user_id=5)
        files = bot.data_dir / str(group)
        assert await g.one("/add Write docs") == "✅ Added #1: Write docs"
        assert (
            await g.one("/add Call Bob 2030-05-17")
            == "✅ Added #2: Call Bob\n📅 due Fri 17 May 2030 (read from “2030-05-17”; "
            "not meant as a date? /edit 2 nodue)"
        )
        # Tracking is per user and lives in {user_id}.json.
        assert await g.one("/track 1", user_id=6) == "👀 You now track #1: Write docs"
        assert bot.read_json(group, "6.json")["tracked"] == [1]
        assert await g.one("/track 1", user_id=6) == "You already track #1."
        assert await g.one("/track 2", user_id=6) == "👀 You now track #2: Call Bob"
        tracks = bot.read_json(group, "6.json")
        assert (tracks["user_id"], tracks["tracked"]) == (6, [1, 2])
        mine = await g.ask("/my", user_id=6)
        assert mine[0].plain.startswith("Bounties you track (2)")
        assert listed_ids(mine) == [2, 1]  # dated first
        assert all(a.disable_preview for a in mine)
        assert await g.one("/untrack 1", user_id=6) == "You no longer track #1."
        assert bot.read_json(group, "6.json")["tracked"] == [2]
        assert await g.one("/untrack 1", user_id=6) == "You don't track #1."
        assert "You track no bounties here yet" in await g.one("/my", user_id=7)
        assert not (files / "7.json").exists()
        assert not (files / "5.json").exists()

    await asyncio.gather(
        start_and_help(), add_every_form_and_list(), edit_and_delete(), track_untrack_my()
    )
    assert_private_modes(bot.data_dir)


async def test_bad_input_is_answered_and_changes_nothing(api: FakeBotAPI, bot: BotProcess) -> None:
    """Each mistake of SPEC section 4 gets a clear answer and leaves every file byte-identical."""
    cases = {
        "/add": "needs a text",
        "/add https://x.org/only tomorrow": "needs a text",
        "/add " + "z" * 1001: "too long: 1,001 characters; the limit is 1,000",
        "/add Party 2025-02-30": "Not a date: 2025-02-30",
        "/add Party 2025-13-01": "Not a date: 2025-13-01",
        "/add Meet 2030-01-01 25:00": "Not a time: 25:00",
        "/add Party 0d": "Not a due: 0d",
        "/add Thing https://": "Not a link",
        "/edit abc New text": "“abc” is not a bounty id",
        "/delete abc": "“abc” is not a bounty id",
        "/track abc": "“abc” is not a bounty id",
        "/untrack abc": "“abc” is not a bounty id",
        "/delete 0": "“0” is not a bounty id",
        "/delete -1": "“-1” is not a bounty id",
        "/delete": "Give the bounty's id",
        "/edit": "Give the bounty's id",
        "/delete 99": "There is no bounty #99",
        "/edit 99 New text": "There is no bounty #99",
        "/track 99": "There is no bounty #99",
        "/edit 1": "Nothing to change. Usage: /edit",
        "/edit 1 Party 2025-02-30": "Not a date: 2025-02-30",
        "/edit 1 " + "z" * 1001: "too long: 1,001 characters",
        "/edit 1 https://a.org nolink": "Give a link or nolink, not both",
        "/edit 1 2030-01-01 nodue": "Give a due date or nodue, not both",
    }
    mistakes = list(cases.items())
    # Split over two groups: Telegram takes about 20 messages a minute into one.
    halves = {-1002: mistakes[::2], -1012: mistakes[1::2]}

    async def set_up(group: int) -> None:
        g = Chat(api, group, user_id=5)
        assert await g.one("/add First") == "✅ Added #1: First"
        longest = "y" * 1000
        assert (await g.one(f"/add {longest}")).startswith("✅ Added #2: yyy")
        assert bot.read_json(group, "group.json")["bounties"][1]["text"] == longest
        assert (await g.one("/track 1", user_id=6)).startswith("👀")

    async def refuse(group: int) -> None:
        g = Chat(api, group, user_id=5)
        before = snapshot(bot.data_dir / str(group))
        for text, wanted in halves[group]:
            said = await g.one(text, user_id=6 if "track" in text else 5)
            assert said.startswith("⚠️"), (text, said)
            assert wanted in said, (text, said)
        if group == -1002:
            assert await g.one("/untrack 99", user_id=6) == "You don't track #99."
        assert snapshot(bot.data_dir / str(group)) == before

    await asyncio.gather(*(set_up(group) for group in halves))
    await asyncio.gather(*(refuse(group) for group in halves))


async def test_addressing_chatter_and_edits(api: FakeBotAPI, bot: BotProcess) -> None:
    """Other bots' commands, chatter and edits are ignored; /add@this_bot works; menus are set."""
    group_menu = api.commands_for({"type": "all_group_chats"})
    private_menu = api.commands_for({"type": "all_private_chats"})
    assert group_menu is not None
    assert private_menu is not None
    assert [c["command"] for c in group_menu] == [
        "bounty", "add", "edit", "delete", "claim", "unclaim", "done", "reopen", "track",
        "untrack", "my", "timezone", "remind", "help",
    ]  # fmt: skip
    assert all(c["description"] for c in group_menu + private_menu)
    private_names = {c["command"] for c in private_menu}
    assert {
        "bounty", "add", "edit", "delete", "done", "reopen", "my", "timezone", "remind", "help"
    } <= private_names  # fmt: skip
    assert not private_names & {"track", "untrack", "claim", "unclaim"}

    group = -1003
    g = Chat(api, group, user_id=5)
    ignored = [
        g.push("/add@other_bot Not for me")[0],
        g.push("/bounty@other_bot")[0],
        g.push("/start@other_bot")[0],
        g.push("hello everyone")[0],
        g.push("/frobnicate now")[0],
        g.push("please /add this")[0],
        g.push("/add Edited into a command", edited=True, message_id=1)[0],
    ]
    await api.wait_confirmed(ignored[-1])
    assert api.sent_to(group) == []
    assert not (bot.data_dir / str(group)).exists()

    assert await g.one("/add@jigaido_test_bot Addressed to me") == "✅ Added #1: Addressed to me"
    assert await g.one("/ADD@Jigaido_Test_Bot Case does not matter") == (
        "✅ Added #2: Case does not matter"
    )
    sent = len(api.sent)
    _, first = g.push("/add Original")
    edits = [
        g.push("/add Changed text", edited=True, message_id=first)[0],
        g.push("/delete 1", edited=True, message_id=first)[0],
        g.push("/bounty", edited=True, message_id=first)[0],
    ]
    await api.wait_confirmed(edits[-1])
    assert [s.plain for s in api.sent[sent:]] == ["✅ Added #3: Original"]
    doc = bot.read_json(group, "group.json")
    assert [b["text"] for b in doc["bounties"]] == [
        "Addressed to me",
        "Case does not matter",
        "Original",
    ]


async def test_user_text_is_escaped_unmentioned_and_long_lists_split(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """User HTML shows literally, @name mentions no one, a long list splits within 4,096."""
    group = -1004
    g = Chat(api, group, user_id=5)
    assert await g.one("/add <b>x</b> & <i>co</i>") == "✅ Added #1: <b>x</b> & <i>co</i>"
    added = await g.one("/add ping @alice please https://x.org/@bob")
    assert "@alice" not in added
    assert (await g.one('/add Query https://x.org/?a=1&b="2"<3>')).startswith("✅ Added #3")
    [listing] = await g.ask("/bounty")
    assert '#3 Query\n🔗 https://x.org/?a=1&b="2"<3>' in listing.plain
    assert "#1 <b>x</b> & <i>co</i>" in listing.plain
    assert "@alice" not in listing.plain
    assert "@bob" not in listing.plain
    assert "@\u2060alice" in listing.plain
    assert 'href="https://x.org/@bob"' in listing.text, "the link itself must stay intact"
    assert [b["text"] for b in bot.read_json(group, "group.json")["bounties"]] == [
        "<b>x</b> & <i>co</i>",
        "ping @alice please",
        "Query",
    ]

    # Twelve texts of about 1,000 characters (some outside the BMP: 2 UTF-16 units each).
    texts = {}
    for i in range(4, 16):
        body = ("🎯" if i % 3 == 0 else "é<>&") * (240 if i % 3 else 990)
        texts[i] = f"Long {i:02d} {body}"[:1000]
    last = 0
    for text in texts.values():
        last, _ = g.push(f"/add {text}")
    await api.wait_confirmed(last, timeout=30)
    stored = {b["id"]: b["text"] for b in bot.read_json(group, "group.json")["bounties"]}
    assert {i: stored[i] for i in texts} == texts

    [first] = await g.ask("/bounty")  # one message, paged: ▶ shows the next page in it
    assert first.disable_preview
    pages = [p.plain or "" for p in await g.every_page(first)]
    assert len(pages) >= 2
    for page in pages:
        assert utf16_len(page) <= MAX_MESSAGE_LENGTH
    assert pages[0].startswith(f"Bounties of this group (15) · page 1/{len(pages)}")
    shown = "\n".join(pages)
    assert [int(i) for i in re.findall(r"(?m)^#(\d+) ", shown)] == list(range(1, 16))
    for i, text in texts.items():  # shortened in the list, naming the card
        short = shorten(text)
        assert short is not None
        assert text.startswith(short.removesuffix("…"))
        assert utf16_len(short) <= LIST_TEXT
        assert f"#{i} {short} (all: /bounty {i})\n➕ added by " in shown, f"#{i} missing"
    for i in (4, 6):  # the card shows all of it
        assert f"#{i} {texts[i]}\n" in await g.one(f"/bounty {i}")


async def test_groups_topics_and_senders_without_a_user(api: FakeBotAPI, bot: BotProcess) -> None:
    """Groups are isolated, topics get their answers, and commands without a user are refused."""
    a = Chat(api, -1005, user_id=5)
    assert await a.one("/add Secret of A https://a.org/1") == (
        "✅ Added #1: Secret of A\n🔗 with link"
    )
    a_files = snapshot(bot.data_dir / "-1005")

    async def other_group() -> None:
        b = Chat(api, -1006, user_id=5)
        assert "No bounties yet" in await b.one("/bounty")
        assert "There is no bounty #1" in await b.one("/track 1")
        assert "There is no bounty #1" in await b.one("/edit 1 Hacked")
        assert "There is no bounty #1" in await b.one("/delete 1")
        assert await b.one("/add Own of B") == "✅ Added #1: Own of B"
        [b_list] = await b.ask("/bounty")
        assert "Secret" not in b_list.plain
        assert "Own of B" in b_list.plain
        assert not (bot.data_dir / "-1006" / "5.json").exists()
        assert [x["text"] for x in bot.read_json(-1006, "group.json")["bounties"]] == ["Own of B"]

    async def forum_topics() -> None:
        forum = Chat(api, -1007, user_id=5)
        assert await forum.one("/add Topic task", topic=42) == "✅ Added #1: Topic task"
        [in_topic] = await forum.ask("/bounty", topic=42)
        assert "Topic task" in in_topic.plain
        assert "#1" in await forum.one("/track 1", topic=7)
        # A reply in a group without topics carries a thread id too; it is no topic.
        [plain_reply] = await forum.ask("/bounty", message_thread_id=1, reply_to_message_id=1)
        assert plain_reply.message_thread_id is None

    async def without_a_user() -> None:
        anonymous = {"id": -1005, "type": "supergroup", "title": "Test group"}
        channel = {"id": -1009999, "type": "channel", "title": "Linked channel"}
        # An anonymous admin moderates (tests/e2e/test_done_e2e.py) but adds, tracks or
        # claims nothing: that needs a person.
        for text in ("/add Anonymous idea", "/track 1", "/my", "/claim 1"):
            said = await a.one(text, user_id=None, sender_chat=anonymous)
            assert "needs to know who you are" in said, (text, said)
        for text in ("/add From a channel", "/edit 1 x", "/delete 1", "/done 1"):
            said = await a.one(text, user_id=None, sender_chat=channel)
            assert "needs to know who you are" in said, (text, said)
        assert "needs to know who you are" in await a.one("/add No sender", no_from=True)
        assert "Secret of A" in await a.one("/bounty", user_id=None, sender_chat=anonymous)
        assert "Secret of A" in await a.one("/bounty", no_from=True)
        assert "/add" in await a.one("/help", no_from=True)
        post = api.push_message(
            -1009999, "/add Channel post", chat_type="channel", no_from=True, sender_chat=channel
        )
        await api.wait_confirmed(post, timeout=30)
        assert api.sent_to(-1009999) == []
        assert not (bot.data_dir / "-1009999").exists()

    await asyncio.gather(other_group(), forum_topics(), without_a_user())
    assert snapshot(bot.data_dir / "-1005") == a_files
    assert_private_modes(bot.data_dir)


async def test_bursts_stay_within_telegram_rate_limits(api: FakeBotAPI, bot: BotProcess) -> None:
    """Bursts keep Telegram's limits: at most 20 messages per group, ~1 per second per DM."""
    group = -1008
    g = Chat(api, group, user_id=5)
    last = 0
    for i in range(1, 26):
        last, _ = g.push(f"/add Burst {i}")
    await api.wait_confirmed(last, timeout=40)
    shown = "\n".join(s.plain for s in api.sent_to(group))
    for i in range(1, 26):
        assert re.search(rf"Added #{i}: Burst {i}$", shown, re.MULTILINE), f"Burst {i} unanswered"
    problems = []
    if len(api.sent_to(group)) > 20:
        problems.append(
            f"{len(api.sent_to(group))} messages to one group at once (~20/min allowed)"
        )

    dm = Chat(api, 555)
    for i in range(1, 6):
        last, _ = dm.push(f"/add Personal {i}")
    await api.wait_confirmed(last, timeout=40)
    sent = api.sent_to(555)
    shown = "\n".join(s.plain for s in sent)
    for i in range(1, 6):
        assert re.search(rf"Added #{i}: Personal {i}$", shown, re.MULTILINE), i
    gaps = [round(later.time - earlier.time, 3) for earlier, later in itertools.pairwise(sent)]
    if any(gap < 0.8 for gap in gaps):
        problems.append(f"{len(sent)} messages to one private chat {gaps} s apart (~1/s allowed)")
    assert not problems
