"""`jigaido check`: what it reports in a data directory, its exit status, and that it
only reads."""

from __future__ import annotations

import functools
import io
import json
import os
import time
from pathlib import Path

from jigaido.core.commands import migrate_group
from jigaido.core.model import Bounty, FileKey, GroupBook, TrackList, UserBook
from jigaido.face.check import STALE_SECONDS, main, scan
from jigaido.shell.alarm import INDEX_FILE
from jigaido.shell.datadir import LOCK_FILE, hold
from jigaido.shell.held import HELD_FILE
from jigaido.shell.sendlog import SENT_FILE
from jigaido.shell.store import MOVED_FILE, Store, encode
from tests.e2e.harness import run_jigaido

GROUP = -1001


def bounty(i: int) -> Bounty:
    return Bounty(
        id=i, text=f"Task {i}", link=None, due_date_ts=None, created_at=1, created_by_user_id=5
    )


def healthy(root: Path) -> Store:
    """A group with bounties #1 and #3 (#2 deleted), a user tracking #1, and a DM."""
    store = Store(root)
    store.write_sync(FileKey.group(GROUP), GroupBook(GROUP, 4, (bounty(1), bounty(3))))
    store.write_sync(FileKey.tracking(GROUP, 5), TrackList(5, (1,)))
    store.write_sync(FileKey.user(77), UserBook(77, 2, (bounty(1),)))
    return store


def report_lines(root: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = main(root, out)
    return status, out.getvalue().splitlines()


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def snapshot(root: Path) -> dict[str, tuple[int, float, bytes]]:
    return {
        str(p.relative_to(root)): (
            p.stat().st_mode,
            p.stat().st_mtime,
            p.read_bytes() if p.is_file() else b"",
        )
        for p in sorted(root.rglob("*"))
    }


def test_clean_directory_exits_0_with_a_summary(tmp_path: Path) -> None:
    """Nothing to report: exit 0 and one summary line counting files and chats."""
    healthy(tmp_path)
    status, lines = report_lines(tmp_path)
    assert status == 0
    assert lines == [f"{tmp_path}: 3 files in 2 chats checked, all clean"]


def test_every_kind_of_problem_is_one_line_naming_its_file(tmp_path: Path) -> None:
    """Damaged, set-aside, temporary, migration leftovers, out-of-step tracking and
    foreign files: one line each, naming the path, and exit 1."""
    healthy(tmp_path)
    group = tmp_path / str(GROUP)
    (tmp_path / "78").mkdir()
    (tmp_path / "78" / "user.json").write_text('{"user_id": 78, "next_id": "2", "bounties": []}')
    (group / "group.json.damaged-20260101T000000").write_text("{")
    (group / ".group.json.abc123.tmp").write_text("{")
    age(group / ".group.json.abc123.tmp", STALE_SECONDS + 5)
    data = encode(TrackList(6, (1, 9)))
    (group / "6.json").write_bytes(data)
    (group / "notes.txt").write_text("hi")
    (tmp_path / "-5.migrated-to--1001").mkdir()
    (tmp_path / "-1002.before-migration-from--5").mkdir()
    staging = tmp_path / ".-1003.migrating-from--6"
    staging.mkdir()
    age(staging, STALE_SECONDS + 5)
    (tmp_path / "-7").mkdir()
    (tmp_path / "-7" / "8.json").write_bytes(encode(TrackList(8, (1,))))
    (tmp_path / "stray").write_text("")

    status, lines = report_lines(tmp_path)
    assert status == 1
    findings = dict(line.split(": ", 1) for line in lines[:-1])
    expected = {
        tmp_path / "78" / "user.json": "breaks the data format (next_id is not an integer)",
        group / "group.json.damaged-20260101T000000": "a damaged group.json the bot set aside",
        group / ".group.json.abc123.tmp": "a temporary file left by an interrupted write",
        group / "6.json": "tracks #9, which group.json never had (its next id is 4)",
        group / "notes.txt": "not a jigaido file",
        tmp_path / "-5.migrated-to--1001": "group -5 became supergroup -1001",
        tmp_path / "-1002.before-migration-from--5": "what -1002/ held before group -5 moved",
        staging: "an unfinished move of group -6 to -1003",
        tmp_path / "-7" / "8.json": "tracks #1, but the group has no group.json",
        tmp_path / "stray": "not a jigaido file or directory",
    }
    assert set(findings) == {str(p) for p in expected}
    for path, start in expected.items():
        assert findings[str(path)].startswith(start), (path, findings[str(path)])
    assert lines[-1].endswith("10 need attention")


def test_tracking_a_deleted_bounty_is_a_note_not_a_problem(tmp_path: Path) -> None:
    """/delete leaves tracking entries behind by design (ids are never reused): noted,
    exit 0."""
    store = healthy(tmp_path)
    store.write_sync(FileKey.tracking(GROUP, 5), TrackList(5, (1, 2)))
    status, lines = report_lines(tmp_path)
    assert status == 0
    assert lines[0] == (
        f"{tmp_path / str(GROUP) / '5.json'}: note: tracks deleted bounties #2 (harmless: "
        "/delete leaves them, lists skip them and ids are never reused)"
    )


def test_files_the_bot_is_writing_right_now_are_not_reported(tmp_path: Path) -> None:
    """A fresh temporary file or migration staging directory is a write in progress."""
    healthy(tmp_path)
    (tmp_path / str(GROUP) / ".5.json.x1y2.tmp").write_text("{")
    (tmp_path / ".-1003.migrating-from--6").mkdir()
    assert report_lines(tmp_path)[0] == 0


def test_damaged_group_file_skips_the_tracking_check(tmp_path: Path) -> None:
    """When group.json itself is damaged, only that is reported, not every tracked id."""
    healthy(tmp_path)
    (tmp_path / str(GROUP) / "group.json").write_text("not json")
    status, lines = report_lines(tmp_path)
    assert status == 1
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path / str(GROUP) / 'group.json'}: breaks the data format")


