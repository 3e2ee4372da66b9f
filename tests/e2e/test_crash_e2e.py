"""Nothing lost: the real bot SIGKILLed at random moments, and SIGTERMed in a burst."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from tests.e2e import crashload
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """500 /add, /track, /claim and /done commands and presses of Claim, Done and Track /
    Untrack across groups and DMs, the bot SIGKILLed five times mid-stream and
    restarted: nothing answered is missing, nothing is applied twice, nothing is never
    applied, every file parses, every bounty's and tracking list's state is what
    applying each command and press once gives, and every toast says so too."""
    seed = int(os.environ.get("JIGAIDO_CRASH_SEED", random.randrange(1 << 30)))
    figures = await crashload.run(kills=5, per_cycle=100, seed=seed, data_dir=tmp_path / "data")
    summary = f"seed {seed}: {figures}"
    assert figures.commands >= 500, summary
    assert figures.kills == 5, summary
    assert figures.answered_but_missing == 0, summary
    assert figures.duplicates == 0, summary
    assert figures.never_applied == 0, summary
    assert figures.unparsable_files == 0, summary
    assert figures.wrong_state == 0, summary
    assert figures.press_wrong_answer == 0, summary
    kinds = ("add", "track", "claim", "done", "press claim", "press done", "press track")
    assert min(figures.mix.get(kind, 0) for kind in kinds) > 0, summary
    assert figures.presses_toasted > 0, summary
    assert not figures.problems, summary


async def test_sigterm_in_a_burst_finishes_what_it_took(api: FakeBotAPI, tmp_path: Path) -> None:
    """SIGTERM while a burst is processed: exit 0 within 10 s, every update confirmed
    before the exit was answered, and after a restart everything is applied once."""
    data = tmp_path / "data"
    bot = BotProcess(api, data, tmp_path / "bot.log")
    await bot.start()
    load = crashload.Load(api, random.Random(5))
    load.push(300)
    await api.wait_until(lambda: api.confirmed_below > load.commands[30].update_id, timeout=30)
    signalled = time.monotonic()
    status = await bot.stop(timeout=15)
    took = time.monotonic() - signalled
    assert status == 0, bot.log
    assert took < 10, f"stopping took {took:.1f} s"
    answered = {m.group(2) for s in api.sent for m in crashload.ADDED.finditer(s.text)}
    confirmed = [c for c in load.commands if c.update_id < api.confirmed_below]
    unanswered = [c.text for c in confirmed if c.text and c.text not in answered]
    assert not unanswered, "confirmed before its answer went out"

    await bot.start()
    await api.wait_confirmed(load.commands[-1].update_id, timeout=60)
    assert await bot.stop() == 0
    figures = crashload.Figures()
    crashload.audit(api, load.commands, data, figures)
    assert figures.clean, figures
    assert "Traceback" not in bot.log, bot.log
