"""First contact, end to end: what the bot tells Telegram and its operator at start,
the greeting when it is added to a group, a tracked bounty deleted, an unreachable Bot
API said plainly, and `run --help`."""

from __future__ import annotations

import re
from pathlib import Path

from jigaido.core.commands import GREETING
from jigaido.face.intro import DESCRIPTION, SHORT_DESCRIPTION
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess, Chat, run_jigaido


async def test_start_up_says_what_to_do_next(api: FakeBotAPI, bot: BotProcess) -> None:
    """The bot sets its description and short description, and its first log line
    names it, says to send it /start or add it to a group, gives the data directory's
    absolute path and how to stop."""
    await api.wait_until(lambda: len(api.descriptions) == 2, description="descriptions set")
    assert api.descriptions == {
        "description": DESCRIPTION,
        "short_description": SHORT_DESCRIPTION,
    }
    started = next(line for line in bot.log.splitlines() if "jigaido started" in line)
    assert started.endswith(
        "jigaido started as @jigaido_test_bot (polling): send /start to @jigaido_test_bot "
        f"in Telegram, or add it to a group; data in {bot.data_dir.absolute()}; stop with "
        "Ctrl-C or SIGTERM"
    )


async def test_added_to_a_group_it_greets_once(api: FakeBotAPI, bot: BotProcess) -> None:
    """Added to a group, the bot says hello with the three commands to start with, as a
    message of its own (nothing to reply to); a change of its rights says nothing."""
    group = -4001
    added = api.push_added_to_group(group)
    await api.wait_confirmed(added)
    [hello] = api.sent_to(group)
    assert hello.text == GREETING
    assert hello.reply_to_message_id is None
    assert "/add" in hello.plain
    assert "/bounty" in hello.plain
    assert "/help" in hello.plain


async def test_deleting_a_tracked_bounty_tells_who_tracked_it(
    api: FakeBotAPI, bot: BotProcess
) -> None:
    """A bounty others track is not deleted silently: the answer names each of them
    with a mention (so Telegram tells them), but not the one deleting it."""
    g = Chat(api, -4002, user_id=5)
    assert (await g.one("/add Shared chore")).startswith("✅ Added #1")
    for user in (6, 7, 5):
        assert (await g.one("/track 1", user_id=user)).startswith("👀")
    [deleted] = await g.ask("/delete 1")
    assert deleted.plain.startswith("🗑 Deleted #1: Shared chore\n👀 It was tracked by 2 of you:")
    assert re.findall(r'href="tg://user\?id=(\d+)"', deleted.text) == ["6", "7"]


async def test_an_unreachable_bot_api_is_said_plainly(tmp_path: Path) -> None:
    """With nothing listening at TELEGRAM_API_URL, the log says once, at ERROR, that the
    Bot API there cannot be reached and what to check; SIGTERM still stops it, status 0."""
    async with FakeBotAPI() as api:
        nowhere = api.url
    bot = BotProcess(api, tmp_path / "data", tmp_path / "bot.log", TELEGRAM_API_URL=nowhere)
    await bot.start(wait_ready=False)
    await api.wait_until(
        lambda: "cannot be reached" in bot.log or bot.exited, timeout=30, description="the hint"
    )
    [line] = [line for line in bot.log.splitlines() if "cannot be reached" in line]
    assert f"ERROR jigaido.face.botapi: the Bot API at {nowhere} cannot be reached" in line
    assert "check the network, TELEGRAM_API_URL and any proxy or firewall" in line
    assert await bot.stop() == 0


def test_run_help_lists_the_main_settings(tmp_path: Path) -> None:
    """`jigaido run --help` names the environment variables that configure it."""
    done = run_jigaido("run", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for name in ("BOT_TOKEN", "JIGAIDO_DATA_DIR", "JIGAIDO_TZ", "TELEGRAM_API_URL"):
        assert name in done.stdout, name
