"""`python -m bench [part ...]`: run the benchmark (all parts by default), print a table
and then one JSON line with every figure."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import burst, e2e, memory, remind, spread, startup, storage
from bench.common import Row, cores, table

Part = Callable[[], Awaitable[tuple[list[Row], dict[str, Any]]]]
PARTS: dict[str, Part] = {
    "burst": burst.measure,
    "e2e": e2e.measure,
    "spread": spread.measure,
    "memory": memory.measure,
    "startup": startup.measure,
    "storage": storage.measure,
    "remind": remind.measure,
}


async def main(names: list[str]) -> int:
    rows: list[Row] = []
    figures: dict[str, Any] = {"machine": cores()}
    started = time.perf_counter()
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        part_started = time.perf_counter()
        part_rows, part_figures = await PARTS[name]()
        part_figures["bench_seconds"] = round(time.perf_counter() - part_started, 1)
        rows += part_rows
        figures[name] = part_figures
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    machine = figures["machine"]
    print(f"machine: {machine['usable_cores']} usable cores ({machine['cpu_count']} CPUs)")
    print(table(rows))
    print(json.dumps(figures, ensure_ascii=False, default=str))
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)}")
    args = parser.parse_args()
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    # The bot under test logs merges and the like; the table is what matters here.
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(args.parts or list(PARTS))))
