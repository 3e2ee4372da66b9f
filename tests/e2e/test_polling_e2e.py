"""The bot's own polling loop: confirmation waits for durable, answered work, but a
slow chat neither holds up the others' answers, nor stops newer updates from being
fetched, nor turns polling into a tight loop."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

SLOW_GROUP = -1001
STUCK = 77
RETRY_AFTER = 3


async def test_slow_chat_does_not_hold_up_others_or_spin(api: FakeBotAPI, bot: BotProcess) -> None:
    """One answer held back by a 429 for 3 s: other chats are answered meanwhile, its
    update stays unconfirmed until its answer is out, and the bot re-fetches at most
    about once a second while it waits."""
    api.fail_next_sends(1, 429, retry_after=RETRY_AFTER)
    slow = api.push_message(SLOW_GROUP, "/add slow one", user_id=5)
    await api.wait_until(lambda: bool(api.calls_to("sendMessage")), description="first send")
    fetches_before = api.get_updates_calls
    others = [api.push_message(100 + i, f"/add quick {i}") for i in range(5)]
    await api.wait_until(
        lambda: all(api.sent_to(100 + i) for i in range(5)), timeout=RETRY_AFTER - 0.5,
        description="other chats answered while the slow one waits",
    )  # fmt: skip
    assert not api.sent_to(SLOW_GROUP)
    assert api.confirmed_below <= slow, "confirmed before its answer went out"
    await api.wait_until(lambda: bool(api.sent_to(SLOW_GROUP)), timeout=RETRY_AFTER + 5)
    fetches = api.get_updates_calls - fetches_before
    assert fetches <= 2 * RETRY_AFTER + 3, f"{fetches} getUpdates calls in ~{RETRY_AFTER} s"
    await api.wait_confirmed(others[-1])
    assert bot.read_json(SLOW_GROUP, "group.json")["bounties"][0]["text"] == "slow one"


async def test_a_stuck_chat_neither_stops_fetching_nor_loses_its_update(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    """One private chat's answer is held back by a 429 of 60 s while 150 commands come
    from 30 other chats, more than the 100 updates getUpdates returns from the oldest
    unconfirmed one: they are all fetched, applied and answered within seconds, because
    the stuck update is held on disk (held-updates.json) and confirmed. Stopped while it
    still waits, the bot keeps it there; at the next start it is finished, answered from
    its dedupe record, and applied once."""
    data = tmp_path / "data"
    bot = BotProcess(api, data, tmp_path / "bot.log")
    await bot.start()
    api.fail_next_sends(1, 429, retry_after=60)
    stuck = api.push_message(STUCK, "/add stuck one")
    await api.wait_until(lambda: bool(api.calls_to("sendMessage")), description="first send")
    others = [api.push_message(200 + i % 30, f"/add quick {i}") for i in range(150)]

    def answered_quick() -> int:  # answers may be merged into fewer messages
        return sum(s.plain.count("Added #") for c in range(30) for s in api.sent_to(200 + c))

    with anyio.fail_after(20):
        await api.wait_confirmed(others[-1], timeout=20)
        await api.wait_until(
            lambda: answered_quick() == 150, timeout=20, description="every other chat answered"
        )
    assert not api.sent_to(STUCK)

    def held_ids() -> list[int]:
        held = json.loads((data / "held-updates.json").read_text())
        return [h["request"]["update_id"] for h in held["held"]]

    # Held with it were updates still in progress then; they leave the file once done.
    await api.wait_until(lambda: held_ids() == [stuck], timeout=5, description="only it held")
    held = json.loads((data / "held-updates.json").read_text())
    assert await bot.stop() == 0
    assert json.loads((data / "held-updates.json").read_text()) == held, "kept for next time"

    restarted = BotProcess(api, data, tmp_path / "bot2.log")
    await restarted.start()
    await api.wait_until(lambda: bool(api.sent_to(STUCK)), timeout=10)
    assert [s.plain for s in api.sent_to(STUCK)] == ["✅ Added #1: stuck one"]
    await api.wait_until(lambda: not (data / "held-updates.json").exists(), timeout=10)
    assert [b["text"] for b in restarted.read_json(STUCK, "user.json")["bounties"]] == ["stuck one"]
    assert await restarted.stop() == 0
    assert "Traceback" not in bot.log + restarted.log
