"""What each command does: a request and the chat's files in, new files and an answer out.

Pure: no disk, no aiogram, no clock (`now` comes in). The worker loads the files
`files_needed` names, calls `execute`, writes what `Outcome.changed` holds and sends
`Outcome.messages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Literal, TypeVar

from jigaido import args, render
from jigaido.errors import BadInput
from jigaido.model import (
    Bounty,
    Doc,
    FileKey,
    GroupBook,
    TrackList,
    UserBook,
    find_applied,
    sorted_applied,
    with_applied,
)

ChatKind = Literal["group", "private"]
Book = TypeVar("Book", GroupBook, UserBook)

# The internal request a supergroup migration becomes; never typed by a user.
MIGRATE = ":migrate"

GROUP_COMMANDS = ("bounty", "add", "edit", "delete", "track", "untrack", "my", "start", "help")
PRIVATE_COMMANDS = ("bounty", "add", "edit", "delete", "my", "start", "help")

# The text a changed bounty is quoted with in short answers: enough to recognise it.
EXCERPT = 60


@dataclass(frozen=True, slots=True)
class Request:
    """One command as the router hands it to the chat's worker."""

    update_id: int
    chat_id: int
    kind: ChatKind
    user_id: int | None  # None: sent by a channel or an anonymous admin
    message_id: int
    command: str
    args: str = ""
    thread_id: int | None = None  # the forum topic to answer in
    user_name: str | None = None  # the sender's display name, shown in merged answers


@dataclass(frozen=True, slots=True)
class Outcome:
    messages: tuple[str, ...]
    changed: Mapping[FileKey, Doc] = field(default_factory=dict)


def files_needed(req: Request) -> tuple[FileKey, ...]:
    if req.command == "help":
        return ()
    if req.kind == "private":
        if req.command in PRIVATE_COMMANDS:
            return (FileKey.user(req.chat_id),)
        return ()
    keys = [FileKey.group(req.chat_id)]
    if req.command in ("track", "untrack", "my") and req.user_id is not None:
        keys.append(FileKey.tracking(req.chat_id, req.user_id))
    return tuple(keys)


