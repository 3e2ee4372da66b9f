"""Crash load: stream /add, /track, /claim and /done commands, and presses of the
Claim, Done and Track / Untrack buttons of the bot's /add answers, at the real bot,
SIGKILL it at random moments, restart it, and count what was lost or doubled.

Used by `test_crash_e2e.py` (a few kills) and runnable on its own for many:

    .venv/bin/python -m tests.e2e.crashload --kills 1000 --seed 1

It prints six figures, each of which must be 0: commands answered as done but missing
from disk, duplicates, commands never applied, files that do not parse, bounties and
tracking lists whose state (claimer, done, trackers) is not what applying every command
and press once, in order, gives, and presses whose toast says otherwise than applying it
once there would (a press applied twice toasts "already", or toggles tracking back).
A press is a toggle for Track / Untrack, so one lost or doubled shows in the state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from jigaido.core.errors import DamagedFile
from jigaido.core.model import FileKey, GroupBook, TrackList, UserBook, load
from jigaido.shell.alarm import INDEX_FILE
from jigaido.shell.datadir import LOCK_FILE
from jigaido.shell.held import HELD_FILE
from jigaido.shell.pool import BUSY
from jigaido.shell.sendlog import SENT_FILE
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import BotProcess

GROUPS = (-1001, -1002, -1003)
DMS = (11, 12)
USERS = (101, 102, 103, 104)
ADDED = re.compile(r"✅ Added <b>#(\d+)</b>: (\S+)")
MESSAGE_BASE = 10_000_000  # command i is message MESSAGE_BASE + i in its chat
ASKER = re.compile(r"<b>u(\d+)</b>")  # users are named u<id> in merged answers' headers
TRACKED = re.compile(r"(?:👀 You now track|You already track) <b>#(\d+)</b>")
CLAIMED = re.compile(r"🙋 u(\d+) claimed <b>#(\d+)</b>")
DONE = re.compile(r"🎉 Done: <b>#(\d+)</b>")


@dataclass
class Command:
    update_id: int
    chat_id: int
    user_id: int
    text: str  # the unique bounty text, or "" for /track, /claim, /done and presses
    track_id: int = 0  # the bounty a /track names
    verb: str = "add"  # add, track, claim or done
    target: int = 0  # the bounty a /claim or /done (or a press) names
    query_id: str = ""  # a press's callback query ("": a command); track toggles then

    @property
    def kind(self) -> str:
        """What `Figures.mix` counts it as: its verb, or "press <verb>"."""
        return f"press {self.verb}" if self.query_id else self.verb


@dataclass
class Figures:
    kills: int = 0
    kills_with_work_in_flight: int = 0  # unconfirmed updates at the moment of the kill
    commands: int = 0
    answered_but_missing: int = 0
    duplicates: int = 0
    never_applied: int = 0
    unparsable_files: int = 0
    wrong_state: int = 0
    presses: int = 0
    presses_toasted: int = 0  # presses whose toast Telegram took (others expired first)
    presses_busy: int = 0  # answered busy, not applied
    press_wrong_answer: int = 0  # a toast saying what applying it once would not
    mix: dict[str, int] = field(default_factory=dict)  # commands pushed, by kind
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.answered_but_missing
            or self.duplicates
            or self.never_applied
            or self.unparsable_files
            or self.wrong_state
            or self.press_wrong_answer
        )


class Load:
    """The commands pushed so far, generated so every /track names a bounty that its
    group will have by the time the /track is applied (commands of one chat are
    applied in order). Presses are of the buttons under the bot's /add answers sent so
    far (their data read from the message as sent), so their bounty exists."""

    def __init__(self, api: FakeBotAPI, rng: random.Random, *, presses: float = 0.3) -> None:
        self.api = api
        self.rng = rng
        self.presses = presses  # the share of presses, where a chat has cards to press
        self.commands: list[Command] = []
        self.adds_pushed = dict.fromkeys(GROUPS + DMS, 0)
        self.creators: dict[tuple[int, int], int] = {}  # (chat, bounty id) -> who added it
        # chat -> [(message id, bounty id, {button label's first character: data})]
        self.cards: dict[int, list[tuple[int, int, dict[str, str]]]] = {}
        self._seen = 0  # api.sent read so far for cards

    def push(self, n: int) -> None:
        self._find_cards()
        for _ in range(n):
            chat = self.rng.choice(GROUPS + DMS)
            user = chat if chat > 0 else self.rng.choice(USERS)
            added = self.adds_pushed[chat]
            cards = self.cards.get(chat)
            if cards and self.rng.random() < self.presses:
                self._press(chat, user, self.rng.choice(cards))
                continue
            roll = self.rng.random()
            if added and chat < 0 and roll < 0.3:
                self._push(chat, user, "track", self.rng.randint(1, added))
            elif added and chat < 0 and roll < 0.45:
                self._push(chat, user, "claim", self.rng.randint(1, added))
            elif added and roll < 0.55:
                # By the one who added it, who may always: its outcome is known.
                target = self.rng.randint(1, added)
                self._push(chat, self.creators[chat, target], "done", target)
            else:
                self._add(chat, user)

    def warm_up(self) -> None:
        """One /add in each chat, each answered alone (so with its card's buttons): a
        burst's answers come merged, without buttons, so groups would have no cards."""
        for chat in GROUPS + DMS:
            self._add(chat, chat if chat > 0 else self.rng.choice(USERS))

    def _add(self, chat: int, user: int) -> None:
        i = len(self.commands)
        text = f"c{i}-{self.rng.getrandbits(32):08x}"
        update = self._message(chat, user, f"/add {text}")
        self.commands.append(Command(update, chat, user, text))
        self.adds_pushed[chat] += 1
        self.creators[chat, self.adds_pushed[chat]] = user

    def _find_cards(self) -> None:
        """The /add answers with their buttons (merged answers carry none)."""
        for sent in self.api.sent[self._seen :]:
            added = ADDED.search(sent.text)
            if added is None or not sent.buttons:
                continue
            data = {str(b["text"])[0]: str(b["callback_data"]) for row in sent.buttons for b in row}
            self.cards.setdefault(sent.chat_id, []).append(
                (sent.message_id, int(added.group(1)), data)
            )
        self._seen = len(self.api.sent)

    def _press(self, chat: int, user: int, card: tuple[int, int, dict[str, str]]) -> None:
        message_id, bounty_id, data = card
        verb = "done" if chat > 0 else self.rng.choice(("claim", "done", "track"))
        if verb == "done":
            user = self.creators[chat, bounty_id]  # who may always: its outcome is known
        label = {"claim": "🙋", "done": "✅", "track": "👀"}[verb]
        update, query = self.api.push_press(
            chat, message_id, data[label], user_id=user, first_name=f"u{user}"
        )
        self.commands.append(Command(update, chat, user, "", 0, verb, bounty_id, query))

    def _push(self, chat: int, user: int, verb: str, target: int) -> None:
        update = self._message(chat, user, f"/{verb} {target}")
        track = target if verb == "track" else 0
        self.commands.append(Command(update, chat, user, "", track, verb, target))

    def _message(self, chat: int, user: int, text: str) -> int:
        return self.api.push_message(
            chat, text, user_id=user, first_name=f"u{user}",
            message_id=MESSAGE_BASE + len(self.commands),
        )  # fmt: skip


async def run(
    *,
    kills: int,
    per_cycle: int,
    seed: int,
    data_dir: Path,
    max_delay: float = 0.3,
    progress: bool = False,
) -> Figures:
    """Push `per_cycle` commands after each start, kill at a random moment, `kills` times;
    then let the bot finish, stop it cleanly and audit the data directory."""
    rng = random.Random(seed)
    figures = Figures()
    started = time.monotonic()
    async with FakeBotAPI() as api:
        # A press is often taken only by a process some kills later (a start takes
        # seconds, a kill comes within 0.3 s of it): with Telegram's 15 s few toasts
        # would get through, and a toast is what shows a press answered as applied once.
        # So queries never expire here; expiry itself is test_buttons_e2e's.
        api.query_seconds = float("inf")
        load = Load(api, rng)
        bot = BotProcess(api, data_dir, data_dir.parent / "bot.log")
        try:
            await bot.start()
            load.warm_up()
            await api.wait_confirmed(load.commands[-1].update_id, timeout=60)
            await bot.kill()
            for cycle in range(kills):
                # One start in ten is killed while still starting up.
                early = rng.random() < 0.1
                await bot.start(wait_ready=not early)
                load.push(per_cycle)
                await asyncio.sleep(rng.uniform(0, 3.0 if early else max_delay))
                in_flight = bool(api.pending_update_ids())
                await bot.kill()
                figures.kills += 1
                figures.kills_with_work_in_flight += in_flight
                if progress and (cycle + 1) % 50 == 0:
                    print(f"  {cycle + 1} kills, {len(load.commands)} commands", file=sys.stderr)
            await bot.start()
            last = load.commands[-1].update_id
            await api.wait_confirmed(last, timeout=120)
            status = await bot.stop()
            if status != 0:
                figures.problems.append(f"final SIGTERM exit status {status}")
        finally:
            await bot.kill()  # a no-op after the clean stop; else none outlives the run
        audit(api, load.commands, data_dir, figures)
    figures.commands = len(load.commands)
    for c in load.commands:
        figures.mix[c.kind] = figures.mix.get(c.kind, 0) + 1
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def audit(api: FakeBotAPI, commands: list[Command], data_dir: Path, figures: Figures) -> None:
    books: dict[int, GroupBook | UserBook] = {}
    tracks: dict[tuple[int, int], TrackList] = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_dir() or (path.parent == data_dir and path.name in (LOCK_FILE, SENT_FILE)):
            continue
        if path.parent == data_dir and path.name in (HELD_FILE, INDEX_FILE):
            try:
                orjson.loads(path.read_bytes())
            except ValueError as e:
                figures.unparsable_files += 1
                figures.problems.append(f"{path.name}: {e}")
            continue
        if not path.name.endswith(".json") or path.parent.parent != data_dir:
            figures.unparsable_files += 1  # a damaged, temp or stray file is a failure here
            figures.problems.append(f"unexpected file {path.relative_to(data_dir)}")
            continue
        key = FileKey(int(path.parent.name), path.name)
        try:
            doc = load(key, path.read_bytes())
        except DamagedFile as e:
            figures.unparsable_files += 1
            figures.problems.append(f"{path.relative_to(data_dir)}: {e}")
            continue
        if isinstance(doc, TrackList):
            tracks[key.chat_id, doc.user_id] = doc
        else:
            books[key.chat_id] = doc

    texts = [b.text for book in books.values() for b in book.bounties]
    on_disk = set(texts)
    figures.duplicates = len(texts) - len(on_disk)

    command_by_msg = {(c.chat_id, MESSAGE_BASE + i): c for i, c in enumerate(commands)}

    answered: set[str] = set()
    answered_tracks: set[tuple[int, int, int]] = set()
    for sent in api.sent:
        answered.update(m.group(2) for m in ADDED.finditer(sent.text))
        # A merged message names who asked above each answer; a single one replies
        # to the command it answers.
        for block in sent.text.split("\n\n"):
            tracked = TRACKED.search(block)
            if not tracked:
                continue
            track_id = int(tracked.group(1))
            if block.startswith("↩️"):
                header = block.split("\n", 1)[0]
                for user in ASKER.findall(header):
                    answered_tracks.add((sent.chat_id, int(user), track_id))
            elif sent.reply_to_message_id is not None:
                c = command_by_msg.get((sent.chat_id, sent.reply_to_message_id))
                if c is not None:
                    answered_tracks.add((c.chat_id, c.user_id, track_id))

    def is_tracked(c: Command) -> bool:
        track_list = tracks.get((c.chat_id, c.user_id))
        return track_list is not None and c.track_id in track_list.tracked

    busy = _busy(api, commands, data_dir)
    replay = _Replay(commands, busy)
    figures.answered_but_missing = len(answered - on_disk) + sum(
        1
        for chat, user, j in answered_tracks
        if j in replay.tracking.get((chat, user), set())
        and not is_tracked(Command(0, chat, user, "", j))
    )
    figures.never_applied = sum(
        1
        for c in commands
        if (c.verb == "add" and c.text not in on_disk)
        or (
            c.verb == "track"
            and not c.query_id
            and c.track_id in replay.tracking.get((c.chat_id, c.user_id), set())
            and not is_tracked(c)
        )
    )
    _audit_lifecycle(api, replay, books, tracks, figures)
    _audit_presses(api, commands, replay, figures)


@dataclass
class _Replay:
    """What applying every command and press once, in order, gives: each bounty's
    (status, claimer, done by), each user's tracked ids, and each press's effect (True:
    it changed something, so its toast says what; for Track / Untrack, True tracks)."""

    commands: list[Command]
    busy: set[int]  # update ids of presses answered busy: never applied
    state: dict[tuple[int, int], tuple[str, int | None, int | None]] = field(default_factory=dict)
    tracking: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    effect: dict[int, bool] = field(default_factory=dict)  # press update id -> effect

    def __post_init__(self) -> None:
        for c in self.commands:  # one chat's commands are applied in the order they were sent
            if c.update_id in self.busy:
                continue
            key = (c.chat_id, c.target)
            status, claimer, _ = self.state.get(key, ("open", None, None))
            effect = False
            if c.verb == "claim" and status == "open":
                self.state[key] = ("claimed", c.user_id, None)
                effect = True
            elif c.verb == "done" and status != "done":
                self.state[key] = ("done", claimer, c.user_id)
                effect = True
            elif c.verb == "track":
                mine = self.tracking.setdefault((c.chat_id, c.user_id), set())
                if c.query_id and c.target in mine:
                    mine.discard(c.target)
                else:
                    effect = True
                    mine.add(c.target if c.query_id else c.track_id)
            if c.query_id:
                self.effect[c.update_id] = effect


def _busy(api: FakeBotAPI, commands: list[Command], data_dir: Path) -> set[int]:
    """The presses answered busy: by their toast, or by the verdict kept for them."""
    busy = {
        c.update_id for c in commands if any(t.text == BUSY for t in api.toasts_for(c.query_id))
    }
    held = data_dir / HELD_FILE
    if held.exists():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            for entry in orjson.loads(held.read_bytes()).get("held", []):
                if entry.get("answer") == BUSY:
                    busy.add(int(entry["request"]["update_id"]))
    return busy


def _audit_lifecycle(
    api: FakeBotAPI,
    replay: _Replay,
    books: dict[int, GroupBook | UserBook],
    tracks: dict[tuple[int, int], TrackList],
    figures: Figures,
) -> None:
    """Every bounty's claimer and done state as applying each command once, in order,
    gives (the first claim wins, /done by the creator always works), its trackers in
    group.json as the tracking files say, each tracking file as the replay says, and
    every claim and done answered on disk."""
    for chat, book in books.items():
        for b in book.bounties:
            want = replay.state.get((chat, b.id), ("open", None, None))
            got = (b.status, b.claimed_by_user_id, b.done_by_user_id)
            trackers = {
                u for (group, u), t in tracks.items() if group == chat and b.id in t.tracked
            }
            if got != want or (isinstance(book, GroupBook) and set(b.tracked_by) != trackers):
                figures.wrong_state += 1
                figures.problems.append(
                    f"chat {chat} #{b.id}: {got}, trackers {b.tracked_by}; expected {want}, "
                    f"trackers {sorted(trackers)}"
                )
    for key in sorted(set(replay.tracking) | set(tracks)):
        want_ids = replay.tracking.get(key, set())
        track_list = tracks.get(key)
        got_ids = set(track_list.tracked) if track_list is not None else set()
        if got_ids != want_ids:
            figures.wrong_state += len(got_ids ^ want_ids)
            figures.problems.append(
                f"chat {key[0]} user {key[1]} tracks {sorted(got_ids)}; expected {sorted(want_ids)}"
            )
    on_disk = {(chat, b.id): b for chat, book in books.items() for b in book.bounties}
    for sent in api.sent:
        for user, target in CLAIMED.findall(sent.text):
            claimed = on_disk.get((sent.chat_id, int(target)))
            if claimed is None or claimed.claimed_by_user_id != int(user):
                figures.answered_but_missing += 1
        for target in DONE.findall(sent.text):
            done = on_disk.get((sent.chat_id, int(target)))
            if done is None or not done.done:
                figures.answered_but_missing += 1


def _audit_presses(
    api: FakeBotAPI, commands: list[Command], replay: _Replay, figures: Figures
) -> None:
    """Each toast Telegram took says what the press did applied once, in its place:
    "claimed", "done", "now track" or "no longer track" for a press that changed
    something, anything else ("already ...", a refusal) for one that did not."""
    for c in commands:
        if not c.query_id:
            continue
        figures.presses += 1
        toasts = [t.text for t in api.toasts_for(c.query_id) if t.refused is None]
        if toasts:
            figures.presses_toasted += 1
        if c.update_id in replay.busy:
            figures.presses_busy += 1
            continue
        effect = replay.effect[c.update_id]
        said = {
            "claim": (f"🙋 u{c.user_id} claimed #{c.target}:",),
            "done": (f"🎉 Done: #{c.target} ",),
            "track": (f"👀 You now track #{c.target}:",),
        }[c.verb]
        if c.verb == "track" and not effect:
            said, effect = (f"You no longer track #{c.target}.",), True
        for text in toasts:
            if text.startswith(said) != effect or len(toasts) > 1:
                figures.press_wrong_answer += 1
                figures.problems.append(
                    f"chat {c.chat_id} press {c.verb} #{c.target} by {c.user_id}: toasts {toasts}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--per-cycle", type=int, default=6, help="commands pushed per start")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=0.3, help="latest kill after start")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    ns = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="jigaido-crash-"))
    figures = asyncio.run(
        run(
            kills=ns.kills,
            per_cycle=ns.per_cycle,
            seed=ns.seed,
            data_dir=workdir / "data",
            max_delay=ns.max_delay,
            progress=True,
        )
    )
    print(f"kills                     {figures.kills}")
    print(f"  with work in flight     {figures.kills_with_work_in_flight}")
    print(f"commands                  {figures.commands}")
    print(f"answered but missing      {figures.answered_but_missing}")
    print(f"duplicates                {figures.duplicates}")
    print(f"never applied             {figures.never_applied}")
    print(f"unparsable files          {figures.unparsable_files}")
    print(f"wrong state               {figures.wrong_state}")
    print(f"presses                   {figures.presses}")
    print(f"  toasted                 {figures.presses_toasted}")
    print(f"  answered busy           {figures.presses_busy}")
    print(f"  toast says otherwise    {figures.press_wrong_answer}")
    print(f"seconds                   {figures.seconds}")
    for problem in figures.problems[:20]:
        print(f"problem: {problem}")
    print(json.dumps({"seed": ns.seed, **asdict(figures)}))
    if not ns.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if figures.clean and not figures.problems else 1


if __name__ == "__main__":
    sys.exit(main())
