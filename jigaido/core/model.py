"""The spec's JSON files as frozen values, and the conversions both ways.

Pure: no disk, no aiogram. `parse_*` raise `DamagedFile` for anything that breaks
SPEC section 2 (wrong types, missing fields); fields they do not know are ignored.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, Literal, TypeAlias, get_args

from jigaido.core.errors import DamagedFile

GROUP_FILE = "group.json"
USER_FILE = "user.json"

# Telegram keeps an unconfirmed update for at most 24 hours; a record of an applied
# update older than that can never be needed again.
APPLIED_KEEP_SECONDS = 24 * 3600


Status = Literal["open", "claimed", "done"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class Bounty:
    id: int
    text: str
    link: str | None
    due_date_ts: int | None
    created_at: int
    created_by_user_id: int | None = None  # set in groups; personal bounties have none
    due_all_day: bool = False  # the due date was given without a time: the whole day counts
    # Version 2 (SPEC section 6). A v1 file has none of these: an open bounty.
    status: Status = "open"
    claimed_by_user_id: int | None = None  # "claimed"; kept once done, to show who did it
    done_at: int | None = None
    done_by_user_id: int | None = None  # None once done: an anonymous admin, or a DM
    # Display names as Telegram gave them at the time, so lists need not ask Telegram.
    created_by_name: str | None = None
    claimed_by_name: str | None = None
    done_by_name: str | None = None
    # Who tracks it (groups): the same facts as the users' tracking files, kept here so
    # a card can count them and a reminder name them without reading every user's file.
    tracked_by: tuple[int, ...] = ()
    # Version 2 (SPEC section 8): the reminders sent for it, each "kind@due" (kind
    # "before" or "at"; due the due_date_ts it was for), so a changed due plans anew.
    reminded: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass(frozen=True, slots=True)
class Applied:
    """An update this file has applied, with the answer it got, so a redelivery is
    answered again instead of applied twice. A Doc keeps them sorted by update_id."""

    update_id: int
    at: int
    answer: str


_update_id = attrgetter("update_id")


def sorted_applied(records: Iterable[Applied]) -> tuple[Applied, ...]:
    """A file's records in the order every Doc keeps them: by update_id, so a lookup
    is a bisection and not a scan of every record of a busy day."""
    return tuple(sorted(records, key=_update_id))


@dataclass(frozen=True, slots=True)
class GroupBook:
    group_id: int
    next_id: int = 1
    bounties: tuple[Bounty, ...] = ()
    applied: tuple[Applied, ...] = ()
    migrated_from: tuple[int, ...] = ()
    tz: str | None = None  # the chat's IANA time zone; None: the bot's JIGAIDO_TZ
    reminders: bool = True  # /remind on|off (SPEC section 8)


@dataclass(frozen=True, slots=True)
class UserBook:
    user_id: int
    next_id: int = 1
    bounties: tuple[Bounty, ...] = ()
    applied: tuple[Applied, ...] = ()
    tz: str | None = None
    reminders: bool = True


@dataclass(frozen=True, slots=True)
class TrackList:
    user_id: int
    tracked: tuple[int, ...] = ()
    applied: tuple[Applied, ...] = ()


Doc: TypeAlias = GroupBook | UserBook | TrackList


@dataclass(frozen=True, slots=True, order=True)
class FileKey:
    """One file of one chat: `group.json`, `user.json` or `{user_id}.json`."""

    chat_id: int
    name: str = field(default=GROUP_FILE)

    @staticmethod
    def group(chat_id: int) -> FileKey:
        return FileKey(chat_id, GROUP_FILE)

    @staticmethod
    def user(user_id: int) -> FileKey:
        return FileKey(user_id, USER_FILE)

    @staticmethod
    def tracking(group_id: int, user_id: int) -> FileKey:
        return FileKey(group_id, f"{user_id}.json")

    @property
    def tracking_user_id(self) -> int | None:
        """The user whose tracking file this is, or None for group.json/user.json."""
        stem = self.name.removesuffix(".json")
        if stem != self.name and stem.isascii() and stem.isdecimal():
            return int(stem)
        return None


def empty_doc(key: FileKey) -> Doc:
    if key.name == GROUP_FILE:
        return GroupBook(group_id=key.chat_id)
    if key.name == USER_FILE:
        return UserBook(user_id=key.chat_id)
    user_id = key.tracking_user_id
    if user_id is None:
        raise ValueError(f"not a jigaido file name: {key.name}")
    return TrackList(user_id=user_id)


def with_applied(doc: Doc, update_id: int, now: int, answer: str) -> Doc:
    """`doc` with a record that `update_id` was applied and answered with `answer`."""
    record = Applied(update_id, now, answer)
    applied = doc.applied
    if not applied or applied[-1].update_id <= update_id:  # update ids grow: the usual case
        return replace(doc, applied=(*applied, record))
    i = bisect_right(applied, update_id, key=_update_id)
    return replace(doc, applied=(*applied[:i], record, *applied[i:]))


def find_applied(doc: Doc | None, update_id: int, now: int) -> Applied | None:
    if doc is None:
        return None
    applied = doc.applied
    i = bisect_left(applied, update_id, key=_update_id)
    # Ids restart after a week of silence, so an old record may share the id: skip it.
    while i < len(applied) and applied[i].update_id == update_id:
        if now - applied[i].at < APPLIED_KEEP_SECONDS:
            return applied[i]
        i += 1
    return None


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Evidence that Telegram can no longer deliver some updates: a `getUpdates` with
    `offset` was sent at `sent_at` (Unix seconds). Every update below `offset` that had
    reached the bot before then is confirmed. An update that arrived later may have a
    lower id all the same (ids restart anywhere after a quiet week), so the offset alone
    proves nothing about it."""

    offset: int
    sent_at: int


