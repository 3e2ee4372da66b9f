"""Damaged files met by the real bot process: set aside, told once, and served on."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

BROKEN = -1001
FINE = -1002


async def test_damaged_file_at_first_use(api: FakeBotAPI, tmp_path: Path) -> None:
    """A group.json cut short and a leftover temp file before start: the bot starts, sets
    the file aside at the chat's first command, tells the chat once, keeps serving it and
    every other chat, and logs the chat id."""
    data = tmp_path / "data"
    broken = data / str(BROKEN)
    broken.mkdir(parents=True, mode=0o700)
    damaged = b'{"group_id": -1001, "next_id": 3, "bounties": [{"id": 1, "te'
    (broken / "group.json").write_bytes(damaged)
    (broken / ".group.json.0a1b2c3d4e5f.tmp").write_bytes(b"half")
    bot = BotProcess(api, data, tmp_path / "bot.log")
    await bot.start()
    api.push_message(BROKEN, "/bounty", user_id=5)
    api.push_message(BROKEN, "/add fresh start", user_id=5)
    api.push_message(FINE, "/add unaffected", user_id=6)
    last = api.push_message(BROKEN, "/bounty", user_id=5)
    await api.wait_confirmed(last, timeout=20)
    said = "\n\n".join(s.plain for s in api.sent_to(BROKEN))
    assert said.count("A data file of this chat was damaged") == 1, said
    # Told first, then each command's own answer, in order (merged or not).
    order = ["damaged", "No bounties yet", "Added #1", "fresh start"]
    positions = [said.find(part) for part in order]
    assert -1 not in positions, said
    assert positions == sorted(positions), said
    assert "✅ Added #1" in api.sent_to(FINE)[0].plain
    aside = [p for p in broken.iterdir() if p.name.startswith("group.json.damaged-")]
    assert [p.read_bytes() for p in aside] == [damaged]
    assert not [p for p in broken.iterdir() if p.name.endswith(".tmp")]
    assert await bot.stop() == 0
    assert f"chat {BROKEN}:" in bot.log
    assert "Traceback" not in bot.log
