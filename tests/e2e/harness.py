"""Helpers the end-to-end tests share: the real bot as a subprocess, a chat of the fake
Bot API with known message ids, and snapshots of the data directory."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from tests.e2e.fakeapi import Edited, FakeBotAPI, Sent, Toast

ROOT = Path(__file__).resolve().parents[2]
# Every process the tests start, so none outlives its test (see conftest.py).
STARTED: set[BotProcess] = set()
START_TIMEOUT = 30.0  # importing aiogram alone takes ~3 s on a loaded 2-core machine


def run_jigaido(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m jigaido *args` to its end, with no token, data or systemd settings in
    its environment but those given."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "JIGAIDO_", "TELEGRAM_"))
        and k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")
    }
    return subprocess.run(
        [sys.executable, "-m", "jigaido", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
        STARTED.add(self)
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


class Chat:
    """One chat of the fake: pushes messages with known ids and collects their answers."""

    def __init__(self, api: FakeBotAPI, chat_id: int, user_id: int | None = None) -> None:
        self.api = api
        self.chat_id = chat_id
        self.user_id = user_id
        self.last_message_id = 0

    def push(self, text: str | None = None, **kw: Any) -> tuple[int, int]:
        """Queue a message (past every id used in the chat so far): (update_id, message_id)."""
        message_id = kw.pop("message_id", None)
        if message_id is None:
            used = [s.message_id for s in self.api.sent_to(self.chat_id)]
            message_id = max([self.last_message_id, *used]) + 1
        self.last_message_id = max(self.last_message_id, message_id)
        kw.setdefault("user_id", self.user_id)
        update_id = self.api.push_message(self.chat_id, text, message_id=message_id, **kw)
        return update_id, message_id

    async def ask(self, text: str, *, topic: int | None = None, **kw: Any) -> list[Sent]:
        """Send `text` and return its answers once its update is confirmed; each answer is
        checked to be HTML, to reply to the command in a group, and to be in its topic."""
        before = len(self.api.sent_to(self.chat_id))
        if topic is not None:
            kw.update(message_thread_id=topic, is_topic_message=True)
        update_id, message_id = self.push(text, **kw)
        await self.api.wait_confirmed(update_id, timeout=30)
        answers = self.api.sent_to(self.chat_id)[before:]
        for a in answers:
            assert a.parse_mode == "HTML", a
            assert a.reply_to_message_id == (message_id if self.chat_id < 0 else None), a
            assert a.message_thread_id == topic, a
        return answers

    async def one(self, text: str, **kw: Any) -> str:
        """The visible text of the single answer to `text`."""
        answers = await self.ask(text, **kw)
        assert len(answers) == 1, [a.plain for a in answers]
        return answers[0].plain

    async def press(
        self, message_id: int, data: str, *, user_id: int | None = None, **kw: Any
    ) -> tuple[list[Toast], list[Edited]]:
        """Press a button carrying `data` (as given: it may be forged) under message
        `message_id`; once its update is confirmed, the press's toasts and the edits
        the bot made meanwhile."""
        edited = len(self.api.edits)
        presser = user_id if user_id is not None else self.user_id
        update_id, query = self.api.push_press(
            self.chat_id, message_id, data, user_id=presser, **kw
        )
        await self.api.wait_confirmed(update_id, timeout=30)
        return self.api.toasts_for(query), self.api.edits[edited:]

    async def every_page(self, first: Sent) -> list[Sent | Edited]:
        """A paged list's first page and each next one, pressing ▶ until the last."""
        pages: list[Sent | Edited] = [first]
        while forward := button(pages[-1].buttons, "▶"):
            toasts, edits = await self.press(first.message_id, forward)
            assert [t.refused for t in toasts] == [None], toasts
            [page] = [e for e in edits if e.message_id == first.message_id]
            pages.append(page)
        return pages


class Datagrams:
    """What systemd would receive on its notify socket, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received: list[list[str]] = []

    async def wait_for(
        self, predicate: Callable[[list[str]], bool], description: str, *, start: int = 0
    ) -> list[str]:
        """The first datagram from the `start`-th on (received already or next) whose
        lines satisfy `predicate`."""
        seen = start
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(20):
                while True:
                    for lines in self.received[seen:]:
                        if predicate(lines):
                            return lines
                    seen = len(self.received)
                    data = await loop.sock_recv(self.sock, 4096)
                    self.received.append(data.decode().split("\n"))
        except TimeoutError:
            raise AssertionError(f"no {description}; received {self.received}") from None


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def assert_private_modes(root: Path) -> None:
    """Directories 0700 and files 0600 under the data directory, itself included."""
    assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
    for p in root.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def listed_ids(answers: list[Sent] | list[Sent | Edited]) -> list[int]:
    """The bounty ids of a list, in the order shown (its messages, or its pages)."""
    text = "\n".join(a.plain or "" for a in answers)
    return [int(m) for m in re.findall(r"^#(\d+) ", text, re.MULTILINE)]


def button(rows: list[list[dict[str, Any]]], label: str) -> str | None:
    """The callback data of the button whose label starts with `label`, if any."""
    found = [b for row in rows for b in row if str(b.get("text", "")).startswith(label)]
    return str(found[0]["callback_data"]) if found else None
