"""End-to-end harness: the real bot as a subprocess against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fakeapi import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # importing aiogram alone takes ~3 s on a loaded 2-core machine


class BotProcess:
    """`python -m jigaido run` with the test's environment; stderr kept in a log file."""

    def __init__(self, api: FakeBotAPI, data_dir: Path, log_path: Path, **env: str) -> None:
        self.api = api
        self.data_dir = data_dir
        self.log_path = log_path
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "JIGAIDO_"))},
            "BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.url,
            "JIGAIDO_DATA_DIR": str(data_dir),
            "JIGAIDO_POLL_TIMEOUT": "2",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, wait_ready: bool = True) -> None:
        polls = self.api.get_updates_calls
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "jigaido", "run",
                cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        if wait_ready:
            # Polling has begun once the bot has asked for updates.
            await self.api.wait_until(
                lambda: self.api.get_updates_calls > polls or self.exited,
                START_TIMEOUT,
                description="the bot's first getUpdates",
            )
            assert not self.exited, f"bot exited at start:\n{self.log}"

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109 - a hard bound
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def read_json(self, *parts: str | int) -> Any:
        return json.loads(self.data_dir.joinpath(*map(str, parts)).read_text(encoding="utf-8"))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[BotProcess]:
    """A running bot; stopped with SIGTERM at the end, which must exit 0."""
    process = BotProcess(api, tmp_path / "data", tmp_path / "bot.log")
    await process.start()
    yield process
    if not process.exited:
        status = await process.stop()
        assert status == 0, f"exit status {status}:\n{process.log}"
    assert "Traceback" not in process.log, process.log
