"""Damaged files, crash leftovers and supergroup migration under load, through the real
pool and real files: the chat is told once, nothing is overwritten or lost, and every
other chat keeps working."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC
from pathlib import Path

import pytest

from jigaido.core.commands import MIGRATE, Request
from jigaido.core.model import Bounty, FileKey, GroupBook, TrackList, UserBook
from jigaido.shell.outbox import Outbox
from jigaido.shell.pool import Pool
from jigaido.shell.store import Store, encode

GROUP = -1001
OTHER = -1002
USER = 7


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def __call__(
        self, chat: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        self.sent.append((chat, text))

    def to(self, chat: int) -> list[str]:
        return [text for c, text in self.sent if c == chat]


def req(update_id: int, command: str, args: str = "", *, chat: int = GROUP) -> Request:
    kind = "group" if chat < 0 else "private"
    user = USER if chat < 0 else chat
    return Request(update_id, chat, kind, user, update_id, command, args)


async def run(pool: Pool, *requests: Request) -> None:
    futures = [(await pool.submit(r)).done for r in requests]
    await asyncio.gather(*futures)


def real_files() -> dict[FileKey, bytes]:
    bounties = tuple(
        Bounty(i, f"bounty {i} — ünïcode", f"https://x.org/{i}", 1735689600 + i, 1735603200,
               created_by_user_id=USER)
        for i in (1, 2, 3)
    )  # fmt: skip
    return {
        FileKey.group(GROUP): encode(GroupBook(GROUP, 4, bounties)),
        FileKey.tracking(GROUP, USER): encode(TrackList(USER, (1, 3))),
        FileKey.user(USER): encode(UserBook(USER, 2, (Bounty(1, "mine", None, None, 1735603200),))),
    }


def first_use(key: FileKey) -> tuple[Request, Request]:
    """A command that reads `key`, and a second one that must then simply work."""
    if key.name == "user.json":
        return req(1, "bounty", chat=USER), req(2, "add", "fresh", chat=USER)
    if key.tracking_user_id is not None:
        return req(1, "my"), req(2, "track", "2")
    return req(1, "bounty"), req(2, "add", "fresh")


@pytest.mark.parametrize("name", ["group", "tracking", "user"])
async def test_truncated_at_every_offset_is_set_aside_and_the_chat_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """A real file cut at every byte offset: at first use it is set aside under a name
    that says so (never overwritten or deleted), logged with the chat id, the chat is
    told once, and that chat and the others keep working."""
    key = {
        "group": FileKey.group(GROUP),
        "tracking": FileKey.tracking(GROUP, USER),
        "user": FileKey.user(USER),
    }[name]
    raw = real_files()[key]
    caplog.set_level(logging.ERROR, logger="jigaido")
    for offset in range(len(raw)):
        root = tmp_path / str(offset)
        directory = root / str(key.chat_id)
        directory.mkdir(parents=True)
        (directory / key.name).write_bytes(raw[:offset])
        if key.tracking_user_id is not None:  # the group beside it is fine
            (directory / "group.json").write_bytes(real_files()[FileKey.group(GROUP)])
        recorder = Recorder()
        pool = Pool(Store(root), Outbox(recorder), tz=UTC)
        first, second = first_use(key)
        await run(pool, first, second, req(3, "add", "elsewhere", chat=OTHER))
        await pool.close()

        aside = [p for p in directory.iterdir() if ".damaged-" in p.name]
        assert len(aside) == 1, offset
        assert aside[0].name.startswith(f"{key.name}.damaged-")
        assert aside[0].read_bytes() == raw[:offset], offset
        answers = recorder.to(key.chat_id)
        assert sum("damaged" in a for a in answers) == 1, answers
        assert "damaged" in answers[0]
        assert not answers[-1].startswith("⚠️"), answers  # the next command just works
        assert recorder.to(OTHER)[0].startswith("✅ Added"), offset
        assert any(f"chat {key.chat_id}:" in r.getMessage() for r in caplog.records)
        caplog.clear()


async def test_crash_leftovers_are_cleaned_without_touching_data(tmp_path: Path) -> None:
    """Temp files a crash left (a half-written new file and a backup link of the old one)
    are removed at the chat's first use; the real file is untouched and used."""
    directory = tmp_path / str(GROUP)
    directory.mkdir()
    files = real_files()
    (directory / "group.json").write_bytes(files[FileKey.group(GROUP)])
    (directory / ".group.json.3f2a9c01b2d4.tmp").write_bytes(b'{"group_id": -1001, "nex')
    os.link(directory / "group.json", directory / ".group.json.77aa00bb11cc.old.tmp")
    recorder = Recorder()
    pool = Pool(Store(tmp_path), Outbox(recorder), tz=UTC)
    await run(pool, req(1, "bounty"))
    await pool.close()
    assert sorted(os.listdir(directory)) == ["group.json"]
    assert (directory / "group.json").read_bytes() == files[FileKey.group(GROUP)]
    assert "bounty 3" in recorder.to(GROUP)[0]


NEW = -100777


async def test_migration_under_load(tmp_path: Path) -> None:
    """Commands for the old and the new id arriving around the migration message, with
    a directory already under the new id: every bounty ends under the new id exactly
    once, tracking follows its bounty, and the old directory is kept, marked as moved."""
    recorder = Recorder()
    pool = Pool(Store(tmp_path), Outbox(recorder), tz=UTC)
    await run(pool, req(1, "add", "old a"), req(2, "add", "old b"), req(3, "track", "2"))
    await run(pool, req(4, "add", "raced before", chat=NEW))
    update = 10
    futures = []
    for i in range(30):
        futures.append((await pool.submit(req(update, "add", f"old {i}"))).done)
        futures.append((await pool.submit(req(update + 1, "add", f"new {i}", chat=NEW))).done)
        update += 2
        if i == 10:
            migrate = Request(update, NEW, "group", None, 1, MIGRATE, str(GROUP))
            futures.append((await pool.submit(migrate)).done)
            update += 1
    second = Request(update, NEW, "group", None, 2, MIGRATE, str(GROUP))  # the other message
    futures.append((await pool.submit(second)).done)
    futures.append((await pool.submit(req(update + 1, "add", "old late"))).done)
    await asyncio.gather(*futures)
    await pool.close()

    book = json.loads((tmp_path / str(NEW) / "group.json").read_text())
    texts = [b["text"] for b in book["bounties"]]
    expected = ["old a", "old b", "raced before", "old late"]
    expected += [f"old {i}" for i in range(30)] + [f"new {i}" for i in range(30)]
    assert sorted(texts) == sorted(expected)
    assert len(texts) == len(set(texts))
    assert book["group_id"] == NEW
    assert GROUP in book["migrated_from"]
    ids = [b["id"] for b in book["bounties"]]
    assert len(ids) == len(set(ids))
    tracks = json.loads((tmp_path / str(NEW) / f"{USER}.json").read_text())
    by_id = {b["id"]: b["text"] for b in book["bounties"]}
    assert [by_id[i] for i in tracks["tracked"]] == ["old b"]
    assert json.loads((tmp_path / str(GROUP) / "migrated.json").read_text())["migrated_to"] == NEW
    old_book = json.loads((tmp_path / str(GROUP) / "group.json").read_text())
    kept = [b["text"] for b in old_book["bounties"]]
    assert kept[:2] == ["old a", "old b"]
    assert set(kept) <= set(texts)  # the copy kept from before the move
    assert len(recorder.sent) == 2 + 1 + 1 + 60 + 1  # every command answered
