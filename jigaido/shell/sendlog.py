"""What was sent lately, kept across a restart.

Telegram counts a group's 20 messages a minute whatever the bot does in between: a
new process that starts with empty windows would send into groups that had their 20
already, get 429s for up to a minute, and pause every chat meanwhile. So the sends
that still count in the outbox's windows are written to `sent-recently.json` in the
data directory: every SAVE_SECONDS while the bot sends, and when it stops; the next
start counts them in again. A process killed outright loses at most the last
SAVE_SECONDS of them.

`{"at": 1735603200.5, "chats": {"-1001": [1735603190.1, ...]}}`: Unix times of sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from jigaido.shell.outbox import Outbox
from jigaido.shell.store import in_thread, remove_temp_files_of, write_durably

log = logging.getLogger(__name__)

SENT_FILE = "sent-recently.json"
SAVE_SECONDS = 2.0


class SendLog:
    def __init__(self, root: Path, outbox: Outbox, wall: Callable[[], float] = time.time) -> None:
        self.path = root / SENT_FILE
        self.outbox = outbox
        self.wall = wall
        self._saved_at_sent = -1  # outbox.sent when last saved
        self._task: asyncio.Task[None] | None = None

    async def restore(self) -> int:
        """Count the last run's recent sends in again; how many chats had some."""
        recent = await in_thread(self._load)
        self.outbox.restore_sends(recent)
        return len(recent)

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="sent-recently")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._save()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(SAVE_SECONDS)
            if self.outbox.sent != self._saved_at_sent:
                await self._save()

    async def _save(self) -> None:
        sent = self.outbox.sent
        now = self.wall()
        chats = {
            str(chat_id): [round(now - age, 3) for age in ages]
            for chat_id, ages in self.outbox.recent_sends().items()
        }
        body = orjson.dumps({"at": now, "chats": chats})
        try:
            await in_thread(write_durably, self.path, body)
        except OSError as e:
            # Only the pacing after a restart depends on it: worth a warning, no more.
            log.warning("%s not saved: %s", self.path.name, e)
            return
        self._saved_at_sent = sent

    def _load(self) -> dict[int, list[float]]:
        remove_temp_files_of(self.path)
        try:
            obj = orjson.loads(self.path.read_bytes())
            now = self.wall()
            return {
                int(chat_id): [now - float(t) for t in times]
                for chat_id, times in dict(obj["chats"]).items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError) as e:
            # Derived data: without it the first minute may meet a few 429s, nothing more.
            log.warning("%s unreadable (%s); starting with empty send windows", self.path.name, e)
            return {}
