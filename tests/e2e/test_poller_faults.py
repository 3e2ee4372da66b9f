"""The polling loop in process (real aiogram, real HTTP, real files, the fake Bot API)
with a fault where it waits on the disk: what cannot be held stays unconfirmed, and
nothing waits on it longer than the fault lasts."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiogram import Bot

from jigaido.face import telegram
from jigaido.face.admins import Admins
from jigaido.face.service import Poller, make_bot, resubmit_held, wire
from jigaido.face.settings import Settings
from jigaido.shell import held as held_module
from jigaido.shell.held import HELD_FILE, Held
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Pool
from tests.e2e.fakeapi import FakeBotAPI

STUCK = 501


class Served:
    def __init__(self, bot: Bot, pool: Pool, held: Held, poller: Poller) -> None:
        self.bot, self.pool, self.held, self.poller = bot, pool, held, poller


@pytest.fixture
async def served(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Served]:
    """The service's own pieces, wired as service.run wires them, polling the fake."""
    bot = make_bot(Settings(token=api.token, data_dir=tmp_path, api_url=api.url))
    outbox = Outbox.for_telegram(telegram.make_sender(bot))
    core = wire(api.username, tmp_path, UTC, outbox, Admins(telegram.make_admin_fetcher(bot)))
    pool, held = core.pool, core.held
    await resubmit_held(pool, held)
    poller = Poller(bot, core.dispatcher, pool, held, timeout=1)
    task = asyncio.create_task(poller.run())
    try:
        yield Served(bot, pool, held, poller)
    finally:
        poller.stop()
        with anyio.fail_after(15):
            await task
            await core.close()
        await bot.session.close()


async def test_a_hold_the_disk_refuses_stays_unconfirmed_until_it_can_be_written(
    api: FakeBotAPI, served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A chat's answer held back by a 429 while 60 commands come from other chats: the
    poller tries to hold it, the disk refuses, so it stays unconfirmed (and Telegram
    keeps it), while the other chats are still fetched and answered. Once the disk
    takes the write, the update is held and everything after it confirmed."""
    real = held_module.write_durably
    failing = True

    def write_durably(path: Path, data: bytes) -> None:
        if failing:
            raise OSError(errno.EIO, "Input/output error")
        real(path, data)

    monkeypatch.setattr(held_module, "write_durably", write_durably)
    api.fail_next_sends(1, 429, retry_after=60)
    stuck = api.push_message(STUCK, "/add stuck")
    await api.wait_until(lambda: bool(api.calls_to("sendMessage")), description="first send")
    others = [api.push_message(600 + i % 20, f"/add quick {i}") for i in range(60)]

    def answered() -> int:
        return sum(s.plain.count("Added #") for c in range(20) for s in api.sent_to(600 + c))

    await api.wait_until(lambda: answered() == 60, timeout=15, description="others answered")
    assert api.confirmed_below <= stuck, "confirmed without being held"
    assert not (tmp_path / HELD_FILE).exists()

    failing = False
    await api.wait_confirmed(others[-1], timeout=10)
    body: dict[str, Any] = json.loads((tmp_path / HELD_FILE).read_text())
    assert stuck in [entry["request"]["update_id"] for entry in body["held"]]
    assert stuck in served.held.ids
