"""The bot's own polling loop: confirmation waits for durable, answered work, but a
slow chat neither holds up the others' answers nor turns polling into a tight loop."""

from __future__ import annotations

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

SLOW_GROUP = -1001
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
