"""Small helpers shared by the benchmark's parts."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tests.e2e.fakeapi import FakeBotAPI

GROUP = -1001000000001
BOT_USERNAME = "jigaido_test_bot"  # the fake Bot API's default


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: what was measured, its value, the goal and whether it holds."""

    part: str
    metric: str
    value: str
    goal: str = ""
    ok: bool | None = None


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB, from /proc."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def rss_mb(pid: int | str = "self") -> float:
    return proc_status(pid)["VmRSS"] / 1024


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cores() -> dict[str, Any]:
    return {"cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0))}


def table(rows: Sequence[Row]) -> str:
    header = ("part", "metric", "value", "goal", "")
    cells = [
        (r.part, r.metric, r.value, r.goal, "" if r.ok is None else ("ok" if r.ok else "MISS"))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells
    ]
    return "\n".join(lines)


class Scheduled(Protocol):
    """A command to push at `at` seconds after the start; `key` finds its answer."""

    @property
    def at(self) -> float: ...
    @property
    def chat(self) -> int: ...
    @property
    def user(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def key(self) -> str: ...


async def push_scheduled(
    api: FakeBotAPI, commands: Sequence[Scheduled], pushed: dict[str, float]
) -> int:
    """Push each command at its moment (pushed[key]: when, on the monotonic clock);
    returns the last update_id."""
    start = time.monotonic()
    last = 0
    for c in commands:
        delay = start + c.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        last = api.push_message(c.chat, c.text, user_id=c.user, first_name=f"User {c.user}")
        pushed[c.key] = time.monotonic()
    return last
