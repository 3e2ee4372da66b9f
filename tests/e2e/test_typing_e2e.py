"""A chat whose answer Telegram's limits hold back is shown "typing" meanwhile, within
the limits."""

from __future__ import annotations

import itertools

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess, Chat
from tests.limits import most_in_any_window

GROUP = -1007001
TOPIC = 5


async def test_a_busy_group_is_shown_typing_while_its_answer_waits(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """A forum group sends 16 commands one after the other (16 of its 20 messages this
    minute), then one more: its answer is held back for seconds, to keep the minute's
    last sends for what comes next. Meanwhile the fake sees sendChatAction "typing" in
    that topic, at least twice and never twice within 5 s, all before the answer; and
    against a fake enforcing Telegram's limits, not one 429."""
    api.enforce_limits()
    g = Chat(api, GROUP, user_id=5)
    for i in range(16):
        [added] = await g.ask(f"/add Busy {i}", topic=TOPIC, user_id=10 + i)
        assert added.plain.startswith(f"✅ Added #{i + 1}: Busy {i}")
    assert api.calls_to("sendChatAction") == []  # nothing waited so far
    [held] = await g.ask("/add One more", topic=TOPIC, user_id=40)
    assert held.plain.startswith("✅ Added #17: One more")

    typing = [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] == GROUP]
    assert len(typing) >= 2, [c.time for c in typing]
    assert all(c.params["action"] == "typing" for c in typing)
    assert all(c.params["message_thread_id"] == TOPIC for c in typing)
    assert all(b.time - a.time >= 4.5 for a, b in itertools.pairwise(typing))
    assert typing[-1].time < held.time
    assert held.time - typing[0].time > 3
    assert api.flood_refusals == 0, f"{api.flood_refusals} × 429"
    sent = [s.time for s in api.sent_to(GROUP)]
    assert most_in_any_window(sent, 60) <= 20
    assert "typing" not in bot.log
