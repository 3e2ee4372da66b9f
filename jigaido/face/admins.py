"""Who the admins of each group are, as Telegram says (`getChatAdministrators`), cached.

The router asks before it queues a moderator action (`commands.needs_admin`), so the
answer travels in the request and the worker never waits on Telegram while it holds a
chat's files. A group's list is kept for at most `TTL` seconds. A "not an admin" from a
list older than `RECHECK` seconds might be stale (someone was just promoted): the list
is fetched again, once, before it counts. When Telegram cannot be asked, the verdict is
None, and the command says it could not check; after a failure the group is not asked
again for `RETRY` seconds, so an outage costs one slow request per group, not one per
command.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from jigaido.core.errors import AdminsUnknown

V = TypeVar("V")

log = logging.getLogger(__name__)

TTL = 600.0
RECHECK = 3.0
RETRY = 10.0
# How long one getChatAdministrators may take: the poller waits for it.
FETCH_TIMEOUT = 5.0
# Groups whose lists are kept at most, however many are fresh: memory stays bounded.
MAX_GROUPS = 10_000

Fetch = Callable[[int], Awaitable[frozenset[int]]]
"""The user ids of a group's admins; raises AdminsUnknown when Telegram cannot say."""


@dataclass(frozen=True, slots=True)
class _List:
    at: float
    ids: frozenset[int]


class Admins:
    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = TTL,
        recheck: float = RECHECK,
        retry: float = RETRY,
        timeout: float = FETCH_TIMEOUT,
        max_groups: int = MAX_GROUPS,
    ) -> None:
        self._fetch = fetch
        self.clock = clock
        self.ttl = ttl
        self.recheck = recheck
        self.retry = retry
        self.timeout = timeout
        self.max_groups = max_groups
        self.fetches = 0
        self._lists: OrderedDict[int, _List] = OrderedDict()  # oldest fetch first
        self._failed: OrderedDict[int, float] = OrderedDict()  # chat id -> when
        self._fetching: dict[int, asyncio.Future[frozenset[int] | None]] = {}

    async def is_admin(self, chat_id: int, user_id: int) -> bool | None:
        """True or False as far as Telegram says; None when it could not be asked and
        no list of the last `ttl` seconds is at hand."""
        known = self._fresh(chat_id)
        if known is not None and (user_id in known.ids or self.clock() - known.at < self.recheck):
            return user_id in known.ids
        ids = await self._refresh(chat_id)
        if ids is None:
            return None if known is None else user_id in known.ids
        return user_id in ids

    def _fresh(self, chat_id: int) -> _List | None:
        known = self._lists.get(chat_id)
        if known is None or self.clock() - known.at >= self.ttl:
            return None
        return known

    async def _refresh(self, chat_id: int) -> frozenset[int] | None:
        failed = self._failed.get(chat_id)
        if failed is not None and self.clock() - failed < self.retry:
            return None
        # One request per group at a time, however many commands wait for it.
        pending = self._fetching.get(chat_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_list(chat_id))
            self._fetching[chat_id] = pending
            pending.add_done_callback(lambda _: self._fetching.pop(chat_id, None))
        # Shielded: a caller cancelled (the bot stopping) leaves the others their answer.
        return await asyncio.shield(pending)

    async def _fetch_list(self, chat_id: int) -> frozenset[int] | None:
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                ids = await self._fetch(chat_id)
        except (AdminsUnknown, TimeoutError) as e:
            log.info("chat %s: could not get its admins from Telegram: %s", chat_id, e or "timeout")
            self._remember(self._failed, chat_id, self.clock())
            return None
        except Exception:
            # A bug: the command is refused ("could not check") rather than dropped.
            log.exception("chat %s: getting its admins failed", chat_id)
            self._remember(self._failed, chat_id, self.clock())
            return None
        self._failed.pop(chat_id, None)
        self._remember(self._lists, chat_id, _List(self.clock(), ids))
        return ids

    def _remember(self, table: OrderedDict[int, V], chat_id: int, value: V) -> None:
        table[chat_id] = value
        table.move_to_end(chat_id)
        self._prune()

    def _prune(self) -> None:
        """Drop what has expired, oldest first, and the oldest beyond `max_groups`."""
        now = self.clock()
        lists, failed = self._lists, self._failed
        while lists and (len(lists) > self.max_groups or now - _first(lists).at >= self.ttl):
            lists.popitem(last=False)
        while failed and (len(failed) > self.max_groups or now - _first(failed) >= self.retry):
            failed.popitem(last=False)


def _first(table: OrderedDict[int, V]) -> V:
    return next(iter(table.values()))
