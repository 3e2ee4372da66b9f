"""Updates the bot has taken but not finished, kept on disk so that Telegram can be told
they are done before they are.

Confirmation to Telegram is one offset, and `getUpdates` returns at most 100 updates
from it. An update whose work is slow (its chat's answers held back by Telegram's
limits or a 429, a disk fault, a migration waiting for its retry) would hold back every
update after it, and after 100 more nothing new would be fetched: one chat would stall
them all. Instead the poller (or the webhook) writes such updates' requests here, in one
durable write for all of them, and confirms past them. The bot goes on with them
meanwhile; at the next start it submits what is still here again, and the chats' dedupe
records answer what was already applied instead of applying it twice (those records are
never pruned while their update is held here).

The same file keeps the refusals the bot answered ("not saved": nothing changed), for
the 24 hours Telegram could deliver their updates again, so that such an update, come
back after a crash before it was confirmed, is answered so again and not applied after
all.

The file is `held-updates.json` in the data directory:
`{"held": [{"at": 1735603200, "request": {"update_id": 7, "chat_id": -1001, ...}}]}`,
a refusal with `"answer": "⚠️ Not saved: ..."` beside its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from jigaido.core.commands import Request
from jigaido.core.errors import DamagedFile
from jigaido.core.model import APPLIED_KEEP_SECONDS
from jigaido.shell.store import fsync_dir, in_thread, remove_temp_files_of, set_aside, write_durably

if TYPE_CHECKING:
    from jigaido.shell.pool import Job

log = logging.getLogger(__name__)

HELD_FILE = "held-updates.json"
# An update not finished this long after it came is held (and its update confirmed, or
# its webhook request answered): long enough that a chat's answers paced by Telegram's
# limits (up to about 20 s in a group spending its minute) are out first, short enough
# that polling soon goes back to long polls. Throughput never waits for it: the poller
# also holds once 50 updates wait.
HOLD_SECONDS = 30.0
# A held request is submitted again only while the records that dedupe it are kept,
# with an hour to spare: past that, applying it could apply it twice.
KEEP_SECONDS = APPLIED_KEEP_SECONDS - 3600
# Finished requests leave the file at most this long after they finish (one write for
# all that finished meanwhile).
TIDY_DELAY = 1.0


@dataclass(slots=True)
class _Entry:
    request: Request
    at: int  # when it was first held, or refused
    job: Job | None = None  # None: not (yet) submitted in this run
    # The refusal it was answered with ("not saved"): it is done, and must never be
    # applied (a redelivery gets this answer again). Kept as long as Telegram could
    # deliver it again.
    answer: str | None = None

    def expired(self, now: int) -> bool:
        keep = APPLIED_KEEP_SECONDS if self.answer is not None else KEEP_SECONDS
        return now - self.at >= keep


class Held:
    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = root / HELD_FILE
        self.clock = clock
        self._entries: dict[int, _Entry] = {}  # update_id -> entry
        self._on_disk: frozenset[int] = frozenset()
        self._lock = asyncio.Lock()  # one write at a time, each of the whole state
        self._tidying: asyncio.Task[None] | None = None

    @property
    def ids(self) -> frozenset[int]:
        """The update ids the file holds: their dedupe records must stay."""
        return self._on_disk

    def __len__(self) -> int:
        return len(self._entries)

    def load(self) -> list[Request]:
        """What the last run held and did not finish, to be submitted again now."""
        remove_temp_files_of(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            log.error("cannot read %s: %s; held updates of the last run are lost", self.path, e)
            return []
        now = int(self.clock())
        try:
            entries = parse(raw)
        except (DamagedFile, ValueError) as e:  # orjson's decode error is a ValueError
            aside = set_aside(self.path)
            log.error("%s is damaged (%s); set aside as %s", self.path.name, e, aside.name)
            return []
        for entry in entries:
            if entry.expired(now) and entry.answer is not None:
                continue  # Telegram cannot deliver it any more
            if entry.expired(now):
                log.error(
                    "chat %s: update %s was held since %s, too long to apply it safely; dropped",
                    entry.request.chat_id,
                    entry.request.update_id,
                    entry.at,
                )
                continue
            self._entries[entry.request.update_id] = entry
        self._on_disk = frozenset(e.request.update_id for e in entries)
        return [e.request for e in self._entries.values() if e.answer is None]

    def given(self, update_id: int) -> str | None:
        """The refusal `update_id` was answered with, if any (pool.Verdicts)."""
        entry = self._entries.get(update_id)
        return None if entry is None else entry.answer

    async def record(self, request: Request, answer: str) -> bool:
        """Keep `answer` (a refusal: nothing was changed) as `request`'s verdict, so that
        a redelivery is answered so again instead of being applied (pool.Verdicts)."""
        entry = self._entries.get(request.update_id)
        if entry is None:
            entry = self._entries[request.update_id] = _Entry(request, int(self.clock()))
        entry.answer = answer
        return await self._write()

    def watch(self, job: Job) -> None:
        """`job` is a request of the last run submitted again: forget it once it is done."""
        entry = self._entries.get(job.request.update_id)
        if entry is not None:
            entry.job = job
            job.done.add_done_callback(self._finished)

    async def hold(self, jobs: Iterable[Job]) -> bool:
        """Write `jobs` (with everything held already) durably; True once they are on
        disk, so their updates may be confirmed. False if the disk refused: then they
        must stay unconfirmed, and Telegram keeps them."""
        now = int(self.clock())
        added = False
        for job in jobs:
            if job.request.update_id not in self._entries:
                self._entries[job.request.update_id] = _Entry(job.request, now, job)
                job.done.add_done_callback(self._finished)
                added = True
        if not added and self._on_disk.issuperset(self._entries):
            return True
        return await self._write()

    async def close(self) -> None:
        """Leave in the file only what is not done (the pool has closed: nothing more
        will finish)."""
        if self._tidying is not None:
            self._tidying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tidying
        await self._tidy()

    def _finished(self, _done: asyncio.Future[bool]) -> None:
        if self._tidying is None or self._tidying.done():
            self._tidying = asyncio.get_running_loop().create_task(
                self._tidy_soon(), name="held-updates"
            )

    async def _tidy_soon(self) -> None:
        await asyncio.sleep(TIDY_DELAY)
        await self._tidy()

    async def _tidy(self) -> None:
        now = int(self.clock())
        finished = [
            i
            for i, e in self._entries.items()
            if (e.answer is None and e.job is not None and e.job.finished) or e.expired(now)
        ]
        for update_id in finished:
            del self._entries[update_id]
        if finished or not self._on_disk.issuperset(self._entries):
            await self._write()

    async def _write(self) -> bool:
        async with self._lock:
            entries = list(self._entries.values())
            try:
                await in_thread(self._write_sync, entries)
            except OSError as e:
                log.error(
                    "%s not saved: %s (check that %s is writable and its disk has room)",
                    self.path.name,
                    e,
                    self.path.parent,
                )
                return False
            self._on_disk = frozenset(e.request.update_id for e in entries)
            return True

    def _write_sync(self, entries: list[_Entry]) -> None:
        if entries:
            body = {"held": [_entry_json(e) for e in entries]}
            write_durably(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2))
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
            fsync_dir(self.path.parent)


def _entry_json(entry: _Entry) -> dict[str, Any]:
    body: dict[str, Any] = {"at": entry.at, "request": asdict(entry.request)}
    if entry.answer is not None:
        body["answer"] = entry.answer
    return body


def parse(raw: bytes) -> list[_Entry]:
    """The file's entries; DamagedFile (or orjson's ValueError) if it is not one."""
    obj = orjson.loads(raw)
    if not isinstance(obj, dict) or not isinstance(obj.get("held"), list):
        raise DamagedFile("not an object with a list named held")
    return [_entry(item) for item in obj["held"]]


def _entry(item: object) -> _Entry:
    if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
        raise DamagedFile("an entry without a request")
    at = item.get("at")
    if not isinstance(at, int) or isinstance(at, bool):
        raise DamagedFile("an entry without its time")
    answer = item.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise DamagedFile("an entry with a bad answer")
    return _Entry(_request(item["request"]), at, answer=answer)


_INT_FIELDS = ("update_id", "chat_id", "message_id")
_OPTIONAL_INT_FIELDS = ("user_id", "thread_id")
_STR_FIELDS = ("command", "args")


def _request(obj: Mapping[str, Any]) -> Request:
    if any(not _is_int(obj.get(name)) for name in _INT_FIELDS):
        raise DamagedFile("a request without its ids")
    if any(obj.get(name) is not None and not _is_int(obj[name]) for name in _OPTIONAL_INT_FIELDS):
        raise DamagedFile("a request with a bad user or topic id")
    if any(not isinstance(obj.get(name), str) for name in _STR_FIELDS):
        raise DamagedFile("a request without its command")
    if obj.get("kind") not in ("group", "private"):
        raise DamagedFile("a request of no known kind of chat")
    user_name = obj.get("user_name")
    if user_name is not None and not isinstance(user_name, str):
        raise DamagedFile("a request with a bad user name")
    admin = obj.get("admin")  # absent in files of versions before admins were asked
    if admin is not None and not isinstance(admin, bool):
        raise DamagedFile("a request with a bad admin flag")
    callback_id = obj.get("callback_id")  # a press's; absent in files before buttons
    if callback_id is not None and not isinstance(callback_id, str):
        raise DamagedFile("a request with a bad callback query id")
    return Request(
        update_id=obj["update_id"],
        chat_id=obj["chat_id"],
        kind=obj["kind"],
        user_id=obj.get("user_id"),
        message_id=obj["message_id"],
        command=obj["command"],
        args=obj["args"],
        thread_id=obj.get("thread_id"),
        user_name=user_name,
        admin=admin,
        callback_id=callback_id,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
