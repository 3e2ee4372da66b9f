"""What each command does: a request and the chat's files in, new files and an answer out.

Pure: no disk, no aiogram, no clock (`now` comes in), no network (whether the sender is
an admin of the group comes in the request, asked by the router). The worker loads the
files `files_needed` names, calls `execute`, writes what `Outcome.changed` holds and
sends `Outcome.messages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, tzinfo
from typing import Literal, TypeVar

from jigaido.core import args, buttons, reminders, render
from jigaido.core.errors import BadInput
from jigaido.core.model import (
    GROUP_FILE,
    USER_FILE,
    Applied,
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
# The internal request the bot's being added to a group becomes: a greeting.
GREET = ":greet"
# The internal request the reminders' timer sends a chat's worker: send what is owed.
REMIND = ":remind"
GREETING = (
    "👋 Thanks for adding me! I keep this group's bounties: small tasks anyone can add, "
    "claim and mark done. Three commands to start with:\n"
    "/add &lt;text&gt; [link] [due] — add one, e.g. /add Fix the login page friday\n"
    "/bounty — the list\n"
    "/help — everything else"
)

GROUP_COMMANDS = (
    "bounty", "add", "edit", "delete", "claim", "unclaim", "done", "reopen", "track",
    "untrack", "my", "timezone", "remind", "start", "help",
)  # fmt: skip
PRIVATE_COMMANDS = (
    "bounty", "add", "edit", "delete", "done", "reopen", "my", "timezone", "remind", "start",
    "help",
)  # fmt: skip
# What works only in a group, and says so in a DM.
GROUP_ONLY = ("claim", "unclaim", "track", "untrack")
# What an admin may do to any bounty of their group (and /timezone with a zone).
MODERATED = ("edit", "delete", "done", "reopen", "unclaim")
# What may change the chat's files (and, finding them as it needs them, says so).
CHANGING = (
    "add", "edit", "delete", "claim", "unclaim", "done", "reopen", "track", "untrack",
    "timezone", "remind",
)  # fmt: skip

# The text a changed bounty is quoted with in short answers: enough to recognise it.
EXCERPT = 60
# `/bounty done` looks back this far.
DONE_DAYS = 30

COULD_NOT_CHECK = (
    "I could not check that you are an admin of this group: Telegram did not answer "
    "just now. Nothing changed; please try again in a minute."
)

# The internal request a button press becomes; its args are the button's data.
PRESS = ":press"
# Toasts for a press that can do nothing (SPEC 7: polite, and nothing changes).
NOT_A_BUTTON = "I don't know this button, so I did nothing."
OLD_BUTTON = (
    "This button is from an older version of me and no longer works; nothing changed. "
    "Send /bounty for a fresh list."
)
FOREIGN_BUTTON = "This button belongs to another chat, so nothing changed here."
LIST_TITLES = {"group": "Bounties of this group", "private": "Your bounties"}
NO_BOUNTIES = "No bounties yet. Add one with /add &lt;text&gt; [link] [due]."


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
    # Whether the sender is an admin of the group, as the router found out before the
    # request was queued (see `needs_admin`): None when it did not ask or Telegram could
    # not say. An anonymous admin (writing as the group itself) is one.
    admin: bool | None = None
    # A press (command PRESS): the callback query to answer with a toast; `message_id`
    # is then the pressed message, the one to edit.
    callback_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    messages: tuple[str, ...]
    changed: Mapping[FileKey, Doc] = field(default_factory=dict)
    # Buttons under the last of `messages` (a card, a paged list's first page) ...
    keyboard: buttons.Keyboard = ()
    # ... and what `messages` become when the sender merges them with other answers: a
    # merged message carries no buttons, so a paged list is then all its pages, as
    # messages of their own. None: the same texts, without the buttons.
    merged: tuple[str, ...] | None = None
    # A press's answers: the presser's toast (None: not a press) and what becomes of
    # the pressed message (None: it stays as it is).
    toast: str | None = None
    edit: buttons.Edit | None = None


def needs_admin(req: Request) -> bool:
    """Whether the router should ask Telegram if the sender is an admin before queuing
    `req`: a group action an admin may take on others' bounties, or setting the zone."""
    if req.kind != "group" or req.user_id is None or req.admin is not None:
        return False
    if req.command == PRESS:
        pressed = buttons.decode(req.args)
        return isinstance(pressed, buttons.Press) and pressed.verb in MODERATED
    settings = ("timezone", "remind")
    return req.command in MODERATED or (req.command in settings and bool(req.args.strip()))


