"""Part 4: start-up, from process start to the first getUpdates.

The real bot (`python -m jigaido run`) against the fake Bot API on 127.0.0.1, beside
`python -c "import aiogram"` alone, alternately, several times. jigaido's own share is
the difference: its imports, reading the settings, getMe, the command menus, and
nothing else (no data directory is scanned; a chat's files are read when it is first
used). RSS is the peak (VmHWM) of each process at that point.

Where jigaido adds more than it should, `-X importtime` says which of its imports cost
what aiogram alone does not.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, median, proc_status
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

RUNS = 5
ADDED_SECONDS = 0.3
ADDED_MB = 20.0


async def bot_start(tmp: Path, run: int) -> tuple[float, float]:
    """Seconds from spawning the bot to its first getUpdates, and its peak RSS then (MB)."""
    async with FakeBotAPI() as api:
        bot = BotProcess(api, tmp / f"data-{run}", tmp / f"bot-{run}.log")
        start = time.monotonic()
        await bot.start()
        first = api.calls_to("getUpdates")[0].time
        peak = proc_status(bot.pid)["VmHWM"] / 1024
        status = await bot.stop()
        assert status == 0, bot.log
        return first - start, peak


async def python(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return time.monotonic() - start, out.decode() + err.decode()


async def import_aiogram() -> tuple[float, float]:
    """Seconds from spawning a process until it has imported aiogram (its exit, which
    can take a while with that much loaded, not counted), and its peak RSS (MB)."""
    code = "import aiogram, time; print(time.monotonic()); print(open('/proc/self/status').read())"
    start = time.monotonic()
    _, out = await python("-c", code)
    imported = float(out.split()[0])  # CLOCK_MONOTONIC is one clock for every process
    peak = next(line for line in out.splitlines() if line.startswith("VmHWM:"))
    return imported - start, int(peak.split()[1]) / 1024


def import_costs(trace: str) -> dict[str, int]:
    """Self time in microseconds of every module in an `-X importtime` trace."""
    costs: dict[str, int] = {}
    for line in trace.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            costs[match.group(2)] = int(match.group(1))
    return costs


async def what_jigaido_imports() -> tuple[float, list[tuple[str, float]]]:
    """Seconds of import work the bot's start does beyond `import aiogram`, and the
    costliest of those modules."""
    _, ours = await python(
        "-X", "importtime", "-c", "import jigaido.__main__, jigaido.face.service"
    )
    _, theirs = await python("-X", "importtime", "-c", "import aiogram")
    base = import_costs(theirs)
    extra = {name: us for name, us in import_costs(ours).items() if name not in base}
    ranked = sorted(extra.items(), key=lambda kv: -kv[1])[:5]
    return sum(extra.values()) / 1e6, [(name, us / 1e6) for name, us in ranked]


async def measure() -> tuple[list[Row], dict[str, Any]]:
    bot_s: list[float] = []
    bot_mb: list[float] = []
    aiogram_s: list[float] = []
    aiogram_mb: list[float] = []
    bare_s, _ = await python("-c", "pass")
    with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as tmp:
        for run in range(RUNS):
            seconds, mb = await import_aiogram()
            aiogram_s.append(seconds)
            aiogram_mb.append(mb)
            seconds, mb = await bot_start(Path(tmp), run)
            bot_s.append(seconds)
            bot_mb.append(mb)
    # Medians, and the fastest run of each: on a busy machine the minimum is the
    # steadier estimate of what a start costs.
    added_s = median(bot_s) - median(aiogram_s)
    added_min_s = min(bot_s) - min(aiogram_s)
    added_mb = median(bot_mb) - median(aiogram_mb)
    extra_s, extra = await what_jigaido_imports()
    part = "4 start-up"
    bot = f"{median(bot_s):.2f} s (fastest {min(bot_s):.2f}), {median(bot_mb):.0f} MB"
    alone = f"{median(aiogram_s):.2f} s (fastest {min(aiogram_s):.2f}), {median(aiogram_mb):.0f} MB"
    costliest = ", ".join(f"{name} {s * 1e3:.0f} ms" for name, s in extra[:4])
    rows = [
        Row(part, "jigaido: process start to first getUpdates", bot),
        Row(part, "python -c 'import aiogram' (bare python)", f"{alone} ({bare_s:.2f} s)"),
        Row(
            part,
            "added by jigaido: time (medians; fastest runs, judged)",
            f"{added_s:+.2f} s; {added_min_s:+.2f} s",
            f"≤ {ADDED_SECONDS} s",
            added_min_s <= ADDED_SECONDS,
        ),
        Row(
            part,
            "added by jigaido: peak memory",
            f"{added_mb:+.1f} MB",
            f"≤ {ADDED_MB:.0f} MB",
            added_mb <= ADDED_MB,
        ),
        Row(part, f"imports beyond aiogram's: {extra_s * 1e3:.0f} ms; costliest", costliest),
    ]
    figures = {
        "runs": RUNS,
        "bot_seconds": bot_s,
        "bot_peak_mb": bot_mb,
        "import_aiogram_seconds": aiogram_s,
        "import_aiogram_peak_mb": aiogram_mb,
        "bare_python_seconds": bare_s,
        "added_seconds": added_s,
        "added_seconds_fastest": added_min_s,
        "imports_beyond_aiogram_total_seconds": extra_s,
        "added_mb": added_mb,
        "imports_beyond_aiogram_seconds": dict(extra),
    }
    return rows, figures