def prune_applied(
    doc: Doc, now: int, confirmed: Confirmed | None, keep: Container[int] = ()
) -> Doc:
    """Drop the records that can no longer be needed: older than Telegram keeps an
    update, or of an update `confirmed` proves Telegram will not deliver again. A record
    is applied (`at`) after its update arrived, so `at < sent_at` means it arrived before
    that getUpdates was sent; the records of the batch being written are never older
    than the last fetch, so they always stay. `keep`: update ids whose records must stay
    whatever the evidence (updates the bot itself holds to apply again)."""
    kept = tuple(
        r
        for r in doc.applied
        if r.update_id in keep
        or (
            now - r.at < APPLIED_KEEP_SECONDS
            and (confirmed is None or r.update_id >= confirmed.offset or r.at >= confirmed.sent_at)
        )
    )
    return doc if len(kept) == len(doc.applied) else replace(doc, applied=kept)


# --- JSON -----------------------------------------------------------------------------


def to_json(doc: Doc) -> dict[str, Any]:
    """The file's JSON object (the store encodes it: `store.encode`)."""
    applied = [{"update_id": a.update_id, "at": a.at, "answer": a.answer} for a in doc.applied]
    out: dict[str, Any]
    if isinstance(doc, GroupBook):
        out = {
            "group_id": doc.group_id,
            "next_id": doc.next_id,
            "bounties": [_bounty_json(b, in_group=True) for b in doc.bounties],
            "applied_updates": applied,
            "migrated_from": list(doc.migrated_from),
        }
    elif isinstance(doc, UserBook):
        out = {
            "user_id": doc.user_id,
            "next_id": doc.next_id,
            "bounties": [_bounty_json(b, in_group=False) for b in doc.bounties],
            "applied_updates": applied,
        }
    else:
        return {"user_id": doc.user_id, "tracked": list(doc.tracked), "applied_updates": applied}
    if doc.tz is not None:  # absent means the bot's zone, so a v1 reader loses nothing
        out["tz"] = doc.tz
    if not doc.reminders:  # absent means on
        out["reminders"] = False
    return out


def _bounty_json(b: Bounty, *, in_group: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": b.id,
        "text": b.text,
        "link": b.link,
        "due_date_ts": b.due_date_ts,
        "created_at": b.created_at,
    }
    if in_group:
        out["created_by_user_id"] = b.created_by_user_id
    if b.due_date_ts is not None:
        out["due_all_day"] = b.due_all_day
    out["status"] = b.status
    out["claimed_by_user_id"] = b.claimed_by_user_id
    out["done_at"] = b.done_at
    out["done_by_user_id"] = b.done_by_user_id
    if in_group:
        # Written only when there is something to say: most bounties have no names or
        # trackers yet, and a reader takes absent as none.
        for name, value in (
            ("created_by_name", b.created_by_name),
            ("claimed_by_name", b.claimed_by_name),
            ("done_by_name", b.done_by_name),
        ):
            if value is not None:
                out[name] = value
        if b.tracked_by:
            out["tracked_by"] = list(b.tracked_by)
    if b.reminded:
        out["reminded"] = list(b.reminded)
    return out