def files_needed(req: Request) -> tuple[FileKey, ...]:
    if req.command == PRESS:
        return _press_files(req)
    if req.command in ("help", GREET):
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
    """Apply `req` to `docs` (None: the file does not exist yet). `tz` is the bot's zone,
    for a chat that has not set its own."""
    if req.command == PRESS:
        return _press(req, docs, now, tz)
    records = {k: find_applied(d, req.update_id, now) for k, d in docs.items()}
    done = next((r for r in records.values() if r is not None), None)
    if done is not None and all(r is not None for r in records.values()):
        return Outcome((done.answer,))
    try:
        outcome = _run(req, docs, now, tz)
    except BadInput as e:
        outcome = Outcome((f"⚠️ {render.escape(str(e))}",))
    if done is not None:
        return _finish(req, outcome, records, done, now)
    if not outcome.changed:
        return outcome
    [answer] = outcome.messages  # a command that changes a file answers in one message
    return replace(
        outcome,
        changed={
            k: with_applied(d, req.update_id, now, answer) for k, d in outcome.changed.items()
        },
    )


def _finish(
    req: Request,
    again: Outcome,
    records: Mapping[FileKey, Applied | None],
    done: Applied,
    now: int,
) -> Outcome:
    """An update applied before, but recorded in only some of its files: a crash between
    the writes of a command that changes two (/track: group.json, then the tracking
    file). Run again, it completes the files without the record; what it does to those
    is a set operation, so doing it again there is doing it once. Its answer is the
    first one."""
    missing = {k: d for k, d in again.changed.items() if records.get(k) is None}
    return Outcome(
        (done.answer,),
        {k: with_applied(d, req.update_id, now, done.answer) for k, d in missing.items()},
    )