def execute(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    """Apply `req` to `docs` (None: the file does not exist yet)."""
    for doc in docs.values():
        done = find_applied(doc, req.update_id, now)
        if done is not None:
            return Outcome((done.answer,))
    try:
        outcome = _run(req, docs, now, tz)
    except BadInput as e:
        return Outcome((f"⚠️ {render.escape(str(e))}",))
    if not outcome.changed:
        return outcome
    [answer] = outcome.messages  # a command that changes a file answers in one message
    return Outcome(
        outcome.messages,
        {k: with_applied(d, req.update_id, now, answer) for k, d in outcome.changed.items()},
    )


def _run(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    cmd = req.command
    if cmd == "help":
        return Outcome((help_text(req.kind),))
    private = req.kind == "private"
    if private and cmd in ("track", "untrack"):
        return Outcome((f"/{cmd} works in groups: it tracks a bounty of the group.",))
    if cmd not in (PRIVATE_COMMANDS if private else GROUP_COMMANDS):
        # In groups the router drops unknown commands first; answering keeps this total.
        return Outcome((f"I don't know /{render.escape(cmd)}. Send /help for the commands.",))
    return _personal(req, docs, now, tz) if private else _group(req, docs, now, tz)


def _personal(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    key = FileKey.user(req.chat_id)
    found = docs.get(key)
    book = found if isinstance(found, UserBook) else UserBook(user_id=req.chat_id)
    cmd = req.command
    if cmd == "start":
        greeting = (
            "👋 Hi! I keep your personal bounties here, and a shared list in every group "
            "I am added to. Send /help for the commands."
        )
        return Outcome((greeting,), {} if found is not None else {key: book})
    if cmd in ("bounty", "my"):
        return Outcome(tuple(_list("Your bounties", book.bounties, now, tz)))
    return _change_book(req, key, book, None, now, tz)


def _group(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    key = FileKey.group(req.chat_id)
    found = docs.get(key)
    book = found if isinstance(found, GroupBook) else GroupBook(group_id=req.chat_id)
    cmd = req.command
    if cmd == "start":
        greeting = (
            "👋 Hi! I keep this group's bounties. Add one with /add, see them with /bounty, "
            "and /help lists the rest."
        )
        return Outcome((greeting,), {} if found is not None else {key: book})
    if cmd == "bounty":
        return Outcome(tuple(_list("Bounties of this group", book.bounties, now, tz)))
    user_id = req.user_id
    if user_id is None:
        return Outcome(
            (
                f"/{cmd} needs to know who you are: send it from your own account, "
                "not as the group or a channel.",
            )
        )
    if cmd in ("add", "edit", "delete"):
        return _change_book(req, key, book, user_id, now, tz)
    tkey = FileKey.tracking(req.chat_id, user_id)
    tfound = docs.get(tkey)
    tracks = tfound if isinstance(tfound, TrackList) else TrackList(user_id=user_id)
    if cmd == "my":
        by_id = {b.id: b for b in book.bounties}
        mine = [by_id[i] for i in tracks.tracked if i in by_id]
        if not mine:
            return Outcome(("You track no bounties here yet. Track one with /track &lt;id&gt;.",))
        return Outcome(tuple(_list("Bounties you track", mine, now, tz)))
    bounty_id = args.parse_id(req.args)
    if cmd == "track":
        bounty = _find(book.bounties, bounty_id)
        if bounty_id in tracks.tracked:
            return Outcome((f"You already track <b>#{bounty_id}</b>.",))
        new_tracks = replace(tracks, tracked=(*tracks.tracked, bounty_id))
        return Outcome(
            (f"👀 You now track <b>#{bounty_id}</b>: {_excerpt(bounty.text)}",), {tkey: new_tracks}
        )
    assert cmd == "untrack"
    if bounty_id not in tracks.tracked:
        return Outcome((f"You don't track <b>#{bounty_id}</b>.",))
    new_tracks = replace(tracks, tracked=tuple(i for i in tracks.tracked if i != bounty_id))
    return Outcome((f"You no longer track <b>#{bounty_id}</b>.",), {tkey: new_tracks})


def _change_book(
    req: Request, key: FileKey, book: Book, creator: int | None, now: int, tz: tzinfo
) -> Outcome:
    """/add, /edit or /delete on a group's list (`creator`: the sender, who alone may
    change a bounty they added) or a personal one (None: every bounty is the user's)."""
    if req.command == "add":
        parsed = args.parse_add(req.args, _local(now, tz))
        bounty = Bounty(
            id=book.next_id,
            text=parsed.text,
            link=parsed.link,
            due_date_ts=parsed.due.ts if parsed.due else None,
            created_at=now,
            created_by_user_id=creator,
            due_all_day=parsed.due.all_day if parsed.due else False,
        )
        new = replace(book, next_id=book.next_id + 1, bounties=(*book.bounties, bounty))
        return Outcome((_added(bounty, tz),), {key: new})
    if req.command == "edit":
        edit = args.parse_edit(req.args, _local(now, tz))
        old = _find(book.bounties, edit.id)
        _check_creator(old, creator, "edit")
        edited = _edited(old, edit)
        new = replace(book, bounties=_replaced(book.bounties, edited))
        return Outcome((_edited_answer(old, edited, tz),), {key: new})
    assert req.command == "delete"
    bounty_id = args.parse_id(req.args)
    old = _find(book.bounties, bounty_id)
    _check_creator(old, creator, "delete")
    new = replace(book, bounties=tuple(b for b in book.bounties if b.id != bounty_id))
    return Outcome((f"🗑 Deleted <b>#{old.id}</b>: {_excerpt(old.text)}",), {key: new})


def help_text(kind: ChatKind) -> str:
    if kind == "private":
        intro = "Your personal bounties, kept in this chat:"
        rows = [
            ("/bounty", "list your bounties (also /my)"),
            ("/add &lt;text&gt; [link] [due]", "add one, e.g. /add Renew passport 2026-03-01"),
            ("/edit &lt;id&gt; [text] [link] [due]", "change it, e.g. /edit 3 tomorrow"),
            ("/delete &lt;id&gt;", "delete it"),
        ]
    else:
        intro = "This group's bounties:"
        rows = [
            ("/bounty", "list the group's bounties"),
            (
                "/add &lt;text&gt; [link] [due]",
                "add one, e.g. /add Fix login https://example.com/issues/1 friday",
            ),
            ("/edit &lt;id&gt; [text] [link] [due]", "change your bounty, e.g. /edit 3 2w"),
            ("/delete &lt;id&gt;", "delete your bounty"),
            ("/track &lt;id&gt;", "track a bounty"),
            ("/untrack &lt;id&gt;", "stop tracking it"),
            ("/my", "the bounties you track here"),
        ]
    lines = [intro, *(f"{cmd} — {what}" for cmd, what in rows)]
    lines += [
        "",
        "Due dates: YYYY-MM-DD, YYYY-MM-DD HH:MM, today, tomorrow, a weekday, "
        "or 12h / 3d / 2w from now.",
        "To remove a link or a due date: /edit &lt;id&gt; nolink nodue",
    ]
    return "\n".join(lines)


def migrate_group(
    old_id: int,
    new_id: int,
    old: GroupBook | None,
    new: GroupBook | None,
    old_tracks: Mapping[int, TrackList],
    new_tracks: Mapping[int, TrackList],
) -> tuple[GroupBook, dict[int, TrackList]]:
    """The old group's bounties under the new id. Bounties already filed under the new
    id (commands that raced the migration) follow with fresh ids, so nothing is split."""
    base = old if old is not None else GroupBook(group_id=new_id)
    next_id = base.next_id
    renumbered: dict[int, int] = {}
    extra: list[Bounty] = []
    for b in new.bounties if new is not None else ():
        renumbered[b.id] = next_id
        extra.append(replace(b, id=next_id))
        next_id += 1
    merged = GroupBook(
        group_id=new_id,
        next_id=next_id,
        bounties=(*base.bounties, *extra),
        applied=sorted_applied((*base.applied, *(new.applied if new is not None else ()))),
        migrated_from=tuple(
            dict.fromkeys([*base.migrated_from, *(new.migrated_from if new else ()), old_id])
        ),
    )
    tracks: dict[int, TrackList] = {}
    for user_id in sorted({*old_tracks, *new_tracks}):
        old_list, new_list = old_tracks.get(user_id), new_tracks.get(user_id)
        ids = list(old_list.tracked) if old_list is not None else []
        if new_list is not None:
            # A raced bounty deleted before the move has no new number; its id must not
            # fall onto the old group's bounty that happens to share it.
            ids += [renumbered[i] for i in new_list.tracked if i in renumbered]
        # The dedupe records move too, so a redelivered /track is not applied again.
        applied = sorted_applied(
            (*(old_list.applied if old_list else ()), *(new_list.applied if new_list else ()))
        )
        tracks[user_id] = TrackList(user_id, tuple(dict.fromkeys(ids)), applied)
    return merged, tracks


def _local(now: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(now, tz)


def _list(
    title: str, bounties: tuple[Bounty, ...] | list[Bounty], now: int, tz: tzinfo
) -> list[str]:
    empty = "No bounties yet. Add one with /add &lt;text&gt; [link] [due]."
    return render.render_list(title, bounties, now, tz, empty=empty)


def _find(bounties: tuple[Bounty, ...], bounty_id: int) -> Bounty:
    for b in bounties:
        if b.id == bounty_id:
            return b
    raise BadInput(f"There is no bounty #{bounty_id} here. Send /bounty to see the list.")


def _check_creator(bounty: Bounty, user_id: int | None, verb: str) -> None:
    if user_id is not None and bounty.created_by_user_id != user_id:
        raise BadInput(f"Only the person who added bounty #{bounty.id} can {verb} it.")


def _replaced(bounties: tuple[Bounty, ...], new: Bounty) -> tuple[Bounty, ...]:
    return tuple(new if b.id == new.id else b for b in bounties)


def _edited(old: Bounty, edit: args.EditArgs) -> Bounty:
    new = old
    if edit.text is not None:
        new = replace(new, text=edit.text)
    if edit.clear_link:
        new = replace(new, link=None)
    elif edit.link is not None:
        new = replace(new, link=edit.link)
    if edit.clear_due:
        new = replace(new, due_date_ts=None, due_all_day=False)
    elif edit.due is not None:
        new = replace(new, due_date_ts=edit.due.ts, due_all_day=edit.due.all_day)
    return new


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > EXCERPT:
        flat = flat[: EXCERPT - 1] + "…"
    return render.escape(flat)


def _added(b: Bounty, tz: tzinfo) -> str:
    parts = [f"✅ Added <b>#{b.id}</b>: {_excerpt(b.text)}"]
    if b.due_date_ts is not None:
        parts.append(f"📅 due {render.format_due(b.due_date_ts, b.due_all_day, tz)}")
    if b.link is not None:
        parts.append("🔗 with link")
    return "\n".join(parts)


def _edited_answer(old: Bounty, new: Bounty, tz: tzinfo) -> str:
    changes = []
    if new.text != old.text:
        changes.append(f"text: {_excerpt(new.text)}")
    if new.link != old.link:
        changes.append("link removed" if new.link is None else "link changed")
    if (new.due_date_ts, new.due_all_day) != (old.due_date_ts, old.due_all_day):
        changes.append(
            "due date removed"
            if new.due_date_ts is None
            else f"due {render.format_due(new.due_date_ts, new.due_all_day, tz)}"
        )
    summary = "; ".join(changes) if changes else "nothing changed"
    return f"✏️ Updated <b>#{new.id}</b>: {summary}"


__all__ = [
    "GROUP_COMMANDS",
    "MIGRATE",
    "PRIVATE_COMMANDS",
    "Outcome",
    "Request",
    "execute",
    "files_needed",
    "help_text",
    "migrate_group",
]
