"""Part 1: a one-group burst of 1,000 /add commands from 100 users, in process.

Updates are parsed from getUpdates-shaped JSON (100 per response) with
`Update.model_validate(..., context={"bot": bot})` and fed to the dispatcher as the
polling loop feeds them: one after the other, never waiting for a command to finish
before feeding the next, with one turn of the event loop per response (where the real
loop awaits the network). They go through jigaido's router and pool to real durable
files in a temporary directory; the send function is a stand-in that returns at once
and the outbox keeps no rate limits, so the figure is the bot's own throughput (part 2
measures sending within Telegram's limits).

As in the service, what start-up built is frozen out of the garbage collector's reach
before the first update (`service.freeze_start_up_objects`); the table shows what a full
collection costs before and after that.

Beside it, in the same run:
- the baseline: the same pool with `batch_max=1`, i.e. one durable write per command;
- aiogram's ceiling: the same updates parsed and dispatched to a handler that does
  nothing behind a `Command` filter; no aiogram bot can be faster.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import Command
from aiogram.types import Message, Update

from bench.common import BOT_USERNAME, GROUP, Row, median
from jigaido.face import telegram
from jigaido.face.service import freeze_start_up_objects
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Pool
from jigaido.shell.store import Store

COMMANDS = 1000
USERS = 100
PER_RESPONSE = 100  # getUpdates returns at most 100 updates
ROUNDS = 7  # of jigaido and aiogram alone, interleaved: these machines are noisy
BASELINE_ROUNDS = 3  # it takes seconds a round


def responses(first_update_id: int = 500_000) -> list[str]:
    """The burst as the JSON bodies of successive getUpdates responses."""
    now = int(time.time())
    updates: list[dict[str, Any]] = []
    for i in range(COMMANDS):
        user = i % USERS
        text = f"/add Task {i} from user {user} https://example.org/issues/{i}"
        updates.append(
            {
                "update_id": first_update_id + i,
                "message": {
                    "message_id": 10_000 + i,
                    "date": now,
                    "chat": {"id": GROUP, "type": "supergroup", "title": "Bench group"},
                    "from": {
                        "id": 7_000_000 + user,
                        "is_bot": False,
                        "first_name": f"User{user}",
                        "username": f"user_{user}",
                    },
                    "text": text,
                    "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
                },
            }
        )
    return [
        json.dumps({"ok": True, "result": updates[i : i + PER_RESPONSE]})
        for i in range(0, COMMANDS, PER_RESPONSE)
    ]


async def _discard(chat_id: int, text: str, reply_to: int | None, thread: int | None) -> None:
    return None


async def feed(
    bodies: list[str], bot: Bot, handle: Callable[[Update], Awaitable[Any]]
) -> list[Any]:
    """Parse and hand over every update in order, as the polling loop does."""
    results = []
    for body in bodies:
        await asyncio.sleep(0)  # the turn the real loop gives while awaiting the network
        for raw in json.loads(body)["result"]:
            update = Update.model_validate(raw, context={"bot": bot})
            results.append(await handle(update))
    return results


async def run_pool(
    bodies: list[str], bot: Bot, dispatcher: Dispatcher, root: Path, batch_max: int
) -> tuple[float, int]:
    """Seconds from the first update to the last answer, and the durable writes."""
    pool = Pool(Store(root), Outbox(_discard), tz=UTC, batch_max=batch_max)
    dispatcher["pool"] = pool
    start = time.perf_counter()
    jobs = await feed(bodies, bot, lambda u: dispatcher.feed_update(bot, u))
    await asyncio.gather(*(j.done for j in jobs if j is not None))
    elapsed = time.perf_counter() - start
    await pool.close()
    book = json.loads((root / str(GROUP) / "group.json").read_text())
    assert len(book["bounties"]) == COMMANDS, "every command must be on disk"
    return elapsed, pool.flushes


async def run_aiogram(bodies: list[str], bot: Bot, dispatcher: Dispatcher) -> float:
    start = time.perf_counter()
    await feed(bodies, bot, lambda u: dispatcher.feed_update(bot, u))
    return time.perf_counter() - start


def aiogram_alone() -> Dispatcher:
    router = Router(name="noop")

    @router.message(Command("add", "bounty", "edit", "delete", "track", "untrack", "my"))
    async def noop(message: Message) -> None:
        return None

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


def _rate(per_second: float, unit: str) -> str:
    return f"{per_second:.0f} ({1e6 / per_second:.0f} µs/{unit})"


def full_collection_seconds() -> float:
    start = time.perf_counter()
    gc.collect()
    return time.perf_counter() - start


class GcPauses:
    """The longest pause of the garbage collector while this is in `gc.callbacks`."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def measure() -> tuple[list[Row], dict[str, Any]]:
    bodies = responses()
    bot = Bot("42:TEST")
    jigaido = Dispatcher(bot_username=BOT_USERNAME)
    jigaido.include_router(telegram.router)
    ceiling = aiogram_alone()
    unfrozen_full_gc = full_collection_seconds()
    freeze_start_up_objects()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    times: dict[str, list[float]] = {"jigaido": [], "baseline": [], "aiogram": []}
    flushes: dict[str, list[int]] = {"jigaido": [], "baseline": []}
    try:
        with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as tmp:
            # One untimed pass warms aiogram's and pydantic's caches for every contender.
            await run_pool(bodies, bot, jigaido, Path(tmp) / "warm", 500)
            await run_aiogram(bodies, bot, ceiling)
            for r in range(ROUNDS):
                times["aiogram"].append(await run_aiogram(bodies, bot, ceiling))
                contenders = [("jigaido", 500), ("baseline", 1)][: 2 if r < BASELINE_ROUNDS else 1]
                for name, batch_max in contenders:
                    root = Path(tmp) / f"{name}-{r}"
                    elapsed, flushed = await run_pool(bodies, bot, jigaido, root, batch_max)
                    times[name].append(elapsed)
                    flushes[name].append(flushed)
    finally:
        gc.callbacks.remove(pauses)
        await bot.session.close()

    rate = {name: COMMANDS / median(t) for name, t in times.items()}
    per_cmd = max(flushes["jigaido"]) / COMMANDS
    vs_baseline = rate["jigaido"] / rate["baseline"]
    vs_ceiling = rate["jigaido"] / rate["aiogram"]
    part = "1 burst"
    baseline_flushes = max(flushes["baseline"]) / COMMANDS
    rows = [
        Row(part, "jigaido commands/s (group commit)", _rate(rate["jigaido"], "cmd")),
        Row(part, "baseline commands/s (a write per command)", _rate(rate["baseline"], "cmd")),
        Row(part, "aiogram alone updates/s (parse + dispatch)", _rate(rate["aiogram"], "update")),
        Row(part, "jigaido / baseline", f"{vs_baseline:.1f}×", "≥ 4×", vs_baseline >= 4),
        Row(part, "jigaido / aiogram ceiling", f"{vs_ceiling:.2f}", "≥ 0.5", vs_ceiling >= 0.5),
        Row(
            part,
            "flushes per command",
            f"{per_cmd:.3f} (baseline {baseline_flushes:.2f})",
            "≤ 0.05",
            per_cmd <= 0.05,
        ),
        Row(
            part,
            "longest garbage-collector pause, start-up objects frozen",
            f"{pauses.longest * 1e3:.1f} ms "
            f"(a full one before freezing: {unfrozen_full_gc * 1e3:.0f} ms)",
        ),
    ]
    figures = {
        "commands": COMMANDS,
        "users": USERS,
        "rounds": ROUNDS,
        "baseline_rounds": BASELINE_ROUNDS,
        "longest_gc_pause_seconds": pauses.longest,
        "unfrozen_full_gc_seconds": unfrozen_full_gc,
        "seconds": times,
        "commands_per_second": rate,
        "flushes": flushes,
        "flushes_per_command": per_cmd,
        "vs_baseline": vs_baseline,
        "vs_aiogram_ceiling": vs_ceiling,
    }
    return rows, figures