def test_check_only_reads(tmp_path: Path) -> None:
    """Nothing is created, changed, renamed or removed, even with problems present."""
    healthy(tmp_path)
    (tmp_path / str(GROUP) / "group.json").write_text("{")
    stale = tmp_path / str(GROUP) / ".group.json.abc.tmp"
    stale.write_text("{")
    age(stale, STALE_SECONDS + 5)
    os.mkfifo(tmp_path / str(GROUP) / "fifo.json")  # reading it would block
    before = {k: v for k, v in snapshot(tmp_path).items() if not k.endswith("fifo.json")}
    assert scan(tmp_path).findings
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.endswith("fifo.json")}
    assert after == before
    assert (tmp_path / str(GROUP) / "fifo.json").exists()


def test_cli_needs_no_token_and_finds_the_data_directory_as_run_does(tmp_path: Path) -> None:
    """`jigaido check` runs without a token; --data-dir, else JIGAIDO_DATA_DIR, else
    $STATE_DIRECTORY, else ./data; a missing directory is exit 2 and one line."""
    healthy(tmp_path / "data")
    healthy(tmp_path / "state")
    (tmp_path / "state" / "stray").write_text("")
    assert run_jigaido("check", cwd=tmp_path).returncode == 0
    done = run_jigaido("check", cwd=tmp_path, STATE_DIRECTORY=str(tmp_path / "state"))
    assert done.returncode == 1, done.stdout
    assert f"{tmp_path / 'state' / 'stray'}: not a jigaido" in done.stdout
    done = run_jigaido(
        "check",
        cwd=tmp_path,
        STATE_DIRECTORY=str(tmp_path / "state"),
        JIGAIDO_DATA_DIR=str(tmp_path / "data"),
    )
    assert done.returncode == 0, done.stdout
    assert run_jigaido("check", "--data-dir", str(tmp_path / "state"), cwd=tmp_path).returncode == 1
    missing = run_jigaido("check", "--data-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"jigaido check: no data directory at {tmp_path / 'nope'}"
    ]


def test_the_running_bots_lock_is_neither_reported_nor_needed(tmp_path: Path) -> None:
    """jigaido.lock, held by a running bot, is not "not a jigaido file", and `jigaido
    check` runs while the lock is held (it never takes it)."""
    healthy(tmp_path)
    with hold(tmp_path):
        assert (tmp_path / LOCK_FILE).is_file()
        done = run_jigaido("check", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"{tmp_path}: 3 files in 2 chats checked, all clean"]


