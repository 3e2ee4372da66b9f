"""Part 2: end to end over HTTP against a fake Bot API that enforces Telegram's limits.

The real bot runs as a subprocess (`python -m jigaido run`) against the fake on
127.0.0.1, which answers `429 Too Many Requests` with a `retry_after` to any message
beyond 30 a second overall, 20 a minute into one group or 1 a second into one private
chat. While 20 groups and 20 private chats each send 10 commands at a pace within
their limits (a group one every 3.2 s, a private chat one every 1.6 s), one big group
fires 200 commands from 100 users within 2 seconds.

Every command is an /add with a unique token, so each answer (alone or merged) is
found by its token; latency is from pushing the update to the fake receiving the
message that carries its answer.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Row, percentile, push_scheduled
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess
from tests.limits import most_in_any_window

BIG = -1001000000500
BURST = 200
BURST_USERS = 100
BURST_SECONDS = 2.0
BURST_AT = 4.0  # seconds after the others have started
GROUPS = [-1001000002000 - k for k in range(20)]
PRIVATE = [5_000_000 + k for k in range(20)]
PER_CHAT = 10
GROUP_EVERY = 3.2
PRIVATE_EVERY = 1.6
TOKEN = re.compile(r"\bt(\d+)x(\d+)\b")


@dataclass(frozen=True, slots=True)
class Command:
    at: float
    chat: int
    user: int
    token: str

    @property
    def text(self) -> str:
        return f"/add Task {self.token}"

    @property
    def key(self) -> str:
        return self.token


def schedule() -> list[Command]:
    commands = [
        Command(
            BURST_AT + i * BURST_SECONDS / BURST, BIG, 8_000_000 + i % BURST_USERS, f"t{-BIG}x{i}"
        )
        for i in range(BURST)
    ]
    for k, chat in enumerate(GROUPS):
        for j in range(PER_CHAT):
            at = 0.13 * k + j * GROUP_EVERY
            commands.append(Command(at, chat, 9_000_000 + 10 * k + j % 3, f"t{-chat}x{j}"))
    for k, chat in enumerate(PRIVATE):
        for j in range(PER_CHAT):
            commands.append(
                Command(0.05 + 0.11 * k + j * PRIVATE_EVERY, chat, chat, f"t{chat}x{j}")
            )
    return sorted(commands, key=lambda c: c.at)


class Answers:
    """When the fake first received a message carrying each token."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.seen = 0
        self.at: dict[str, float] = {}

    def update(self) -> int:
        for sent in self.api.sent[self.seen :]:
            for chat, n in TOKEN.findall(sent.plain):
                self.at.setdefault(f"t{chat}x{n}", sent.time)
        self.seen = len(self.api.sent)
        return len(self.at)


def on_disk(data: Path, commands: list[Command]) -> int:
    """How many commands' bounties are missing from the chats' files."""
    texts: set[str] = set()
    for chat in {c.chat for c in commands}:
        name = "group.json" if chat < 0 else "user.json"
        path = data / str(chat) / name
        if path.exists():
            texts.update(b["text"] for b in json.loads(path.read_text())["bounties"])
    return sum(1 for c in commands if f"Task {c.token}" not in texts)


async def measure() -> tuple[list[Row], dict[str, Any]]:
    commands = schedule()
    pushed: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jigaido-bench-") as tmp:
        async with FakeBotAPI() as api:
            api.enforce_limits()
            bot = BotProcess(api, Path(tmp) / "data", Path(tmp) / "bot.log")
            await bot.start()
            answers = Answers(api)
            last = await push_scheduled(api, commands, pushed)
            pushed_all = time.monotonic()
            try:
                await api.wait_until(lambda: answers.update() == len(commands), 120)
                await api.wait_confirmed(last, 30)
            except AssertionError as e:
                print(f"e2e: not everything was answered or confirmed: {str(e)[:300]}")
            drained = time.monotonic() - pushed_all
            status = await bot.stop(30)
            answers.update()
            log = bot.log
            missing_on_disk = on_disk(Path(tmp) / "data", commands)

    def latency(chats: set[int]) -> list[float]:
        return [
            answers.at[c.token] - pushed[c.token]
            for c in commands
            if c.chat in chats and c.token in answers.at
        ]

    others = latency({*GROUPS, *PRIVATE})
    big = latency({BIG})
    unanswered = len(commands) - len(answers.at)
    per_group = max(
        most_in_any_window([s.time for s in api.sent_to(g)], 60) for g in [BIG, *GROUPS]
    )
    per_private = max(most_in_any_window([s.time for s in api.sent_to(p)], 1) for p in PRIVATE)
    overall = most_in_any_window([s.time for s in api.sent], 1)
    floods = api.flood_refusals
    big_messages = len(api.sent_to(BIG))
    part = "2 e2e"
    others_p99, big_max = percentile(others, 99), max(big)
    others_s = f"{percentile(others, 50):.2f} / {others_p99:.2f} / {max(others):.2f} s"
    big_s = f"{percentile(big, 50):.2f} / {percentile(big, 99):.2f} / {big_max:.2f} s"
    tracebacks = log.count("Traceback")
    rows = [
        Row(part, "429s received", str(floods), "0", floods == 0),
        Row(
            part, "most messages to one group in any 60 s", str(per_group), "≤ 20", per_group <= 20
        ),
        Row(
            part,
            "most to one private chat in any 1 s / overall in any 1 s",
            f"{per_private} / {overall}",
            "≤ 1 / ≤ 30",
            per_private <= 1 and overall <= 30,
        ),
        Row(
            part,
            "other chats: update → answer p50 / p99 / max",
            others_s,
            "p99 ≤ 2 s",
            others_p99 <= 2,
        ),
        Row(
            part,
            f"big group ({BURST} in {BURST_SECONDS:g} s): same",
            big_s,
            "max ≤ 60 s",
            big_max <= 60,
        ),
        Row(part, "big group: messages for its answers", str(big_messages)),
        Row(
            part,
            "commands unanswered / bounties missing on disk",
            f"{unanswered} / {missing_on_disk}",
            "0 / 0",
            unanswered == 0 and missing_on_disk == 0,
        ),
        Row(
            part,
            "exit status after SIGTERM; tracebacks in its log",
            f"{status}; {tracebacks}",
            "0; 0",
            status == 0 and tracebacks == 0,
        ),
    ]
    figures = {
        "commands": len(commands),
        "flood_refusals": floods,
        "most_per_group_60s": per_group,
        "most_per_private_1s": per_private,
        "most_overall_1s": overall,
        "others_p50_s": percentile(others, 50),
        "others_p99_s": percentile(others, 99),
        "others_max_s": max(others),
        "big_p50_s": percentile(big, 50),
        "big_p99_s": percentile(big, 99),
        "big_max_s": max(big),
        "big_group_messages": big_messages,
        "messages_sent": len(api.sent),
        "unanswered": unanswered,
        "missing_on_disk": missing_on_disk,
        "seconds_to_drain_after_last_push": drained,
        "exit_status": status,
    }
    return rows, figures
