"""One timer for every chat's reminders, over a derived index of when each chat next
owes one (SPEC section 8).

The index, `due-index.json` in the data directory, maps a chat to its next moment. It
is derived: the chats' files are the truth, every reminder is checked against its
chat's file (by the chat's worker) before it is sent, and a chat's entry is set anew
after each write of its bounties. So nothing is scanned at start: the index is read,
and the bot sleeps until the earliest moment in a heap. The index is rebuilt from the
chats' files (in the background, after the bot serves) only when it is missing,
damaged, or was not closed cleanly: a crash may have lost its last changes, but never
the chats' own.

`{"clean": true, "chats": {"-1001": 1735689600, "42": 1735700000}}`
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from pathlib import Path

import orjson

from jigaido.core import args, model, reminders
from jigaido.core.errors import DamagedFile
from jigaido.core.model import GROUP_FILE, USER_FILE, FileKey, GroupBook, UserBook
from jigaido.shell.store import MOVED_FILE, in_thread, remove_temp_files_of, write_durably

log = logging.getLogger(__name__)

INDEX_FILE = "due-index.json"
# Changes reach the file at most this long after they happen (one write for all).
SAVE_DELAY = 1.0

# Submit a chat's reminders to its worker: it sends what the chat's file says is owed.
Submit = Callable[[int], Awaitable[None]]


class Alarm:
    def __init__(
        self,
        root: Path,
        submit: Submit,
        *,
        tz: tzinfo,
        lead: int = reminders.LEAD_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.path = root / INDEX_FILE
        self.submit = submit
        self.tz = tz
        self.lead = lead
        self.clock = clock
        self._next: dict[int, int] = {}  # chat -> its next moment
        self._heap: list[tuple[int, int]] = []  # (moment, chat); stale entries skipped
        self._changed = asyncio.Event()
        self._saving: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.fired = 0
        self._complete = False  # every chat is in `_next`: read clean, or rebuilt

    def __len__(self) -> int:
        return len(self._next)

    def get(self, chat_id: int) -> int | None:
        return self._next.get(chat_id)

    def start(self) -> None:
        """Read the index (or rebuild it, in the background) and wake chats as their
        moments come."""
        self._task = asyncio.create_task(self._run(), name="reminders")

    async def close(self) -> None:
        """Stop the timer and leave the index written, marked clean."""
        if self._task is None:
            return  # never started: what is on disk was not read, so it stays as it is
        for task in (self._task, self._saving):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # Cut short in its rebuild, it is not whole: the next start rebuilds it again.
        await self._save(clean=self._complete)

    def update(self, chat_id: int, moment: int | None) -> None:
        """`chat_id` next owes a reminder at `moment` (None: never, as it stands)."""
        if self._next.get(chat_id) == moment:
            return
        if moment is None:
            self._next.pop(chat_id, None)
        else:
            self._next[chat_id] = moment
            heapq.heappush(self._heap, (moment, chat_id))
        self._changed.set()
        self._save_soon()

    def plan_book(self, chat_id: int, book: GroupBook | UserBook) -> None:
        """Set `chat_id`'s entry from its book as just written."""
        tz = args.zone(book.tz, self.tz)
        self.update(chat_id, reminders.next_moment(book, int(self.clock()), self.lead, tz))

    async def _run(self) -> None:
        trusted = await in_thread(self._load)
        # From now on a crash must not leave the file looking clean.
        await self._save(clean=False)
        if not trusted:
            log.info("rebuilding %s from the chats' files", INDEX_FILE)
            rebuilt = await in_thread(self._scan)
            for chat_id, moment in rebuilt.items():
                if chat_id not in self._next:  # a worker's word since start is newer
                    self.update(chat_id, moment)
            log.info("%s rebuilt: %d chats with reminders to come", INDEX_FILE, len(rebuilt))
        self._complete = True
        await self._ring()

    async def _ring(self) -> None:
        """Sleep until the earliest moment (or a change), then wake the chats due."""
        while True:
            self._changed.clear()
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                moment, chat_id = heapq.heappop(self._heap)
                if self._next.get(chat_id) != moment:
                    continue  # replaced since
                # The worker sets it anew once it has looked at the chat's file.
                del self._next[chat_id]
                self.fired += 1
                await self.submit(chat_id)
            wait = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    def _save_soon(self) -> None:
        if self._saving is None or self._saving.done():
            with contextlib.suppress(RuntimeError):  # no loop: a caller outside the bot
                self._saving = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(SAVE_DELAY)
        await self._save(clean=False)

    async def _save(self, *, clean: bool) -> None:
        body = orjson.dumps(
            {"clean": clean, "chats": {str(c): m for c, m in sorted(self._next.items())}}
        )
        try:
            await in_thread(write_durably, self.path, body)
        except OSError as e:
            log.warning("%s not saved: %s (it is rebuilt at the next start)", INDEX_FILE, e)

    def _load(self) -> bool:
        """Read the index; False if it must be rebuilt from the chats' files."""
        remove_temp_files_of(self.path)
        try:
            index = read_index(self.path)
        except FileNotFoundError:
            return False
        except (OSError, ValueError, DamagedFile) as e:
            log.warning("%s unreadable (%s)", INDEX_FILE, e)
            return False
        clean, chats = index
        if not clean:
            return False  # its entries may be stale: the rebuild sets them all
        for chat_id, moment in chats.items():
            self._next[chat_id] = moment
            self._heap.append((moment, chat_id))
        heapq.heapify(self._heap)
        return clean

    def _scan(self) -> dict[int, int]:
        return scan(self.root, int(self.clock()), self.lead, self.tz)


def read_index(path: Path) -> tuple[bool, dict[int, int]]:
    """(closed cleanly?, chat -> next moment); OSError, ValueError or DamagedFile if
    unreadable."""
    obj = orjson.loads(path.read_bytes())
    if not isinstance(obj, dict) or not isinstance(obj.get("chats"), dict):
        raise DamagedFile("not an index")
    chats = {}
    for key, moment in obj["chats"].items():
        if not isinstance(moment, int) or isinstance(moment, bool):
            raise DamagedFile(f"chat {key}: not a time")
        chats[int(key)] = moment
    return obj.get("clean") is True, chats


def scan(root: Path, now: int, lead: int, tz: tzinfo) -> dict[int, int]:
    """Every chat's next moment, from its file (read only: a damaged file is skipped,
    its chat's worker sets it aside at its next use)."""
    found: dict[int, int] = {}
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return found
    for name in names:
        if not (name.lstrip("-").isdigit() and name.isascii()):
            continue
        chat_id = int(name)
        if (root / name / MOVED_FILE).exists():
            continue  # a group that became a supergroup: its files are a copy kept
        key = FileKey(chat_id, GROUP_FILE if chat_id < 0 else USER_FILE)
        try:
            book = model.load(key, (root / name / key.name).read_bytes())
        except (OSError, DamagedFile):
            continue
        if isinstance(book, GroupBook | UserBook):
            moment = reminders.next_moment(book, now, lead, args.zone(book.tz, tz))
            if moment is not None:
                found[chat_id] = moment
    return found