def test_a_moved_group_and_an_unfinished_move_are_reported(tmp_path: Path) -> None:
    """A group whose move is done keeps its old files beside its marker: reported, to be
    removed later. A marker without the merge in the new group.json is a move still
    unfinished: reported as such. Neither marker is "not a jigaido file"."""
    store = healthy(tmp_path)
    merge = functools.partial(migrate_group, GROUP, -1001001)
    store.migrate_sync(GROUP, -1001001, merge)
    store.write_sync(FileKey.group(-5), GroupBook(-5, 2, (bounty(1),)))
    (tmp_path / "-5" / MOVED_FILE).write_text('{"group_id": -5, "migrated_to": -1005}')
    status, lines = report_lines(tmp_path)
    assert status == 1
    findings = dict(line.split(": ", 1) for line in lines[:-1])
    assert findings[str(tmp_path / str(GROUP))].startswith(
        f"group {GROUP} became supergroup -1001001; its data is in -1001001/"
    )
    assert findings[str(tmp_path / "-5")].startswith(
        "an unfinished move of group -5 to supergroup -1005"
    )
    assert len(findings) == 2, findings


def test_held_updates_are_a_note_and_a_damaged_file_a_problem(tmp_path: Path) -> None:
    """held-updates.json holding updates for a while is a note (the bot finishes them);
    one that does not parse needs attention."""
    healthy(tmp_path)
    held = tmp_path / HELD_FILE
    request = {"update_id": 9, "chat_id": 77, "kind": "private", "user_id": 77,
               "message_id": 3, "command": "add", "args": "x"}  # fmt: skip
    held.write_text(json.dumps({"held": [{"at": 1, "request": request}]}))
    age(held, STALE_SECONDS + 5)
    status, lines = report_lines(tmp_path)
    assert status == 0, lines
    assert lines[0] == (
        f"{held}: note: 1 updates the bot took and confirmed before finishing them (a chat "
        "Telegram held back, a disk fault); it finishes them as it goes, or at its next start"
    )
    held.write_text('{"held": [{"at": 1}]}')
    status, lines = report_lines(tmp_path)
    assert status == 1
    assert lines[0].startswith(f"{held}: breaks its format (an entry without a request)")


def test_recent_sends_kept_for_a_restart_are_the_bots_own(tmp_path: Path) -> None:
    """sent-recently.json (the pacing after a restart) is not reported."""
    healthy(tmp_path)
    (tmp_path / SENT_FILE).write_text('{"at": 1, "chats": {}}')
    assert report_lines(tmp_path) == (0, [f"{tmp_path}: 3 files in 2 chats checked, all clean"])


def test_a_reminders_index_that_disagrees_with_the_chats_is_reported(tmp_path: Path) -> None:
    """due-index.json is derived: an entry the chats' files do not bear out (or a chat
    owing a reminder it lacks) is reported; needing attention only when it was closed
    cleanly (then the bot would trust it); an index that agrees is not reported."""
    store = healthy(tmp_path)
    due = int(time.time()) + 5 * 86400
    b = Bounty(5, "Due", None, due, int(time.time()), created_by_user_id=5)
    store.write_sync(FileKey.group(-77), GroupBook(-77, 6, (b,)))
    index = tmp_path / INDEX_FILE
    index.write_text(json.dumps({"clean": True, "chats": {"-77": due - 86400}}))
    assert report_lines(tmp_path) == (0, [f"{tmp_path}: 5 files in 3 chats checked, all clean"])
    index.write_text(json.dumps({"clean": True, "chats": {"-77": due - 86400, "-5": 1}}))
    status, lines = report_lines(tmp_path)
    assert status == 1
    assert lines[0].startswith(f"{index}: disagrees with the chats' files for 1 chats (-5)")
    index.write_text(json.dumps({"clean": False, "chats": {}}))
    status, lines = report_lines(tmp_path)
    assert status == 0
    assert lines[0].startswith(f"{index}: note: disagrees with the chats' files for 1 chats (-77)")