def _run(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    cmd = req.command
    if cmd == "help":
        return Outcome((help_text(req.kind),))
    if cmd == GREET:
        return Outcome((GREETING,))
    private = req.kind == "private"
    if private and cmd in GROUP_ONLY:
        what = "tracks a bounty" if cmd in ("track", "untrack") else "claims a bounty"
        return Outcome((f"/{cmd} works in groups: it {what} of the group.",))
    if cmd not in (PRIVATE_COMMANDS if private else GROUP_COMMANDS):
        # In groups the router drops unknown commands first; answering keeps this total.
        return Outcome((f"I don't know /{render.escape(cmd)}. Send /help for the commands.",))
    return _personal(req, docs, now, tz) if private else _group(req, docs, now, tz)


@dataclass(frozen=True, slots=True)
class _Sender:
    """Who sent a group command, as far as the rules need to know."""

    user_id: int | None
    name: str | None
    admin: bool | None


def _personal(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    key = FileKey.user(req.chat_id)
    found = docs.get(key)
    book = found if isinstance(found, UserBook) else UserBook(user_id=req.chat_id)
    zone = args.zone(book.tz, tz)
    cmd = req.command
    if cmd == "start":
        greeting = (
            "👋 Hi! I keep your personal bounties here, and a shared list in every group "
            "I am added to. Send /help for the commands."
        )
        return Outcome((greeting,), {} if found is not None else {key: book})
    if cmd == "bounty":
        return _bounty(req, book, now, zone, in_group=False)
    if cmd == "my":
        return _first_page(_all_mine(book), req.chat_id, "mine", None, now, zone)
    if cmd == "timezone":
        return _timezone(req, key, book, tz, now, in_group=False)
    if cmd == "remind":
        return _remind(req, key, book, in_group=False)
    if cmd in ("done", "reopen"):
        owner = _Sender(req.chat_id, None, None)
        return _lifecycle(req, key, book, owner, now, zone, in_group=False)
    return _change_book(req, key, book, None, now, zone)


def _group(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    key = FileKey.group(req.chat_id)
    found = docs.get(key)
    book = found if isinstance(found, GroupBook) else GroupBook(group_id=req.chat_id)
    zone = args.zone(book.tz, tz)
    cmd = req.command
    if cmd == "start":
        greeting = (
            "👋 Hi! I keep this group's bounties. Add one with /add, see them with /bounty, "
            "and /help lists the rest."
        )
        return Outcome((greeting,), {} if found is not None else {key: book})
    if cmd == "bounty":
        return _bounty(req, book, now, zone, in_group=True)
    if cmd == "timezone":
        return _timezone(req, key, book, tz, now, in_group=True)
    if cmd == "remind":
        return _remind(req, key, book, in_group=True)
    # An anonymous admin's "name" is the group's title: no one to credit by name.
    sender = _Sender(req.user_id, req.user_name if req.user_id else None, req.admin)
    # An anonymous admin writes as the group: no person, but an admin all the same.
    if req.user_id is None and not (req.admin and cmd in MODERATED):
        return Outcome(
            (
                f"/{cmd} needs to know who you are: send it from your own account, "
                "not as the group or a channel.",
            )
        )
    if cmd in ("add", "edit", "delete"):
        return _change_book(req, key, book, sender, now, zone)
    if cmd in ("claim", "unclaim", "done", "reopen"):
        return _lifecycle(req, key, book, sender, now, zone, in_group=True)
    assert req.user_id is not None
    return _tracking(req, docs, key, book, req.user_id, now, zone)


def _tracking(
    req: Request,
    docs: Mapping[FileKey, Doc | None],
    key: FileKey,
    book: GroupBook,
    user_id: int,
    now: int,
    zone: tzinfo,
) -> Outcome:
    """/my, /track and /untrack: the user's tracking file, mirrored in group.json's
    `tracked_by` (which the card counts)."""
    tkey = FileKey.tracking(req.chat_id, user_id)
    tfound = docs.get(tkey)
    tracks = tfound if isinstance(tfound, TrackList) else TrackList(user_id=user_id)
    if req.command == "my":
        return _first_page(_tracked(book, tracks), req.chat_id, "mine", user_id, now, zone)
    bounty_id = args.parse_id(req.args)
    if req.command == "track":
        bounty = _find(book.bounties, bounty_id)
        if bounty_id in tracks.tracked:
            return Outcome((f"You already track <b>#{bounty_id}</b>.",))
        new_tracks = replace(tracks, tracked=(*tracks.tracked, bounty_id))
        answer = f"👀 You now track <b>#{bounty_id}</b>: {_excerpt(bounty.text)}"
        if bounty.done:
            answer += " (done)"
    else:
        if bounty_id not in tracks.tracked:
            return Outcome((f"You don't track <b>#{bounty_id}</b>.",))
        new_tracks = replace(tracks, tracked=tuple(i for i in tracks.tracked if i != bounty_id))
        answer = f"You no longer track <b>#{bounty_id}</b>."
    changed: dict[FileKey, Doc] = {tkey: new_tracks}
    synced = _sync_trackers(book, user_id, new_tracks.tracked)
    if synced != book:
        changed[key] = synced
    return Outcome((answer,), changed)


def _sync_trackers(book: GroupBook, user_id: int, tracked: Sequence[int]) -> GroupBook:
    """`book` with `user_id` among the trackers of exactly the bounties it tracks. The
    whole list, not just the one id: a v1 file never recorded its trackers in
    group.json, so each /track or /untrack brings that user's entries up to date."""
    wanted = set(tracked)
    bounties = []
    for b in book.bounties:
        has = user_id in b.tracked_by
        if b.id in wanted and not has:
            b = replace(b, tracked_by=(*b.tracked_by, user_id))
        elif b.id not in wanted and has:
            b = replace(b, tracked_by=tuple(u for u in b.tracked_by if u != user_id))
        bounties.append(b)
    new = tuple(bounties)
    return book if new == book.bounties else replace(book, bounties=new)


def _change_book(
    req: Request, key: FileKey, book: Book, sender: _Sender | None, now: int, tz: tzinfo
) -> Outcome:
    """/add, /edit or /delete on a group's list (`sender`: who may change what they
    added, or any bounty as an admin) or a personal one (None: every bounty is the
    user's)."""
    if req.command == "add":
        parsed = args.parse_add(req.args, _local(now, tz))
        bounty = Bounty(
            id=book.next_id,
            text=parsed.text,
            link=parsed.link,
            due_date_ts=parsed.due.ts if parsed.due else None,
            created_at=now,
            created_by_user_id=sender.user_id if sender else None,
            due_all_day=parsed.due.all_day if parsed.due else False,
            created_by_name=sender.name if sender else None,
        )
        bounty = reminders.skip_passed(bounty, now, tz)
        new = replace(book, next_id=book.next_id + 1, bounties=(*book.bounties, bounty))
        read_from = parsed.due.words if parsed.due else None
        keyboard = buttons.card_keyboard(bounty, req.chat_id, in_group=sender is not None)
        return Outcome((_added(bounty, now, tz, read_from),), {key: new}, keyboard=keyboard)
    if req.command == "edit":
        edit = args.parse_edit(req.args, _local(now, tz))
        old = _find(book.bounties, edit.id)
        _check_may(old, sender, "edit it")
        edited = _edited(old, edit)
        if edit.due is not None:
            edited = reminders.skip_passed(edited, now, tz)
        new = replace(book, bounties=_replaced(book.bounties, edited))
        return Outcome((_edited_answer(old, edited, now, tz),), {key: new})
    assert req.command == "delete"
    bounty_id = args.parse_id(req.args)
    old = _find(book.bounties, bounty_id)
    _check_may(old, sender, "delete it")
    new = replace(book, bounties=tuple(b for b in book.bounties if b.id != bounty_id))
    answer = f"🗑 Deleted <b>#{old.id}</b>: {_excerpt(old.text)}"
    others = [u for u in old.tracked_by if u != req.user_id]
    if others:
        # Named by a mention each, so they are told: it must not just vanish from /my.
        tell = " ".join(f'<a href="tg://user?id={u}">👤</a>' for u in others)
        answer += f"\n👀 It was tracked by {len(others)} of you: {tell}"
    return Outcome((answer,), {key: new})


def _lifecycle(
    req: Request,
    key: FileKey,
    book: Book,
    sender: _Sender,
    now: int,
    tz: tzinfo,
    *,
    in_group: bool,
) -> Outcome:
    """/claim, /unclaim, /done and /reopen. A request for the state a bounty is already
    in is answered plainly; one that contradicts its state is refused, saying what would
    work instead."""
    old = _find(book.bounties, args.parse_id(req.args))
    cmd = req.command
    if cmd == "claim":
        new, answer = _claim(old, sender)
    elif cmd == "unclaim":
        new, answer = _unclaim(old, sender)
    elif cmd == "done":
        new, answer = _done(old, sender, now, in_group=in_group)
    else:
        new, answer = _reopen(old, sender, in_group=in_group)
    if new == old:
        return Outcome((answer,))
    return Outcome((answer,), {key: replace(book, bounties=_replaced(book.bounties, new))})


def _claim(b: Bounty, sender: _Sender) -> tuple[Bounty, str]:
    if b.done:
        raise BadInput(f"Bounty #{b.id} is done. To work on it again, /reopen {b.id} first.")
    if b.status == "claimed":
        if b.claimed_by_user_id == sender.user_id:
            return b, f"You already claimed <b>#{b.id}</b>."
        raise BadInput(
            f"Bounty #{b.id} is already claimed by {_name(b.claimed_by_name, b.claimed_by_user_id)}"
            f" (one claimer at a time). Ask them, or an admin, to /unclaim {b.id} first."
        )
    new = replace(
        b, status="claimed", claimed_by_user_id=sender.user_id, claimed_by_name=sender.name
    )
    who = render.escape(sender.name) if sender.name else "You"
    return new, f"🙋 {who} claimed <b>#{b.id}</b>: {_excerpt(b.text)}"


def _unclaim(b: Bounty, sender: _Sender) -> tuple[Bounty, str]:
    if b.done:
        raise BadInput(
            f"Bounty #{b.id} is done: there is no claim to release. /reopen {b.id} opens it again."
        )
    if b.status != "claimed":
        raise BadInput(f"Bounty #{b.id} is not claimed. To take it, send /claim {b.id}.")
    _check_may(b, sender, "release the claim on it", claimer=True)
    new = replace(b, status="open", claimed_by_user_id=None, claimed_by_name=None)
    claimer = render.person(b.claimed_by_name, b.claimed_by_user_id)
    whose = "your claim" if b.claimed_by_user_id == sender.user_id else f"{claimer}'s claim"
    return new, f"↩️ Released {whose} on <b>#{b.id}</b>: {_excerpt(b.text)}. It is open again."


def _done(b: Bounty, sender: _Sender, now: int, *, in_group: bool) -> tuple[Bounty, str]:
    if b.done:
        return b, f"Bounty <b>#{b.id}</b> is already done."
    if in_group:
        _check_may(b, sender, "mark it done", claimer=True)
    new = replace(
        b,
        status="done",
        done_at=now,
        done_by_user_id=sender.user_id,
        done_by_name=sender.name if in_group else None,
    )
    return new, f"🎉 Done: <b>#{b.id}</b> {_excerpt(b.text)}"


def _reopen(b: Bounty, sender: _Sender, *, in_group: bool) -> tuple[Bounty, str]:
    if not b.done:
        raise BadInput(f"Bounty #{b.id} is not done, so there is nothing to reopen.")
    if in_group:
        _check_may(b, sender, "reopen it", claimer=True)
    # Back to open: a claim from before it was done is released too.
    new = replace(
        b,
        status="open",
        claimed_by_user_id=None,
        claimed_by_name=None,
        done_at=None,
        done_by_user_id=None,
        done_by_name=None,
    )
    hint = f" Anyone can take it with /claim {b.id}." if in_group else ""
    return new, f"🔄 Reopened <b>#{b.id}</b>: {_excerpt(b.text)}.{hint}"


def _check_may(b: Bounty, sender: _Sender | None, what: str, *, claimer: bool = False) -> None:
    """Refuse unless `sender` added `b` (or, with `claimer`, claimed it) or is an admin.
    None: a personal list, where every bounty is the user's."""
    if sender is None:
        return
    if sender.user_id is not None and (
        b.created_by_user_id == sender.user_id
        # A done bounty keeps its claimer: who finished it may reopen it.
        or (claimer and b.claimed_by_user_id == sender.user_id)
    ):
        return
    if sender.admin:
        return
    if sender.admin is None:
        raise BadInput(COULD_NOT_CHECK)
    who = "the person who added it"
    if claimer and b.claimed_by_user_id is not None:
        who += f", {_name(b.claimed_by_name, b.claimed_by_user_id)} who claimed it"
    elif claimer:
        who += ", its claimer"
    raise BadInput(f"Only {who} or an admin of this group can {what} (bounty #{b.id}).")


def _bounty(req: Request, book: Book, now: int, tz: tzinfo, *, in_group: bool) -> Outcome:
    """/bounty: the open ones; /bounty done: the recently done; /bounty <id>: a card."""
    raw = req.args.strip()
    if not raw:
        return _first_page(_open_list(book, req.kind), req.chat_id, "open", None, now, tz)
    if raw.lower() == "done":
        return _first_page(_done_list(book, now), req.chat_id, "done", None, now, tz)
    try:
        bounty_id = args.parse_id(raw)
    except BadInput:
        raise BadInput(
            "Use /bounty for the open bounties, /bounty done for the recently done, "
            "or /bounty <id> (like /bounty 3) for one of them."
        ) from None
    found = _find(book.bounties, bounty_id)
    card = render.bounty_card(found, now, tz, in_group=in_group)
    keyboard = buttons.card_keyboard(found, req.chat_id, in_group=in_group)
    return Outcome(tuple(render.split_messages([card])), keyboard=keyboard)


# --- lists, paged ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listed:
    """A list as a command shows it, and as its page buttons find it again."""

    title: str
    bounties: tuple[Bounty, ...]  # in the order shown
    empty: str  # the whole answer when there are none


def _open_list(book: GroupBook | UserBook, kind: ChatKind) -> _Listed:
    open_ones = [b for b in book.bounties if not b.done]
    empty = NO_BOUNTIES
    if any(b.done for b in book.bounties):
        empty = "No open bounties: everything is done (see /bounty done). Add one with /add."
    return _Listed(LIST_TITLES[kind], tuple(_open_then_done(open_ones)), empty)


def _done_list(book: GroupBook | UserBook, now: int) -> _Listed:
    since = now - DONE_DAYS * 86400
    recent = [b for b in book.bounties if b.done and (b.done_at or 0) >= since]
    recent.sort(key=lambda b: (-(b.done_at or 0), b.id))
    empty = f"Nothing was marked done in the last {DONE_DAYS} days."
    return _Listed(f"Done in the last {DONE_DAYS} days", tuple(recent), empty)


def _all_mine(book: GroupBook | UserBook) -> _Listed:
    """A DM's /my: every personal bounty, the done ones last."""
    return _Listed("Your bounties", tuple(_open_then_done(book.bounties)), NO_BOUNTIES)


def _tracked(book: GroupBook, tracks: Doc | None) -> _Listed:
    """A group's /my: the bounties one user tracks there, the done ones last."""
    by_id = {b.id: b for b in book.bounties}
    ids = tracks.tracked if isinstance(tracks, TrackList) else ()
    mine = [by_id[i] for i in ids if i in by_id]
    empty = "You track no bounties here yet. Track one with /track &lt;id&gt;."
    return _Listed("Bounties you track", tuple(_open_then_done(mine)), empty)


def _first_page(
    listed: _Listed,
    chat_id: int,
    name: buttons.ListName,
    owner: int | None,
    now: int,
    tz: tzinfo,
) -> Outcome:
    """A list as one message: its first page, with ▶ when there are more. Merged with
    other answers (no buttons then) it is every page, as the list was before pages."""
    if not listed.bounties:
        return Outcome((listed.empty,))
    shown = buttons.pages(listed.title, list(listed.bounties), now, tz)
    if len(shown) == 1:
        return Outcome((shown[0],))
    whole = render.render_list(listed.title, listed.bounties, now, tz, empty="", keep_order=True)
    keyboard = buttons.page_keyboard(chat_id, name, 1, len(shown), owner)
    return Outcome((shown[0],), keyboard=keyboard, merged=tuple(whole))


def _page(
    listed: _Listed,
    chat_id: int,
    name: buttons.ListName,
    owner: int | None,
    page: int,
    now: int,
    tz: tzinfo,
) -> buttons.Edit:
    """Page `page` of the list as it is now: a list that changed since its message was
    sent shows the page that is there (the last, if it shrank)."""
    if not listed.bounties:
        return buttons.Edit(listed.empty)
    shown = buttons.pages(listed.title, list(listed.bounties), now, tz)
    if len(shown) == 1:
        return buttons.Edit(shown[0])
    k = buttons.clamp(page, len(shown))
    return buttons.Edit(shown[k - 1], buttons.page_keyboard(chat_id, name, k, len(shown), owner))


# --- presses --------------------------------------------------------------------------


def _press_files(req: Request) -> tuple[FileKey, ...]:
    pressed = buttons.decode(req.args)
    if isinstance(pressed, buttons.Unreadable):
        return ()
    if req.kind == "private":
        return (FileKey.user(req.chat_id),)
    keys = [FileKey.group(req.chat_id)]
    if isinstance(pressed, buttons.Press) and pressed.verb == "track" and req.user_id is not None:
        keys.append(FileKey.tracking(req.chat_id, req.user_id))
    if isinstance(pressed, buttons.Page) and pressed.owner is not None:
        keys.append(FileKey.tracking(req.chat_id, pressed.owner))
    return tuple(keys)


def _press(req: Request, docs: Mapping[FileKey, Doc | None], now: int, tz: tzinfo) -> Outcome:
    """A button pressed. Its data is read, never trusted: data the bot did not make, or
    made for another chat, gets a toast and changes nothing. A card's button is the
    command it names, applied for the presser (their rights, the same dedupe records);
    a page button shows that page of the list as it is now."""
    pressed = buttons.decode(req.args)
    if isinstance(pressed, buttons.Unreadable):
        return Outcome((), toast=OLD_BUTTON if pressed.old else NOT_A_BUTTON)
    private = req.kind == "private"
    key = FileKey.user(req.chat_id) if private else FileKey.group(req.chat_id)
    found = docs.get(key)
    book: GroupBook | UserBook
    if private:
        book = found if isinstance(found, UserBook) else UserBook(user_id=req.chat_id)
    else:
        book = found if isinstance(found, GroupBook) else GroupBook(group_id=req.chat_id)
    # A card sent before the group became a supergroup names the group's old id.
    moved_from = book.migrated_from if isinstance(book, GroupBook) else ()
    if pressed.chat_id != req.chat_id and pressed.chat_id not in moved_from:
        return Outcome((), toast=FOREIGN_BUTTON)
    zone = args.zone(book.tz, tz)
    if isinstance(pressed, buttons.Press):
        return _press_card(req, pressed, docs, book, now, tz, zone)
    if pressed.name == "mine" and (pressed.owner is None) != private:
        return Outcome((), toast=NOT_A_BUTTON)  # a DM's list has no owner, a group's has
    if pressed.name == "open":
        listed = _open_list(book, req.kind)
    elif pressed.name == "done":
        listed = _done_list(book, now)
    elif isinstance(book, GroupBook) and pressed.owner is not None:
        listed = _tracked(book, docs.get(FileKey.tracking(req.chat_id, pressed.owner)))
    else:
        listed = _all_mine(book)
    edit = _page(listed, req.chat_id, pressed.name, pressed.owner, pressed.page, now, zone)
    return Outcome((), toast="", edit=edit)


def _press_card(
    req: Request,
    pressed: buttons.Press,
    docs: Mapping[FileKey, Doc | None],
    book: GroupBook | UserBook,
    now: int,
    tz: tzinfo,
    zone: tzinfo,
) -> Outcome:
    """Claim, Unclaim, Done, Reopen or Track / Untrack on a card, and the card again."""
    in_group = isinstance(book, GroupBook)
    old = next((b for b in book.bounties if b.id == pressed.bounty_id), None)
    if old is None and pressed.bounty_id < book.next_id:
        # Its buttons can do nothing any more: they go, the card's text stays.
        gone = f"Bounty #{pressed.bounty_id} was deleted, so nothing changed."
        return Outcome((), toast=gone, edit=buttons.Edit(None))
    if old is None:
        return Outcome((), toast=f"There is no bounty #{pressed.bounty_id} here; nothing changed.")
    command: str = pressed.verb
    if command == "track":
        # Whichever the presser needs, decided by their tracking file: it is written
        # after group.json, so a redelivery after a crash between them decides the same.
        tracks = docs.get(FileKey.tracking(req.chat_id, req.user_id or 0))
        tracking = isinstance(tracks, TrackList) and old.id in tracks.tracked
        command = "untrack" if tracking else "track"
    done = execute(replace(req, command=command, args=str(old.id)), docs, now, tz)
    after = done.changed.get(FileKey(req.chat_id, GROUP_FILE if in_group else USER_FILE))
    bounties = after.bounties if isinstance(after, GroupBook | UserBook) else book.bounties
    new = next((b for b in bounties if b.id == old.id), old)
    card = buttons.card_text(new, now, zone, in_group=in_group)
    keyboard = buttons.card_keyboard(new, req.chat_id, in_group=in_group)
    return Outcome(
        (),
        done.changed,
        toast=buttons.toast("\n".join(done.messages)),
        edit=buttons.Edit(card, keyboard),
    )


def _timezone(
    req: Request, key: FileKey, book: Book, default: tzinfo, now: int, *, in_group: bool
) -> Outcome:
    """/timezone shows the chat's zone; /timezone <name> sets it (a group's: admins)."""
    whose = "This group's" if in_group else "Your"
    current = args.zone(book.tz, default)
    raw = req.args.strip()
    if not raw:
        setting = "" if book.tz is not None else ", the bot's default"
        how = "Admins change it" if in_group else "Change it"
        return Outcome(
            (
                f"🕒 {whose} time zone is {_zone_now(current, now)}{setting}. Due dates are "
                f"read and shown in it. {how} with /timezone &lt;name&gt;, "
                "e.g. /timezone Europe/Berlin.",
            )
        )
    if in_group:
        _require_admin(
            req,
            "Only an admin of this group can set its time zone. "
            "/timezone alone shows the one in use.",
        )
    name = args.parse_zone(raw)
    if name == book.tz:
        return Outcome((f"{whose} time zone is already {render.escape(name)}.",))
    new_zone = args.zone(name, default)
    bounties = tuple(_same_day(b, current, new_zone) for b in book.bounties)
    new = replace(book, tz=name, bounties=bounties)
    return Outcome(
        (
            f"🕒 {whose} time zone is now {_zone_now(new_zone, now)}. Due dates are read "
            "and shown in it; those without a time keep their day.",
        ),
        {key: new},
    )


def _require_admin(req: Request, refusal: str) -> None:
    """Refuse a group setting to a sender the router did not find an admin (or could
    not ask about)."""
    if req.admin:
        return
    if req.admin is None and req.user_id is not None:
        raise BadInput(COULD_NOT_CHECK)
    raise BadInput(refusal)


def _remind(req: Request, key: FileKey, book: Book, *, in_group: bool) -> Outcome:
    """/remind shows whether the chat gets reminders; /remind on|off (a group's: admins)
    turns them on or off."""
    raw = req.args.strip().lower()
    where = "in this group" if in_group else "here"
    on = (
        f"🔔 Reminders are on {where}: 24 hours before a due date and at it"
        + (", mentioning whoever claimed or tracks the bounty." if in_group else ".")
    )
    off = f"🔕 Reminders are off {where}. /remind on turns them back on."
    if not raw:
        return Outcome((on + " /remind off stops them." if book.reminders else off,))
    if raw not in ("on", "off"):
        raise BadInput("Use /remind on or /remind off (or /remind to see which it is).")
    if in_group:
        _require_admin(
            req,
            "Only an admin of this group can turn its reminders on or off. "
            "/remind alone shows which they are.",
        )
    wanted = raw == "on"
    if wanted == book.reminders:
        return Outcome((on if wanted else off,))
    return Outcome((on if wanted else off,), {key: replace(book, reminders=wanted)})


def _zone_now(zone: tzinfo, now: int) -> str:
    """The zone's name with its clock now: `Europe/Berlin (14:05 now, UTC+01:00)`."""
    local = _local(now, zone)
    offset = local.strftime("%z")
    sign, hours, minutes = offset[:1], offset[1:3], offset[3:]
    name = getattr(zone, "key", None) or str(zone)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    return f"{render.escape(name)} ({clock} now, UTC{sign}{hours}:{minutes})"


def _same_day(b: Bounty, old: tzinfo, new: tzinfo) -> Bounty:
    """An all-day due moved to the same calendar day in the new zone: its time stamp is
    the day's local midnight, which falls on another day elsewhere."""
    if b.due_date_ts is None or not b.due_all_day:
        return b
    try:
        day = datetime.fromtimestamp(b.due_date_ts, old).date()
        if not args.FIRST_DUE_DAY <= day <= args.LAST_DUE_DAY:
            return b  # a hand-edited date: left as it is rather than made worse
        ts = int(datetime.combine(day, time(0), tzinfo=new).timestamp())
    except (OverflowError, ValueError, OSError):
        return b
    return replace(b, due_date_ts=ts)


def help_text(kind: ChatKind) -> str:
    if kind == "private":
        intro = "Your personal bounties, kept in this chat:"
        rows = [
            ("/bounty", "list your open bounties"),
            ("/bounty done", f"the ones done in the last {DONE_DAYS} days"),
            ("/bounty &lt;id&gt;", "one bounty with every detail, e.g. /bounty 3"),
            ("/add &lt;text&gt; [link] [due]", "add one, e.g. /add Renew passport 2026-03-01"),
            ("/edit &lt;id&gt; [text] [link] [due]", "change it, e.g. /edit 3 tomorrow"),
            ("/delete &lt;id&gt;", "delete it"),
            ("/done &lt;id&gt;", "mark it done, e.g. /done 3"),
            ("/reopen &lt;id&gt;", "back to open"),
            ("/my", "all your bounties, the done ones last"),
            ("/timezone [name]", "show or set your time zone, e.g. /timezone Europe/Berlin"),
            ("/remind [on|off]", "reminders before and at due dates (on unless turned off)"),
        ]
    else:
        intro = "This group's bounties:"
        rows = [
            ("/bounty", "list the open bounties"),
            ("/bounty done", f"the ones done in the last {DONE_DAYS} days"),
            ("/bounty &lt;id&gt;", "one bounty with every detail, e.g. /bounty 3"),
            (
                "/add &lt;text&gt; [link] [due]",
                "add one, e.g. /add Fix login https://example.com/issues/1 friday",
            ),
            ("/edit &lt;id&gt; [text] [link] [due]", "change your bounty, e.g. /edit 3 2w"),
            ("/delete &lt;id&gt;", "delete your bounty"),
            ("/claim &lt;id&gt;", "say you are on it, e.g. /claim 3"),
            ("/unclaim &lt;id&gt;", "release the claim"),
            ("/done &lt;id&gt;", "mark it done (whoever added or claimed it)"),
            ("/reopen &lt;id&gt;", "back to open"),
            ("/track &lt;id&gt;", "track a bounty"),
            ("/untrack &lt;id&gt;", "stop tracking it"),
            ("/my", "the bounties you track here"),
            ("/timezone [name]", "show the group's time zone; admins set it, e.g. Europe/Berlin"),
            ("/remind [on|off]", "reminders before and at due dates; admins turn them off"),
        ]
    lines = [intro, *(f"{cmd} — {what}" for cmd, what in rows)]
    if kind == "group":
        lines += ["", "Admins may also edit, delete, finish, reopen and unclaim any bounty."]
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
        # The zone the group chose before the move, else one set in the raced moment.
        tz=base.tz if base.tz is not None else (new.tz if new is not None else None),
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


def _open_then_done(bounties: Sequence[Bounty]) -> list[Bounty]:
    """The open ones by due date, then the done ones, most recently done first."""
    open_ones = sorted((b for b in bounties if not b.done), key=render.sort_key)
    done = sorted((b for b in bounties if b.done), key=lambda b: (-(b.done_at or 0), b.id))
    return [*open_ones, *done]


def _find(bounties: tuple[Bounty, ...], bounty_id: int) -> Bounty:
    for b in bounties:
        if b.id == bounty_id:
            return b
    raise BadInput(f"There is no bounty #{bounty_id} here. Send /bounty to see the list.")


def _name(name: str | None, user_id: int | None) -> str:
    """Someone named in a plain-text refusal (execute escapes it)."""
    if name:
        return name
    return f"user {user_id}" if user_id is not None else "an anonymous admin"


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


def _added(b: Bounty, now: int, tz: tzinfo, read_from: str | None = None) -> str:
    """What /add answers; with the words a due was read from, and how to undo it, so a
    date taken wrongly from the end of a text is seen at once and easily taken back."""
    parts = [f"✅ Added <b>#{b.id}</b>: {_excerpt(b.text)}"]
    if b.due_date_ts is not None:
        due = f"📅 due {render.due_html(b.due_date_ts, b.due_all_day, now, tz, spelled=True)}"
        if read_from:
            due += (
                f" (read from “{render.escape(read_from)}”; not meant as a date? "
                f"/edit {b.id} nodue)"
            )
        parts.append(due)
    if b.link is not None:
        parts.append("🔗 with link")
    return "\n".join(parts)


def _edited_answer(old: Bounty, new: Bounty, now: int, tz: tzinfo) -> str:
    changes = []
    if new.text != old.text:
        changes.append(f"text: {_excerpt(new.text)}")
    if new.link != old.link:
        changes.append("link removed" if new.link is None else "link changed")
    if (new.due_date_ts, new.due_all_day) != (old.due_date_ts, old.due_all_day):
        changes.append(
            "due date removed"
            if new.due_date_ts is None
            else f"due {render.due_html(new.due_date_ts, new.due_all_day, now, tz, spelled=True)}"
        )
    summary = "; ".join(changes) if changes else "nothing changed"
    return f"✏️ Updated <b>#{new.id}</b>: {summary}"


__all__ = [
    "CHANGING",
    "GREET",
    "GROUP_COMMANDS",
    "MIGRATE",
    "MODERATED",
    "PRESS",
    "PRIVATE_COMMANDS",
    "REMIND",
    "Outcome",
    "Request",
    "execute",
    "files_needed",
    "help_text",
    "migrate_group",
    "needs_admin",
]
