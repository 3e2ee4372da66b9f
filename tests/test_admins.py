"""The admins cache (admins.py): how long a group's list counts, when it is fetched again,
what a failure gives, and that the verdict travels in the request (router, held file)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiogram.types import Message

from jigaido.core.commands import Request
from jigaido.core.errors import AdminsUnknown
from jigaido.face.admins import RECHECK, RETRY, TTL, Admins
from jigaido.face.telegram import to_request
from jigaido.shell.held import Held
from jigaido.shell.pool import Job

GROUP = -1001
OTHER_GROUP = -1002
OWNER, ADMIN, MEMBER = 5, 6, 7


@dataclass
class Telegram:
    """What getChatAdministrators answers, changeable between calls, and every call."""

    admins: dict[int, set[int]] = field(default_factory=lambda: {GROUP: {OWNER, ADMIN}})
    calls: list[int] = field(default_factory=list)
    failing: bool = False
    slow: asyncio.Event | None = None  # set: let waiting fetches answer

    async def fetch(self, chat_id: int) -> frozenset[int]:
        self.calls.append(chat_id)
        if self.slow is not None:
            await self.slow.wait()
        if self.failing:
            raise AdminsUnknown("Forbidden: bot was kicked from the supergroup chat")
        return frozenset(self.admins.get(chat_id, set()))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def telegram() -> Telegram:
    return Telegram()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admins(telegram: Telegram, clock: Clock) -> Admins:
    return Admins(telegram.fetch, clock=clock)


async def test_the_list_is_fetched_once_and_kept(admins: Admins, telegram: Telegram) -> None:
    """The first question fetches the group's list; admins asked again get it from the
    cache, and each group has its own list."""
    assert await admins.is_admin(GROUP, OWNER) is True
    assert await admins.is_admin(GROUP, ADMIN) is True
    assert await admins.is_admin(OTHER_GROUP, OWNER) is False
    assert telegram.calls == [GROUP, OTHER_GROUP]


async def test_a_list_counts_for_at_most_ten_minutes(
    admins: Admins, telegram: Telegram, clock: Clock
) -> None:
    """Past TTL (10 minutes) the list is fetched again, so a demoted admin stops being
    one within ten minutes."""
    assert TTL <= 600
    assert await admins.is_admin(GROUP, ADMIN) is True
    telegram.admins[GROUP] = {OWNER}
    clock.now += TTL - 1
    assert await admins.is_admin(GROUP, ADMIN) is True
    clock.now += 1
    assert await admins.is_admin(GROUP, ADMIN) is False
    assert telegram.calls == [GROUP, GROUP]


async def test_a_refusal_from_an_older_list_is_checked_again_once(
    admins: Admins, telegram: Telegram, clock: Clock
) -> None:
    """Someone the list does not name, once it is RECHECK seconds old, makes one fresh
    fetch before the answer counts: a member promoted meanwhile is an admin at once."""
    assert await admins.is_admin(GROUP, MEMBER) is False
    telegram.admins[GROUP].add(MEMBER)
    assert await admins.is_admin(GROUP, MEMBER) is False  # the list is seconds old
    assert telegram.calls == [GROUP]
    clock.now += RECHECK
    assert await admins.is_admin(GROUP, MEMBER) is True
    assert await admins.is_admin(GROUP, MEMBER) is True
    assert telegram.calls == [GROUP, GROUP]


async def test_refusals_in_a_row_fetch_at_most_once_per_recheck(
    admins: Admins, telegram: Telegram, clock: Clock
) -> None:
    """A member trying again and again costs one fetch per RECHECK seconds at most."""
    for _ in range(20):
        assert await admins.is_admin(GROUP, MEMBER) is False
        clock.now += RECHECK / 4
    assert len(telegram.calls) <= 1 + 20 / 4


async def test_when_telegram_cannot_be_asked_the_answer_is_unknown(
    admins: Admins, telegram: Telegram, clock: Clock
) -> None:
    """A failed fetch without a list at hand is None (could not check); the group is not
    asked again for RETRY seconds, then is."""
    telegram.failing = True
    assert await admins.is_admin(GROUP, OWNER) is None
    assert await admins.is_admin(GROUP, OWNER) is None
    assert telegram.calls == [GROUP]
    telegram.failing = False
    clock.now += RETRY
    assert await admins.is_admin(GROUP, OWNER) is True
    assert telegram.calls == [GROUP, GROUP]


async def test_a_failed_recheck_keeps_the_list_it_has(
    admins: Admins, telegram: Telegram, clock: Clock
) -> None:
    """When the fetch again fails, the list of the last ten minutes still answers."""
    assert await admins.is_admin(GROUP, MEMBER) is False
    telegram.failing = True
    clock.now += RECHECK
    assert await admins.is_admin(GROUP, MEMBER) is False
    assert await admins.is_admin(GROUP, ADMIN) is True
    assert len(telegram.calls) == 2


async def test_a_hanging_fetch_times_out_as_unknown(telegram: Telegram, clock: Clock) -> None:
    """A getChatAdministrators that never answers is given up after the timeout: None."""
    telegram.slow = asyncio.Event()
    admins = Admins(telegram.fetch, clock=clock, timeout=0.05)
    with anyio.fail_after(5):
        assert await admins.is_admin(GROUP, OWNER) is None


async def test_commands_waiting_at_once_share_one_fetch(admins: Admins, telegram: Telegram) -> None:
    """A burst of moderator commands from one group makes one request, not one each."""
    telegram.slow = asyncio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            results: list[bool | None] = []

            async def ask(user: int) -> None:
                results.append(await admins.is_admin(GROUP, user))

            for user in (OWNER, ADMIN, MEMBER, OWNER):
                tg.start_soon(ask, user)
            await anyio.wait_all_tasks_blocked()
            telegram.slow.set()
    assert sorted(results, key=str) == [False, True, True, True]
    assert telegram.calls == [GROUP]


async def test_a_bug_in_fetching_is_an_unknown_not_a_crash(clock: Clock) -> None:
    """A fetch that raises something unexpected is logged and answers None."""

    async def broken(chat_id: int) -> frozenset[int]:
        raise KeyError(chat_id)

    assert await Admins(broken, clock=clock).is_admin(GROUP, OWNER) is None


async def test_memory_stays_bounded(telegram: Telegram, clock: Clock) -> None:
    """Lists of more groups than max_groups push out the oldest, and expired ones go."""
    admins = Admins(telegram.fetch, clock=clock, max_groups=3)
    for group in range(-10, 0):
        await admins.is_admin(group, OWNER)
    assert len(admins._lists) == 3
    clock.now += TTL
    await admins.is_admin(GROUP, OWNER)
    assert list(admins._lists) == [GROUP]


# --- the verdict travels with the request ---------------------------------------------------


def message(**fields: Any) -> Message:
    base: dict[str, Any] = {
        "message_id": 3,
        "date": 0,
        "chat": {"id": GROUP, "type": "supergroup", "title": "Team"},
        "text": "/done 1",
    }
    return Message.model_validate({**base, **fields})


def test_an_anonymous_admin_is_an_admin_without_asking() -> None:
    """A message sent as the group itself is an admin's; one sent as a channel is not,
    and one from a person is left for the router to ask about."""
    as_group = to_request(
        message(
            **{"from": {"id": 1087968824, "is_bot": True, "first_name": "Group"}},
            sender_chat={"id": GROUP, "type": "supergroup", "title": "Team"},
        ),
        1,
        "bot",
    )
    assert as_group is not None
    assert (as_group.user_id, as_group.admin) == (None, True)
    as_channel = to_request(
        message(sender_chat={"id": -1009, "type": "channel", "title": "News"}), 2, "bot"
    )
    assert as_channel is not None
    assert (as_channel.user_id, as_channel.admin) == (None, None)
    person = to_request(
        message(**{"from": {"id": MEMBER, "is_bot": False, "first_name": "Mo"}}), 3, "bot"
    )
    assert person is not None
    assert (person.user_id, person.user_name, person.admin) == (MEMBER, "Mo", None)


async def test_a_held_request_keeps_its_admin_verdict(tmp_path: Path) -> None:
    """The verdict is written with a held request and read back; a held file from before
    the field existed loads as not checked."""
    requests = [
        Request(1, GROUP, "group", MEMBER, 3, "done", "1", admin=True),
        Request(2, GROUP, "group", MEMBER, 4, "done", "1", admin=False),
        Request(3, GROUP, "group", MEMBER, 5, "add", "x"),
    ]
    loop = asyncio.get_running_loop()
    assert await Held(tmp_path).hold([Job(r, loop.create_future()) for r in requests])
    assert Held(tmp_path).load() == requests
    (tmp_path / "held-updates.json").write_text(
        '{"held": [{"at": 9999999999, "request": {"update_id": 4, "chat_id": -1001, '
        '"kind": "group", "user_id": 7, "message_id": 6, "command": "done", "args": "1"}}]}'
    )
    [old] = Held(tmp_path, clock=lambda: 9999999999).load()
    assert old.admin is None
