"""Small helpers shared by the benchmark's parts."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
