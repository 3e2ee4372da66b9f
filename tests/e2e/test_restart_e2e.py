"""Around a restart: the sending windows are not forgotten (the new process does not
send into a group that had its 20 messages this minute)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

GROUP = -1005001


async def test_a_restart_mid_burst_keeps_within_the_limits(api: FakeBotAPI, tmp_path: Path) -> None:
    """A group gets 12 commands one after the other (12 messages), the bot restarts, and
    the group sends 12 more at once within the same minute: against a fake enforcing
    Telegram's limits, not one 429 (a new process with empty windows would send 12
    more messages, 24 in the minute; this one counts the old one's sends from
    sent-recently.json and merges), and all 24 answered."""
    api.enforce_limits()
    data = tmp_path / "data"
    bot = BotProcess(api, data, tmp_path / "bot.log")
    await bot.start()
    for i in range(12):
        await api.wait_confirmed(api.push_message(GROUP, f"/add Before {i}", user_id=10 + i))
    assert await bot.stop() == 0
    sent_before = len(api.sent_to(GROUP))
    carried = json.loads((data / "sent-recently.json").read_text())["chats"][str(GROUP)]
    assert len(carried) == sent_before

    restarted = BotProcess(api, data, tmp_path / "bot2.log")
    await restarted.start()
    second = [api.push_message(GROUP, f"/add After {i}", user_id=10 + i) for i in range(12)]
    await api.wait_confirmed(second[-1], timeout=60)
    shown = "\n".join(s.plain for s in api.sent_to(GROUP))
    assert all(f"Before {i}" in shown and f"After {i}" in shown for i in range(12)), shown
    assert api.flood_refusals == 0, f"{api.flood_refusals} × 429"
    assert await restarted.stop() == 0
    assert "counting the last run's recent sends" in restarted.log
