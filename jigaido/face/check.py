"""`jigaido check`: what in the data directory needs the operator's attention.

Reads every file and reports, one line each: files that break the data format,
damaged files the bot set aside, temporary files an interrupted write left, what a
group's migration to a supergroup left behind (and a move still unfinished), tracking
entries for bounties that group.json never had, updates held for a while, and anything
that is not jigaido's. Exit status 0 when nothing
needs attention, 1 otherwise, 2 when there is no such directory.

Read-only, so it is safe beside a running bot: it never writes or renames, and a file
the bot replaces while it is read is read whole, old or new (every write is a rename).
What only looks wrong because the bot is writing right now (a temporary file, a
migration being built) is reported once it is older than STALE_SECONDS.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TextIO

from jigaido.core import args, model, reminders
from jigaido.core.errors import DamagedFile
from jigaido.core.model import GROUP_FILE, USER_FILE, Doc, FileKey, GroupBook, TrackList
from jigaido.shell import alarm
from jigaido.shell.alarm import INDEX_FILE, read_index
from jigaido.shell.datadir import LOCK_FILE
from jigaido.shell.held import HELD_FILE
from jigaido.shell.held import parse as parse_held
from jigaido.shell.sendlog import SENT_FILE
from jigaido.shell.store import DAMAGED_INFIX, MOVED_FILE, TEMP_SUFFIX, read_moved_to

STALE_SECONDS = 60.0

_ID = r"-?[0-9]+"
_CHAT_DIR = re.compile(_ID)
_MIGRATED = re.compile(rf"({_ID})\.migrated-to-({_ID})(?:\.[0-9]+)?")
_BEFORE_MIGRATION = re.compile(rf"({_ID})\.before-migration-from-({_ID})(?:\.[0-9]+)?")
_MIGRATING = re.compile(rf"\.({_ID})\.migrating-from-({_ID})")


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    problem: str
    attention: bool = True  # False: a note, nothing to do

    def __str__(self) -> str:
        return f"{self.path}: {'' if self.attention else 'note: '}{self.problem}"


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    chats: int = 0
    files: int = 0

    @property
    def clean(self) -> bool:
        return not any(f.attention for f in self.findings)

    def add(self, path: Path, problem: str, *, attention: bool = True) -> None:
        self.findings.append(Finding(path, problem, attention))


def main(root: Path, out: TextIO = sys.stdout) -> int:
    if not root.is_dir():
        print(f"jigaido check: no data directory at {root}", file=sys.stderr)
        return 2
    report = scan(root)
    for finding in report.findings:
        print(finding, file=out)
    needing = sum(f.attention for f in report.findings)
    verdict = "all clean" if report.clean else f"{needing} need attention"
    print(f"{root}: {report.files} files in {report.chats} chats checked, {verdict}", file=out)
    return 0 if report.clean else 1


def scan(root: Path, *, now: float | None = None) -> Report:
    now = time.time() if now is None else now
    report = Report()
    for entry in _entries(root):
        path = root / entry.name
        if (match := _MIGRATED.fullmatch(entry.name)) and _is_dir(entry):
            old, new = match.groups()
            report.add(
                path,
                f"group {old} became supergroup {new}; its data was moved to {new}/ "
                "and this copy kept: remove it once you have checked that chat",
            )
        elif (match := _BEFORE_MIGRATION.fullmatch(entry.name)) and _is_dir(entry):
            new, old = match.groups()
            report.add(
                path,
                f"what {new}/ held before group {old} moved there; it was merged into "
                f"{new}/ and this copy kept: remove it once you have checked that chat",
            )
        elif (match := _MIGRATING.fullmatch(entry.name)) and _is_dir(entry):
            if _stale(entry, now):
                new, old = match.groups()
                report.add(
                    path,
                    f"an unfinished move of group {old} to {new} (interrupted by a crash); "
                    f"{old}/ still holds the data, and the bot redoes the move when "
                    "Telegram delivers the migration again",
                )
        elif _CHAT_DIR.fullmatch(entry.name) and int(entry.name) != 0 and _is_dir(entry):
            report.chats += 1
            _scan_chat(report, path, int(entry.name), now)
        elif entry.name == LOCK_FILE and _is_file(entry):
            continue  # what keeps a second bot off this directory: datadir.py
        elif entry.name == HELD_FILE and _is_file(entry):
            _check_held(report, path, entry, now)
        elif entry.name == SENT_FILE and _is_file(entry):
            continue  # recent sends, for the pacing after a restart: sendlog.py
        elif entry.name == INDEX_FILE and _is_file(entry):
            _check_index(report, path, now)
        elif entry.name.startswith((f".{HELD_FILE}.", f".{SENT_FILE}.")) and entry.name.endswith(
            TEMP_SUFFIX
        ):
            if _stale(entry, now):
                report.add(
                    path,
                    "a temporary file left by an interrupted write (harmless; the bot "
                    "removes it at its next start)",
                )
        else:
            report.add(path, "not a jigaido file or directory")
    return report


def _check_held(report: Report, path: Path, entry: os.DirEntry[str], now: float) -> None:
    try:
        held = parse_held(path.read_bytes())
    except FileNotFoundError:
        return  # emptied by the bot while we looked
    except (OSError, DamagedFile, ValueError) as e:
        report.add(path, f"breaks its format ({e}); the bot sets it aside at its next start")
        return
    report.files += 1
    held = [e for e in held if e.answer is None]  # refusals are answered, not waiting
    if held and _stale(entry, now):
        report.add(
            path,
            f"{len(held)} updates the bot took and confirmed before finishing them (a chat "
            "Telegram held back, a disk fault); it finishes them as it goes, or at its next "
            "start",
            attention=False,
        )


def _check_index(report: Report, path: Path, now: float) -> None:
    """The reminders' index against the chats' files (the truth): an entry for a chat
    that owes no reminder, or a chat owing one the index does not know, disagrees."""
    try:
        clean, chats = read_index(path)
    except FileNotFoundError:
        return
    except (OSError, ValueError, DamagedFile) as e:
        report.add(path, f"cannot be read ({e}): the bot rebuilds it from the chats at start")
        return
    report.files += 1
    # As `jigaido run` plans them: the same zone and lead settings, from the environment.
    tz = args.zone(os.environ.get("JIGAIDO_TZ"), UTC)
    lead = os.environ.get("JIGAIDO_REMIND_LEAD", "")
    truth = alarm.scan(
        path.parent, int(now), int(lead) if lead.isdigit() else reminders.LEAD_SECONDS, tz
    )
    wrong = sorted(c for c in {*chats, *truth} if chats.get(c) != truth.get(c))
    if wrong:
        shown = ", ".join(str(c) for c in wrong[:5]) + (" …" if len(wrong) > 5 else "")
        what = "the bot rebuilds it at its next start" if not clean else "stop the bot and "
        if clean:
            what += f"remove {path.name}: the next start rebuilds it"
        report.add(
            path,
            f"disagrees with the chats' files for {len(wrong)} chats ({shown}): {what} "
            "(reminders are always checked against the chat's file before they are sent)",
            attention=clean,
        )


def _check_moved(report: Report, root: Path, old_id: int) -> None:
    """A group that became a supergroup: its old files stay as they were, marked."""
    marker = root / str(old_id) / MOVED_FILE
    try:
        new_id = read_moved_to(marker.parent)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        report.add(marker, f"cannot be read ({e}): commands of group {old_id} stay in {old_id}/")
        return
    new_book = _read(Report(), root / str(new_id) / GROUP_FILE, FileKey.group(new_id))
    if isinstance(new_book, GroupBook) and old_id in new_book.migrated_from:
        report.add(
            marker.parent,
            f"group {old_id} became supergroup {new_id}; its data is in {new_id}/ and "
            "these are its files from before, kept: remove them once you have checked that "
            "chat and a day has passed (until then a late command of the old group is "
            f"still sent on to {new_id}/ by {MOVED_FILE})",
        )
    else:
        report.add(
            marker.parent,
            f"an unfinished move of group {old_id} to supergroup {new_id} (a crash or a disk "
            "fault): the bot finishes it at the next command in either chat, or when "
            "Telegram delivers the migration again",
        )


def _scan_chat(report: Report, directory: Path, chat_id: int, now: float) -> None:
    tracking: dict[str, TrackList] = {}
    group_entry: os.DirEntry[str] | None = None
    for entry in _entries(directory):
        path, name = directory / entry.name, entry.name
        key = FileKey(chat_id, name)
        if name.startswith(".") and name.endswith(TEMP_SUFFIX):
            if _stale(entry, now):
                report.add(
                    path,
                    "a temporary file left by an interrupted write (harmless; "
                    "the bot removes it when the chat is next used)",
                )
        elif DAMAGED_INFIX in name:
            original, _, when = name.partition(DAMAGED_INFIX)
            report.add(
                path,
                f"a damaged {original} the bot set aside ({when} UTC) before starting "
                "the file afresh: recover what you need from it by hand, then remove it",
            )
        elif name == MOVED_FILE and chat_id < 0 and _is_file(entry):
            _check_moved(report, directory.parent, chat_id)
        elif not _is_file(entry) or not _expected(chat_id, key):
            report.add(path, "not a jigaido file")
        elif name == GROUP_FILE:
            group_entry = entry  # read last: see _check_tracking
        else:
            doc = _read(report, path, key)
            if isinstance(doc, TrackList):
                tracking[name] = doc
    if chat_id > 0:
        return
    if group_entry is None:
        _check_tracking(report, directory, None, tracking)
        return
    book = _read(report, directory / GROUP_FILE, FileKey.group(chat_id))
    if isinstance(book, GroupBook):  # else it is reported as damaged
        _check_tracking(report, directory, book, tracking)


def _expected(chat_id: int, key: FileKey) -> bool:
    if chat_id > 0:
        return key.name == USER_FILE
    return key.name == GROUP_FILE or (key.tracking_user_id or 0) > 0


def _read(report: Report, path: Path, key: FileKey) -> Doc | None:
    try:
        with path.open("rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None  # renamed away while we looked (a migration)
    except OSError as e:
        report.add(path, f"cannot be read: {e.strerror or e}")
        return None
    report.files += 1
    try:
        return model.load(key, raw)
    except DamagedFile as e:
        report.add(
            path,
            f"breaks the data format ({e}); the bot will set it aside and start it "
            "afresh when the chat is next used",
        )
        return None


def _check_tracking(
    report: Report, directory: Path, book: GroupBook | None, tracking: dict[str, TrackList]
) -> None:
    """Tracking entries are read before group.json. The bot writes group.json first
    and never reuses an id, so a tracked id that the later group.json has never had
    (at or above its next_id) is a real inconsistency, not a race with the bot."""
    have = {b.id for b in book.bounties} if book else set()
    next_id = book.next_id if book else 1
    for name, tracks in sorted(tracking.items()):
        path = directory / name
        never = [i for i in tracks.tracked if i not in have and i >= next_id]
        deleted = [i for i in tracks.tracked if i not in have and i < next_id]
        if never and book is None:
            report.add(path, f"tracks {_ids(never)}, but the group has no {GROUP_FILE}")
        elif never:
            report.add(
                path,
                f"tracks {_ids(never)}, which {GROUP_FILE} never had (its next id is "
                f"{next_id}): the files are out of step, as after restoring a copy "
                "taken while the bot was writing",
            )
        if deleted:
            report.add(
                path,
                f"tracks deleted bounties {_ids(deleted)} (harmless: /delete leaves "
                "them, lists skip them and ids are never reused)",
                attention=False,
            )


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []  # renamed away while we looked (a migration)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """A regular file: never open a FIFO or a device, which could block or have effects."""
    try:
        return stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return False


def _stale(entry: os.DirEntry[str], now: float) -> bool:
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
    except FileNotFoundError:
        return False  # gone: the bot finished what it was writing
