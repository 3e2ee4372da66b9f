"""Part 3: memory after 10,000 distinct chats each send one command and go idle.

In process: half groups, half private chats, each one /add through the pool to real
durable files, answered through an outbox that keeps Telegram's limits. The outbox's
clock runs ahead whenever it waits (its `sleep` moves the clock instead of sleeping),
so sending 10,000 answers at 30 a second takes seconds, not minutes, while every
window is still kept. Workers stop after a 1 s idle timeout; then the outbox's clock is
moved past its longest window (a group's minute) and its prune timer runs.

RSS is measured after a warm-up with other chats (thread pool, imports, caches), before
and after; what must be gone: every worker task, every per-chat entry in the pool and
the outbox. Then 10,000 more chats do the same, to tell memory the allocator keeps for
reuse (no further growth) from a leak (growth again), and glibc is asked to hand back
what it keeps free, to tell its share from Python's.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from bench.common import Row, rss_mb
from jigaido.core.commands import Request
from jigaido.shell.outbox import TELEGRAM, Outbox
from jigaido.shell.pool import Pool
from jigaido.shell.store import Store

CHATS = 10_000
WARM_UP = 500
IDLE_SECONDS = 1.0
PRUNE_SECONDS = 0.5


class RunningAheadClock:
    """Monotonic time plus whatever the outbox has waited: waiting costs no real time."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def now(self) -> float:
        return time.monotonic() + self.ahead

    async def sleep(self, seconds: float) -> None:
        self.ahead += max(seconds, 0.0)
        await asyncio.sleep(0)


async def _discard(chat_id: int, text: str, reply_to: int | None, thread: int | None) -> None:
    return None


def request(n: int, chat_id: int) -> Request:
    kind = "group" if chat_id < 0 else "private"
    user = abs(chat_id)
    return Request(n, chat_id, kind, user, n, "add", f"Chat {chat_id} task", user_name=f"U{n}")


def leftovers(pool: Pool, outbox: Outbox) -> dict[str, int]:
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith(("chat:", "send:"))]
    return {
        "worker_tasks": len(tasks),
        "pool_workers": pool.active,
        "pool_moved": len(pool._moved),
        "outbox_chats": outbox.chats,
    }


async def run_chats(pool: Pool, first: int, count: int) -> None:
    futures = []
    for i in range(count):
        n = first + i
        chat_id = -(10**12) - n if n % 2 else 10**9 + n
        futures.append((await pool.submit(request(n, chat_id))).done)
    await asyncio.gather(*futures)


async def wait_idle(pool: Pool, outbox: Outbox, clock: RunningAheadClock) -> float:
    """Seconds until nothing per chat is left (bounded): the pool has no event for it, so
    this looks every 0.1 s."""
    start = time.perf_counter()
    while pool.active and time.perf_counter() - start < 30:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    clock.ahead += 61  # past every window: a group's is a minute
    while any(leftovers(pool, outbox).values()) and time.perf_counter() - start < 60:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return time.perf_counter() - start


def trimmed_rss_mb() -> float | None:
    """RSS once glibc has handed its free memory back (diagnostic: how much of the growth
    is the allocator keeping freed memory for reuse, not live objects)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return rss_mb()


async def measure() -> tuple[list[Row], dict[str, Any]]:
    clock = RunningAheadClock()
    outbox = Outbox(
        _discard,
        limits=TELEGRAM,
        clock=clock.now,
        sleep=clock.sleep,
        prune_seconds=PRUNE_SECONDS,
    )
    with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as tmp:
        pool = Pool(Store(Path(tmp)), outbox, tz=UTC, idle_seconds=IDLE_SECONDS)
        await run_chats(pool, 1, WARM_UP)
        await wait_idle(pool, outbox, clock)
        gc.collect()
        before, blocks_before = rss_mb(), sys.getallocatedblocks()
        start = time.perf_counter()
        await run_chats(pool, WARM_UP + 1, CHATS)
        answered = time.perf_counter() - start
        busy = rss_mb()
        idle_wait = await wait_idle(pool, outbox, clock)
        gc.collect()
        after, blocks_after = rss_mb(), sys.getallocatedblocks()
        left = leftovers(pool, outbox)
        # Another 10,000 chats: the memory kept after the first is reused, not added to.
        await run_chats(pool, WARM_UP + CHATS + 1, CHATS)
        await wait_idle(pool, outbox, clock)
        gc.collect()
        second = rss_mb()
        left_second = leftovers(pool, outbox)
        trimmed = trimmed_rss_mb()
        await pool.close()
    growth = after - before
    part = "3 memory"
    entries = sum(v for k, v in {**left, **left_second}.items() if k != "worker_tasks")
    tasks = left["worker_tasks"] + left_second["worker_tasks"]
    trim = f"{trimmed - before:+.1f} MB" if trimmed is not None else "n/a"
    rows = [
        Row(part, f"RSS before / after {CHATS:,} chats idle", f"{before:.1f} / {after:.1f} MB"),
        Row(
            part,
            "RSS growth",
            f"{growth:+.1f} MB (while busy: {busy - before:+.1f})",
            "≤ 30 MB",
            growth <= 30,
        ),
        Row(part, "live Python blocks, before → after", f"{blocks_before:,} → {blocks_after:,}"),
        Row(
            part,
            f"RSS after {CHATS:,} more chats idle",
            f"{second - after:+.1f} MB more (kept memory is reused)",
        ),
        Row(part, "RSS growth once glibc trims its free memory", trim),
        Row(part, "worker tasks left", str(tasks), "0", tasks == 0),
        Row(part, "per-chat entries left (pool + outbox)", str(entries), "0", entries == 0),
        Row(part, f"{CHATS:,} commands answered in", f"{answered:.1f} s"),
    ]
    figures = {
        "chats": CHATS,
        "rss_before_mb": before,
        "rss_busy_mb": busy,
        "rss_after_mb": after,
        "growth_mb": growth,
        "live_blocks_before": blocks_before,
        "live_blocks_after": blocks_after,
        "rss_after_second_round_mb": second,
        "rss_trimmed_mb": trimmed,
        "left": left,
        "left_after_second_round": left_second,
        "answered_seconds": answered,
        "idle_wait_seconds": idle_wait,
        "outbox_sent": outbox.sent,
    }
    return rows, figures
