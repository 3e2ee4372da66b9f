"""Part 5: what one durable write costs on the storage path.

store.py does the whole durable replace (mkstemp, write, fsync, replace, fsync the
directory) in one synchronous function behind one thread hop. The alternative is the
same steps one by one through aiofiles, a thread hop each. Both write the same
document to the same directory, interleaved in rounds, in the same run; the figure is
the median round of each.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from bench.common import Row, median
from jigaido.core.model import Bounty, FileKey, GroupBook
from jigaido.shell.store import Store, encode, fsync_dir

WRITES = 300
ROUNDS = 10

_fsync = aiofiles.os.wrap(os.fsync)
_fsync_dir = aiofiles.os.wrap(fsync_dir)


def document(chat_id: int) -> GroupBook:
    """A group with 40 bounties: about 10 kB of JSON, a typical busy group's file."""
    now = int(time.time())
    bounties = tuple(
        Bounty(
            id=i,
            text=f"Bounty number {i}: fix the thing that broke on the release branch",
            link=f"https://example.org/issues/{i}",
            due_date_ts=now + i * 3600,
            created_at=now,
            created_by_user_id=1000 + i,
        )
        for i in range(1, 41)
    )
    return GroupBook(group_id=chat_id, next_id=41, bounties=bounties)


async def step_by_step(path: Path, doc: GroupBook) -> None:
    """The very steps of store.py's `write_durably`, one aiofiles call (one thread hop)
    each: temp file, write, flush, fsync, close, keep the old file linked, rename over
    it, fsync the directory, drop the old link."""
    data = encode(doc)
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    backup = tmp.with_name(f"{tmp.name.removesuffix('.tmp')}.old.tmp")
    async with aiofiles.open(tmp, "xb") as f:
        await f.write(data)
        await f.flush()
        await _fsync(f.fileno())
    await aiofiles.os.link(path, backup)
    await aiofiles.os.replace(tmp, path)
    await _fsync_dir(path.parent)
    await aiofiles.os.unlink(backup)


async def measure() -> tuple[list[Row], dict[str, Any]]:
    chat_id = -42
    doc = document(chat_id)
    size = len(encode(doc))
    one_hop: list[float] = []
    steps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as tmp:
        store = Store(Path(tmp))
        key = FileKey.group(chat_id)
        await store.write(key, doc)  # creates the directory; not timed
        path = store.path(key)
        per_round = WRITES // ROUNDS
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(per_round):
                await store.write(key, doc)
            one_hop.append((time.perf_counter() - start) / per_round)
            start = time.perf_counter()
            for _ in range(per_round):
                await step_by_step(path, doc)
            steps.append((time.perf_counter() - start) / per_round)
    hop_ms, steps_ms = median(one_hop) * 1e3, median(steps) * 1e3
    ratio = steps_ms / hop_ms
    part = "5 storage"
    rows = [
        Row(part, f"durable write, one hop (store.write, {size >> 10} kB)", f"{hop_ms:.2f} ms"),
        Row(part, "durable write, step by step via aiofiles", f"{steps_ms:.2f} ms"),
        Row(part, "step by step / one hop", f"{ratio:.2f}×", "> 1 (one hop is cheaper)", ratio > 1),
    ]
    figures = {
        "writes_each": WRITES,
        "bytes": size,
        "one_hop_ms_per_round": [round(t * 1e3, 3) for t in one_hop],
        "step_by_step_ms_per_round": [round(t * 1e3, 3) for t in steps],
        "one_hop_ms": hop_ms,
        "step_by_step_ms": steps_ms,
        "ratio": ratio,
    }
    return rows, figures