def load(key: FileKey, raw: bytes) -> Doc:
    """Parse the bytes of `key`'s file, or raise `DamagedFile` saying what is wrong."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DamagedFile(f"not UTF-8: {e}") from e
    except (ValueError, RecursionError) as e:
        # ValueError also covers integers too long to convert; RecursionError, nesting.
        raise DamagedFile(f"not JSON: {e}") from e
    doc = from_json(key, obj)
    owner = doc.group_id if isinstance(doc, GroupBook) else doc.user_id
    expected = key.tracking_user_id if isinstance(doc, TrackList) else key.chat_id
    if owner != expected:
        raise DamagedFile(f"belongs to {owner}, not {expected}")
    return doc


def from_json(key: FileKey, obj: object) -> Doc:
    o = _obj(obj, "file")
    applied = sorted_applied(_applied(a) for a in _list(o, "applied_updates", optional=True))
    if key.name == GROUP_FILE:
        bounties = tuple(_bounty(b, in_group=True) for b in _list(o, "bounties"))
        return GroupBook(
            group_id=_int(o, "group_id"),
            next_id=_next_id(_int(o, "next_id"), bounties),
            bounties=bounties,
            applied=applied,
            migrated_from=tuple(
                _as_int(v, "migrated_from[]") for v in _list(o, "migrated_from", optional=True)
            ),
            tz=_optional_str(o, "tz"),
            reminders=_optional_bool(o, "reminders", True),
        )
    if key.name == USER_FILE:
        bounties = tuple(_bounty(b, in_group=False) for b in _list(o, "bounties"))
        return UserBook(
            user_id=_int(o, "user_id"),
            next_id=_next_id(_int(o, "next_id"), bounties),
            bounties=bounties,
            applied=applied,
            tz=_optional_str(o, "tz"),
            reminders=_optional_bool(o, "reminders", True),
        )
    return TrackList(
        user_id=_int(o, "user_id"),
        tracked=tuple(_as_int(v, "tracked[]") for v in _list(o, "tracked")),
        applied=applied,
    )


def _next_id(next_id: int, bounties: Iterable[Bounty]) -> int:
    # Ids are never reused: a next_id at or below an existing id is repaired, not trusted.
    return max([next_id, 1, *(b.id + 1 for b in bounties)])


def _bounty(obj: object, *, in_group: bool) -> Bounty:
    o = _obj(obj, "bounty")
    due = _int(o, "due_date_ts", nullable=True)
    all_day = o.get("due_all_day", False)
    if not isinstance(all_day, bool):
        raise DamagedFile("due_all_day is not a boolean")
    status = o.get("status", "open")
    if status not in STATUSES:
        raise DamagedFile(f"status is not one of {', '.join(STATUSES)}")
    claimer = _optional_int(o, "claimed_by_user_id")
    done_at = _optional_int(o, "done_at")
    done_by = _optional_int(o, "done_by_user_id")
    if status == "claimed" and claimer is None:
        status = "open"  # a claim without a claimer (a hand edit) claims nothing
    if status != "done":
        # Only a done bounty remembers who finished it; an open one has no claimer.
        done_at = done_by = None
        if status == "open":
            claimer = None
    names = {
        name: _optional_str(o, name) if in_group else None
        for name in ("created_by_name", "claimed_by_name", "done_by_name")
    }
    return Bounty(
        id=_int(o, "id"),
        text=_str(o, "text"),
        link=_str(o, "link", nullable=True),
        due_date_ts=due,
        created_at=_int(o, "created_at"),
        created_by_user_id=_int(o, "created_by_user_id") if in_group else None,
        due_all_day=all_day and due is not None,
        status=status,
        claimed_by_user_id=claimer,
        done_at=done_at,
        done_by_user_id=done_by,
        created_by_name=names["created_by_name"],
        claimed_by_name=names["claimed_by_name"] if claimer is not None else None,
        done_by_name=names["done_by_name"] if status == "done" else None,
        tracked_by=tuple(
            dict.fromkeys(_as_int(v, "tracked_by[]") for v in _list(o, "tracked_by", optional=True))
        )
        if in_group
        else (),
        reminded=tuple(
            dict.fromkeys(_str_item(v, "reminded[]") for v in _list(o, "reminded", optional=True))
        ),
    )


def _optional_bool(o: Mapping[str, Any], name: str, default: bool) -> bool:
    value = o.get(name, default)
    if not isinstance(value, bool):
        raise DamagedFile(f"{name} is not a boolean")
    return value


def _str_item(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise DamagedFile(f"{name} is not a string")
    return value


def _optional_int(o: Mapping[str, Any], name: str) -> int | None:
    """A field v2 added: absent or null is None."""
    value = o.get(name)
    return None if value is None else _as_int(value, name)


def _optional_str(o: Mapping[str, Any], name: str) -> str | None:
    value = o.get(name)
    return None if value is None else _str(o, name)


def _applied(obj: object) -> Applied:
    o = _obj(obj, "applied update")
    return Applied(update_id=_int(o, "update_id"), at=_int(o, "at"), answer=_str(o, "answer"))


def _obj(obj: object, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise DamagedFile(f"{what} is not a JSON object")
    return obj


def _list(o: Mapping[str, Any], name: str, *, optional: bool = False) -> list[Any]:
    if name not in o and optional:
        return []
    value = o.get(name)
    if not isinstance(value, list):
        raise DamagedFile(f"{name} is missing or not a list")
    return value


def _as_int(value: object, name: str) -> int:
    # bool is an int subclass in Python, but not in the spec.
    if isinstance(value, bool) or not isinstance(value, int):
        raise DamagedFile(f"{name} is not an integer")
    return value


def _int(o: Mapping[str, Any], name: str, *, nullable: bool = False) -> Any:
    if name not in o:
        raise DamagedFile(f"{name} is missing")
    value = o[name]
    if value is None and nullable:
        return None
    return _as_int(value, name)


def _str(o: Mapping[str, Any], name: str, *, nullable: bool = False) -> Any:
    if name not in o:
        raise DamagedFile(f"{name} is missing")
    value = o[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise DamagedFile(f"{name} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate escape: could never be written back
        raise DamagedFile(f"{name} is not valid Unicode") from e
    return value
