"""Updates the bot cannot read are skipped, never fatal.

aiogram reads a getUpdates answer as a whole: one update its types refuse (a legacy
forward whose `hidden_user` origin has no `sender_user_name`, which Telegram does send)
fails the whole answer with ClientDecodeError. Left at that, the offset never moves past
it and the bot meets it again at every fetch, for the 24 hours Telegram keeps it. So such
an answer is fetched once more as plain JSON and read update by update: the readable ones
are served, the others reported as `Unreadable`, to be logged and confirmed past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError

# How many of pydantic's complaints about one update make its log line.
MAX_PROBLEMS = 3


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An entry of a getUpdates answer, or a webhook post, that aiogram cannot read."""

    update_id: int | None
    """None when the entry has no usable update_id (not an object, none, not an integer)."""
    why: str

    @property
    def name(self) -> str:
        if self.update_id is None:
            return "an update without a usable update_id"
        return f"update {self.update_id}"


class UnreadableAnswer(TelegramAPIError):
    """The Bot API's answer is not a list of updates (not JSON, or no list in it). A
    TelegramAPIError, so that botapi retries it with backoff like Telegram's other
    hiccups: a proxy's error page passes."""

    label = "Unreadable getUpdates answer"


class _RawGetUpdates(TelegramMethod[list[Any]]):
    """getUpdates with its result left as JSON. Sent through the bot's own session, so
    it goes where every other call goes (a self-hosted Bot API too), through the same
    middlewares and error handling."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


async def get_updates(
    bot: Bot, method: GetUpdates, *, request_timeout: int
) -> Sequence[Update | Unreadable]:
    """`method`'s updates, in order. When aiogram cannot read the answer, the same
    request once more at once (no long poll), read update by update; UnreadableAnswer
    if that answer is not a list of updates either."""
    try:
        updates: list[Update] | None = await bot(method, request_timeout=request_timeout)
    except ClientDecodeError:
        updates = None  # read again below, one update at a time
    if updates is not None:  # aiogram lets an answer without a result through as None
        return updates
    raw = _RawGetUpdates(
        offset=method.offset,
        limit=method.limit,
        timeout=0,
        allowed_updates=method.allowed_updates,
    )
    try:
        result = await bot(raw, request_timeout=request_timeout)
    except ClientDecodeError as e:
        raise UnreadableAnswer(raw, _undecodable(e)) from e
    if not isinstance(result, list):
        raise UnreadableAnswer(raw, "ok, but no list of updates")
    entries = split(result, bot)
    strays = [e for e in entries if isinstance(e, Unreadable) and e.update_id is None]
    if strays and len(strays) == len(entries):
        # Nothing to confirm past, so fetching again at once would only spin.
        raise UnreadableAnswer(raw, f"no entry has a usable update_id ({strays[0].why})")
    return entries


def split(result: Sequence[object], bot: Bot) -> list[Update | Unreadable]:
    """Each entry of a getUpdates result read on its own, in the answer's order."""
    return [read(entry, bot) for entry in result]


def read(entry: object, bot: Bot) -> Update | Unreadable:
    """`entry` (decoded JSON) as an Update bound to `bot`, or why it is not one."""
    if not isinstance(entry, dict):
        return Unreadable(None, f"a JSON {_json_kind(entry)}, not an object")
    if "update_id" not in entry:
        return Unreadable(None, "no update_id")
    update_id = entry["update_id"]
    # aiogram would take True for 1 and "7" for 7; an id confirmed past must be exact.
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return Unreadable(None, f"update_id is a JSON {_json_kind(update_id)}, not an integer")
    try:
        return Update.model_validate(entry, context={"bot": bot})
    except ValidationError as e:
        return Unreadable(update_id, _describe(e))


def _describe(error: ValidationError) -> str:
    """Where and what pydantic found wrong, without the input (it holds users' text)."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(map(str, problem["loc"]))
        problems.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    text = "; ".join(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        text += f" (and {len(problems) - MAX_PROBLEMS} more)"
    return text


def _undecodable(error: ClientDecodeError) -> str:
    # Not str(error): it carries the whole answer, users' text included.
    if isinstance(error.original, ValidationError):
        return f"not a Bot API answer: {_describe(error.original)}"
    return f"not JSON: {error.original}"


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
