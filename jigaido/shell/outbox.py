"""Sending answers: every message goes through here, within Telegram's limits, retried
when Telegram or the network asks for it, never dropped: only Telegram's refusal for
good (the bot blocked, a bad request) ends an answer unsent.

Telegram takes about 30 messages a second from a bot, 20 a minute into one group and
about one a second into one private chat, and answers `429 Too Many Requests` beyond
that. The outbox keeps each limit as a sliding window over the sends it has made (at
most N in *any* stretch of that length, not a leaky bucket that lets a burst through),
so it waits before Telegram has to say so. A chat waits for its own windows, holding
up no other chat; all chats queue, in order, for the overall one.

A chat's answers go out in the order they were posted. While its whole backlog fits
its windows (for a group: with 8 of its 20 sends a minute to spare), each answer is a
message of its own, replying to its command. Past that the pending answers are merged
into as few messages as fit 4,096 characters, each answer under a line naming the
command and the user it answers; identical answers (fifty people sending /bounty) are
said once, naming everyone who asked. A merged message replies to the oldest command
it answers, and the next one waits a second so it gathers what comes meanwhile. An
answer counts as delivered only once the message carrying it was sent.

A message may carry buttons (a card, a paged list). A merged message cannot: a card
merged with other answers goes without its buttons (`/bounty <id>` shows them again),
and a paged list goes as every page (`Reply.merged`), as lists went before pages. An
edit of a message (a press's card or page) counts in its chat's windows like a message
and waits its turn, but is never merged; a newer edit of the same message replaces one
not yet sent, so a burst of presses on one card costs one edit. A toast (the answer to
a press, shown to the presser alone) goes to no chat: it waits for no window and
counts in none, since Telegram wants it within seconds of the press.

While a chat's next answer waits for that chat's windows more than TYPING_AFTER
seconds (a group that spent its minute), the chat is shown "typing" (sendChatAction),
again every TYPING_EVERY seconds while it still waits: Telegram shows it for 5 s or until
the bot's next message. A chat action is not a message: Telegram's limits are stated for
messages, and it is meant to be repeated while the bot works, so it counts in no window
and can never hold an answer back. Because those limits are not all published, it is
kept well inside them anyway: one per chat per TYPING_EVERY seconds at most, only while
the bot's overall second has half its budget to spare (messages and chat actions
together), never in a chat Telegram asked to wait (a 429) or that the network cannot
reach, never retried; a failed one is dropped, and a 429 for one stops them all for the
time it names.

Nothing is kept per chat once it has nothing to send and its windows have emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from jigaido.core.buttons import Keyboard
from jigaido.core.commands import GREET, MIGRATE, PRESS
from jigaido.core.errors import ChatMoved, RetryLater, Undeliverable
from jigaido.core.render import MESSAGE_LIMIT, escape, split_messages, visible_length

log = logging.getLogger(__name__)

# A transient network failure is retried for as long as the bot runs, backing off up to
# MAX_BACKOFF; from this many failures in a row on, each one is logged as an error. (An
# answer given up would let its update be confirmed unanswered; one still unsent at a
# stop is held and sent after the restart, see held.py.) A 429 is always retried after
# the wait Telegram names.
NETWORK_ATTEMPTS = 12
MAX_BACKOFF = 30.0
# How often chats with nothing to send and empty windows are forgotten.
PRUNE_SECONDS = 5.0
# How long a toast is retried (network errors, a 429): Telegram drops a press's query
# about 15 s after the press, and a toast after that is refused anyway.
TOAST_SECONDS = 10.0
# "typing" in a chat whose answer will wait longer than TYPING_AFTER, every TYPING_EVERY
# while it waits (Telegram shows the action for 5 s, or until the bot's next message).
TYPING_AFTER = 3.0
TYPING_EVERY = 5.0

_SEP = "\n\n"  # between the answers of a merged message, as split_messages joins them


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` messages in any `seconds`."""

    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """One chat's rates, and when its answers are merged."""

    rates: tuple[Rate, ...] = ()
    # Answers go out one by one while the chat's whole backlog could go out within
    # `horizon` seconds and still leave `reserve` sends of its windows unused; past
    # that they are merged. None: never merge.
    horizon: float | None = None
    reserve: int = 0
    # After a merged message the chat waits this long, so the next one gathers more.
    merged_gap: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The rates the outbox keeps; the default keeps none and never merges."""

    overall: tuple[Rate, ...] = ()
    group: ChatLimits = ChatLimits()  # each group (negative chat id)
    private: ChatLimits = ChatLimits()  # each private chat
    # Past this, every chat merges what it owes when its turn comes: when all chats'
    # messages, as they stand, could not go out within `overall_horizon` seconds under
    # the overall rates. None: only each chat's own limits decide.
    overall_horizon: float | None = None


# Telegram's limits. A group may take a short burst of single answers, but never its
# last 8 sends of the minute: those are kept for merged messages, at most one a second,
# so that a burst is answered within seconds instead of waiting for the minute to pass.
# A private chat that owes more than one answer a second gets them merged. And when
# the answers owed everywhere would take more than a second at 30 a second, each chat
# merges what it owes when its turn comes (chats take turns: a busy group cannot starve
# the others of the overall budget).
TELEGRAM = Limits(
    overall=(Rate(30, 1.0),),
    group=ChatLimits((Rate(20, 60.0),), horizon=2.0, reserve=8, merged_gap=1.0),
    private=ChatLimits((Rate(1, 1.0),), horizon=0.5),
    overall_horizon=1.0,
)
UNLIMITED = Limits()


@dataclass(frozen=True, slots=True)
class Reply:
    chat_id: int
    texts: tuple[str, ...]
    reply_to: int | None = None  # the command's message, in groups
    thread_id: int | None = None  # the forum topic the command came from
    command: str = ""  # the command answered, named when answers are merged
    user_name: str | None = None  # who sent it (groups), named when answers are merged
    keyboard: Keyboard = ()  # buttons under the last of `texts`, when it goes unmerged
    merged: tuple[str, ...] | None = None  # `texts` in a merged message (None: the same)
    # An edit of this message of the chat (the bot's): `texts` is its new text, or ()
    # to change only its buttons to `keyboard`.
    edit_of: int | None = None

    @property
    def parts(self) -> int:
        """The messages it takes to send (an edit is one, even of the buttons alone)."""
        return 1 if self.edit_of is not None else len(self.texts)


# chat_id, HTML text, message to reply to, forum topic. Raises RetryLater, ChatMoved
# or Undeliverable; the face translates aiogram's exceptions into these.
SendFunc = Callable[[int, str, int | None, int | None], Awaitable[None]]

# The `command` of a Reply that carries reminders (answers no one's command).
REMINDERS = ":reminders"


class Buttons(Protocol):
    """What the outbox needs from the face for buttons, with SendFunc's errors. An edit
    that changes nothing ("message is not modified") is a success."""

    async def send(
        self,
        chat_id: int,
        text: str,
        reply_to: int | None,
        thread_id: int | None,
        keyboard: Keyboard,
    ) -> None:
        """sendMessage with an inline keyboard."""

    async def edit(
        self, chat_id: int, message_id: int, text: str | None, keyboard: Keyboard
    ) -> None:
        """editMessageText (or, for text None, editMessageReplyMarkup); () removes the buttons."""

    async def toast(self, query_id: str, text: str) -> None:
        """answerCallbackQuery; an empty text shows nothing, it only ends the spinner."""


@runtime_checkable
class Typing(Protocol):
    """What the outbox needs from the face to show a chat that an answer is coming, with
    SendFunc's errors. An outbox whose `buttons` have no `typing` shows none."""

    async def typing(self, chat_id: int, thread_id: int | None) -> None:
        """sendChatAction "typing", in the forum topic `thread_id`."""


class Outbox:
    """The one way answers leave the bot. `Outbox(send)` keeps no limits and never
    merges (what tests of other parts use); the bot runs `Outbox.for_telegram(send)`.
    Without `buttons`, messages go without their buttons, and edits and toasts are
    dropped as done."""

    def __init__(
        self,
        send: SendFunc,
        *,
        buttons: Buttons | None = None,
        limits: Limits = UNLIMITED,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        prune_seconds: float = PRUNE_SECONDS,
    ) -> None:
        self._send = send
        self._buttons = buttons
        self._typing = buttons if isinstance(buttons, Typing) else None
        self._typed = _Window(limits.overall)  # chat actions, beside the messages' window
        self._typing_paused_until = -math.inf  # after a 429 for a chat action
        self._typing_tasks: set[asyncio.Task[None]] = set()
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._overall = _Window(limits.overall)
        self._turns = _Turns()  # chats take overall slots in turn, oldest answer first
        self._paused_until = -math.inf  # every chat waits: a flood not scoped to one chat
        self._last_flood: tuple[int, float] | None = None  # (chat, paused until)
        self._chats: dict[int, _Chat] = {}
        self._owed = 0  # messages all chats' backlogs hold, as they stand
        self._prune_seconds = prune_seconds  # on the event loop's clock, not `clock`
        self._pruning: asyncio.TimerHandle | None = None
        self.sent = 0  # messages sent
        self.failed = 0  # answers given up
        self.merged = 0  # answers that went out merged with others
        self.floods = 0  # 429s received
        self.edits = 0  # edits sent
        self.toasts = 0  # toasts sent
        self.typings = 0  # chat actions sent

    @classmethod
    def for_telegram(cls, send: SendFunc, buttons: Buttons | None = None) -> Outbox:
        """An outbox that keeps Telegram's limits and merges bursts."""
        return cls(send, buttons=buttons, limits=TELEGRAM)

    @property
    def chats(self) -> int:
        """Chats the outbox holds state for: something to send, or recent sends."""
        return len(self._chats)

    def post(self, reply: Reply) -> Ticket:
        """Put `reply` at the end of its chat's backlog now, so that a burst's answers
        can be merged while the first ones wait; pass what this returns to `deliver`."""
        chat = self._chat(reply.chat_id)
        ticket = Ticket(chat, reply, self._clock())
        if reply.edit_of is not None and self._buttons is None:
            ticket.outcome = True  # nowhere to edit: a stand-in outbox of a test
            return ticket
        if reply.edit_of is not None:
            self._supersede(chat, ticket)
        chat.backlog.append(ticket)
        self._count(chat, reply.parts)
        return ticket

    def _supersede(self, chat: _Chat, ticket: Ticket) -> None:
        """An edit not yet sent of the same message is replaced by `ticket`, which
        settles it too: only the newest content of a message matters."""
        for i, old in enumerate(chat.backlog):
            if old.reply.edit_of == ticket.reply.edit_of and not old.sending:
                del chat.backlog[i]
                self._count(chat, -old.reply.parts)
                ticket.superseded = (*old.superseded, old)
                return

    async def toast(
        self, query_id: str | None, text: str, *, within: float = TOAST_SECONDS
    ) -> bool:
        """Answer a press's callback query now, in no chat's turn: True once Telegram
        took it; False when it refused it (the query is too old) or `within` seconds of
        retries did not get it there."""
        if self._buttons is None or query_id is None:
            return False
        give_up = self._clock() + within
        failures = 0
        while True:
            try:
                await self._buttons.toast(query_id, text)
            except Undeliverable as e:
                log.info("a press's answer was refused: %s", e)
                return False
            except ChatMoved:
                return False
            except RetryLater as e:
                failures += 1
                wait = e.seconds if e.is_flood else min(MAX_BACKOFF, 0.5 * 2**failures)
                if self._clock() + wait > give_up:
                    log.info("a press's answer not sent in time (%s); its spinner ends alone", e)
                    return False
                await self._sleep(wait)
            else:
                self.toasts += 1
                return True

    async def deliver(self, reply: Reply | Ticket) -> bool:
        """Send `reply`, after everything its chat posted before it; True once it is out
        (alone or merged), False if Telegram refused it for good or the network stayed
        down. A reply that was not posted is posted first."""
        ticket = reply if isinstance(reply, Ticket) else self.post(reply)
        chat = ticket.chat
        async with chat.lock:
            while ticket.outcome is None:
                await self._send_next(chat)
        return ticket.outcome

    def recent_sends(self) -> dict[int, list[float]]:
        """Each chat's sends that still count in its windows, as how many seconds ago:
        what a restart must not forget, or the new process would send into a group that
        had its 20 messages this minute."""
        now = self._clock()
        recent: dict[int, list[float]] = {}
        for chat_id, chat in self._chats.items():
            ages = [now - t for t in chat.window.done if t > now - chat.window.span]
            if ages:
                recent[chat_id] = ages
        return recent

    def restore_sends(self, recent: Mapping[int, Iterable[float]]) -> None:
        """Count the sends of the last run (seconds ago, as `recent_sends` gives them)
        in the chats' windows, as if this outbox had made them."""
        now = self._clock()
        for chat_id, ages in recent.items():
            chat = self._chat(chat_id)
            window = chat.window
            done = sorted(now - a for a in ages if 0 <= a < window.span)
            window.done = sorted([*window.done, *done])[-window.keep :] if window.keep else []

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            limits = self._limits.group if chat_id < 0 else self._limits.private
            chat = self._chats[chat_id] = _Chat(chat_id, limits)
            self._schedule_prune()
        return chat

    def prune(self) -> None:
        """Forget every chat with nothing to send whose windows have emptied."""
        self._pruning = None
        now = self._clock()
        idle = [chat_id for chat_id, chat in self._chats.items() if chat.idle(now)]
        for chat_id in idle:
            del self._chats[chat_id]
        self._schedule_prune()

    def _schedule_prune(self) -> None:
        if self._chats and self._pruning is None:
            loop = asyncio.get_running_loop()
            self._pruning = loop.call_later(self._prune_seconds, self.prune)

    def _count(self, chat: _Chat, parts: int) -> None:
        chat.parts += parts
        self._owed += parts

    async def _send_next(self, chat: _Chat) -> None:
        """Send the next message of `chat`'s backlog, once its windows allow (or, for a
        lone answer held to gather others, do nothing yet)."""
        await self._wait(chat.window, lambda: chat.paused_until, chat)
        async with self._turns.turn(chat.backlog[0].posted_at):
            await self._wait(self._overall, lambda: self._paused_until)
            now = self._clock()
            if chat.paused_until > now:
                return  # paused while it queued for its turn (a 429)
            ticket = self._next_ticket(chat, now)
            if ticket is None:
                return  # held back to gather: chat.paused_until says until when
            chat.window.in_flight += 1
            self._overall.in_flight += 1
            ticket.sending = True
        error: RetryLater | ChatMoved | Undeliverable | None = None
        try:
            await self._transmit(chat, ticket)
        except (RetryLater, ChatMoved, Undeliverable) as e:
            error = e
        except Exception:
            self._settle(chat, ok=False)
            raise
        finally:
            ticket.sending = False
            end = self._clock()
            chat.window.finish(end)
            self._overall.finish(end)
        if error is None:
            self._sent(chat, ticket, end)
        else:
            self._failed_once(chat, error, end)

    async def _transmit(self, chat: _Chat, ticket: Ticket) -> None:
        """The Bot API call for `ticket`'s next message: an edit, a message with its
        buttons (on its last part), or a plain one."""
        reply = ticket.reply
        text = reply.texts[ticket.sent_parts] if reply.texts else None
        last = ticket.sent_parts >= len(reply.texts) - 1
        keyboard = reply.keyboard if last and ticket.covers is None else ()
        if reply.edit_of is not None:
            assert self._buttons is not None  # post() settles edits without them
            await self._buttons.edit(chat.send_to, reply.edit_of, text, keyboard)
            self.edits += 1
            return
        assert text is not None
        reply_to = None if chat.send_to != chat.chat_id else reply.reply_to
        if keyboard and self._buttons is not None:
            await self._buttons.send(chat.send_to, text, reply_to, reply.thread_id, keyboard)
        else:
            await self._send(chat.send_to, text, reply_to, reply.thread_id)

    async def _wait(
        self, window: _Window, paused_until: Callable[[], float], chat: _Chat | None = None
    ) -> None:
        """Until `window` lets one more send through and `paused_until` has passed;
        showing `chat` "typing" meanwhile, when it waits long."""
        while True:
            now = self._clock()
            at = max(window.next_free(now), paused_until())
            if at <= now:
                return
            wake = at if chat is None or self._typing is None else self._type(chat, now, at)
            await self._sleep(wake - now)

    def _type(self, chat: _Chat, now: float, until: float) -> float:
        """Show `chat` "typing" now if its head answer waits until `until`, long enough,
        and the limits allow; when to look again (`until`, or sooner to type again)."""
        if chat.backlog[0].reply.edit_of is not None:
            return until  # an edit brings no new message to end the typing
        if chat.quiet_until > now or self._paused_until > now:
            return until  # Telegram asked to wait, or the network is down
        again = chat.typed_at + TYPING_EVERY
        if chat.typing:
            again = max(again, now + 1.0)  # the last one is still on its way
        elif again <= now:
            if until - now <= TYPING_AFTER:
                return until
            if self._typing_paused_until > now or not self._spare(now):
                again = now + 1.0  # no room now: look again in a second
            else:
                self._start_typing(chat, now)
                again = now + TYPING_EVERY
        # Wake for the next one only if the answer will still wait long by then.
        return again if until - again > TYPING_AFTER else until

    def _spare(self, now: float) -> bool:
        """Does the bot's overall window have half its budget to spare, counting the
        chat actions sent beside the messages?"""
        if not self._limits.overall:
            return True
        count = max(self._limits.overall, key=lambda r: r.seconds).count
        used = 2 * count - self._overall.left(now) - self._typed.left(now)
        return used < count // 2

    def _start_typing(self, chat: _Chat, now: float) -> None:
        assert self._typing is not None
        chat.typed_at = now
        chat.typing = True
        self._typed.in_flight += 1
        task = asyncio.create_task(
            self._send_typing(self._typing, chat, chat.backlog[0].reply.thread_id),
            name=f"typing:{chat.chat_id}",
        )
        self._typing_tasks.add(task)
        task.add_done_callback(self._typing_tasks.discard)

    async def _send_typing(self, typing: Typing, chat: _Chat, thread_id: int | None) -> None:
        """One chat action, not awaited by the chat's answers; never retried."""
        try:
            await typing.typing(chat.send_to, thread_id)
        except RetryLater as e:
            if e.is_flood:
                self._typing_paused_until = self._clock() + e.seconds
                log.warning("429 for a chat action: none sent for %g s", e.seconds)
            else:
                log.debug("chat %s: typing not shown: %s", chat.chat_id, e)
        except (ChatMoved, Undeliverable) as e:
            log.debug("chat %s: typing not shown: %s", chat.chat_id, e)
        except Exception:
            log.exception("chat %s: typing failed", chat.chat_id)  # never the answers' loss
        else:
            self.typings += 1
        finally:
            chat.typing = False
            self._typed.finish(self._clock())

    def _next_ticket(self, chat: _Chat, now: float) -> Ticket | None:
        """The backlog's head; or, when the chat (or the bot as a whole) would fall
        behind, a merge of it with the answers behind it, which then takes its place;
        or None, to hold a lone answer back a while so that it goes out with others."""
        head = chat.backlog[0]
        if chat.limits.horizon is None or head.sent_parts or head.covers is not None:
            return head
        if head.reply.edit_of is not None:
            return head  # an edit is never merged, and nothing gathers behind it
        behind = self._behind(chat, now)
        if behind is None:
            chat.lone_since = None
            return head
        merged = _merge(chat)
        if merged is None:
            return self._lone(chat, head, now) if behind == "chat" else head
        chat.lone_since = None
        assert merged.covers is not None
        self._count(chat, len(merged.reply.texts) - sum(len(t.reply.texts) for t in merged.covers))
        log.info(
            "chat %s: %d answers merged into %d message(s) to keep Telegram's limits",
            chat.chat_id,
            len(merged.covers),
            len(merged.reply.texts),
        )
        return merged

    def _behind(self, chat: _Chat, now: float) -> str | None:
        """Would sending the backlog one answer a message fall behind the chat's own
        windows (keeping its reserve), "chat", or the bot's overall budget, "overall"?"""
        limits = chat.limits
        assert limits.horizon is not None
        wanted = chat.parts + limits.reserve
        if wanted > chat.window.capacity(now, limits.horizon, wanted):
            return "chat"
        return "overall" if self._pressed(now) else None

    def _pressed(self, now: float) -> bool:
        """Could all the messages owed, as they stand, not go out within the overall
        horizon? Then every chat merges what it owes when its turn comes."""
        horizon = self._limits.overall_horizon
        return horizon is not None and self._owed > self._overall.capacity(now, horizon, self._owed)

    def _lone(self, chat: _Chat, head: Ticket, now: float) -> Ticket | None:
        """A lone answer while the chat's own window runs low. Sent at once, each such
        answer would spend the sends kept for merging, and a chat with a steady trickle
        of commands would spend its minute in seconds and then wait for it to pass. So
        once half its reserve is spent, it first waits its share of what is left (the
        time until the window's oldest send stops counting, over the sends left),
        gathering what comes meanwhile; then it goes, alone or not."""
        if chat.lone_since is not None:
            chat.lone_since = None  # held once already
            return head
        if chat.window.left(now) > chat.limits.reserve // 2:
            return head  # half the reserve is still there: a busy minute, not a trickle
        share = chat.window.share(now)
        if share <= chat.limits.merged_gap:
            return head
        chat.lone_since = now
        chat.paused_until = max(chat.paused_until, now + share)
        return None

    def _sent(self, chat: _Chat, ticket: Ticket, now: float) -> None:
        self.sent += 1
        chat.failures = 0
        ticket.sent_parts += 1
        self._count(chat, -1)
        if ticket.sent_parts >= ticket.reply.parts:
            if ticket.covers is not None:
                self.merged += len(ticket.covers)
                chat.paused_until = max(chat.paused_until, now + chat.limits.merged_gap)
            self._settle(chat, ok=True)

    def _failed_once(
        self, chat: _Chat, error: RetryLater | ChatMoved | Undeliverable, now: float
    ) -> None:
        if isinstance(error, ChatMoved):
            log.info("chat %s: moved to %s, sending there", chat.chat_id, error.new_chat_id)
            chat.send_to = error.new_chat_id
        elif isinstance(error, Undeliverable):
            # A user who blocked the bot is an everyday event; a bad request is our bug.
            level = logging.INFO if error.shut_out else logging.ERROR
            log.log(level, "chat %s: Telegram refused the answer: %s", chat.chat_id, error)
            self._settle(chat, ok=False)
        elif error.is_flood:
            self.floods += 1
            until = now + error.seconds
            chat.paused_until = max(chat.paused_until, until)
            last = self._last_flood
            if last is not None and last[0] != chat.chat_id and last[1] > now:
                # A second chat is told to wait while another still waits: the bot as
                # a whole is over its limit, so every chat pauses.
                self._paused_until = max(self._paused_until, until)
                log.warning("429 in several chats: all sending paused for %g s", error.seconds)
            else:
                log.warning("chat %s: 429, paused for %g s", chat.chat_id, error.seconds)
            self._last_flood = (chat.chat_id, until)
            chat.quiet_until = max(chat.quiet_until, until)
        else:
            chat.failures += 1
            backoff = min(MAX_BACKOFF, 0.5 * 2**chat.failures)
            # The network's weather at first; past NETWORK_ATTEMPTS, something to fix.
            level = logging.INFO if chat.failures < NETWORK_ATTEMPTS else logging.ERROR
            log.log(
                level,
                "chat %s: answer not sent (%d tries): %s; next try in %g s",
                chat.chat_id,
                chat.failures,
                error,
                backoff,
            )
            chat.paused_until = max(chat.paused_until, now + backoff)
            chat.quiet_until = max(chat.quiet_until, now + backoff)

    def _settle(self, chat: _Chat, *, ok: bool) -> None:
        """The head is done: sent in full, or given up."""
        ticket = chat.backlog.pop(0)
        self._count(chat, -(ticket.reply.parts - ticket.sent_parts))
        answers = ticket.covers if ticket.covers is not None else (ticket,)
        for answered in (*answers, *ticket.superseded):
            answered.outcome = ok
        if not ok:
            self.failed += len(answers)


class Ticket:
    """A posted reply on its way out, or a merged message standing for several."""

    __slots__ = (
        "chat",
        "covers",
        "outcome",
        "posted_at",
        "reply",
        "sending",
        "sent_parts",
        "superseded",
    )

    def __init__(
        self,
        chat: _Chat,
        reply: Reply,
        posted_at: float,
        covers: tuple[Ticket, ...] | None = None,
    ) -> None:
        self.chat = chat
        self.reply = reply
        self.posted_at = posted_at  # the oldest answer it carries, on the outbox's clock
        self.covers = covers  # a merged message: the answers it carries
        self.sent_parts = 0
        self.outcome: bool | None = None
        self.sending = False  # its message is on its way: a newer edit cannot replace it
        self.superseded: tuple[Ticket, ...] = ()  # older edits of its message it replaced


class _Turns:
    """The overall budget's queue: one chat at a time, and when several wait, the one
    whose oldest unsent answer is oldest goes first. Plain first-come order would make
    a chat that just sent wait behind every other before its next message, however long
    its own answers have waited; this order keeps the longest wait short, and it is
    fair: a busy group's newer answers wait behind other chats' older ones."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()  # ties: first come, first served

    @contextlib.asynccontextmanager
    async def turn(self, oldest: float) -> AsyncIterator[None]:
        await self._acquire(oldest)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, oldest: float) -> None:
        if not self._busy:
            self._busy = True
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (oldest, next(self._arrivals), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the turn just as it was cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy = False


class _Chat:
    """One chat's backlog and windows; exists only while either holds something."""

    __slots__ = (
        "backlog",
        "chat_id",
        "failures",
        "limits",
        "lock",
        "lone_since",
        "parts",
        "paused_until",
        "quiet_until",
        "send_to",
        "typed_at",
        "typing",
        "window",
    )

    def __init__(self, chat_id: int, limits: ChatLimits) -> None:
        self.chat_id = chat_id
        self.send_to = chat_id  # the new id once the group became a supergroup
        self.limits = limits
        self.window = _Window(limits.rates)
        # Lists, not deques: a deque costs 600 bytes even empty, and a chat mostly holds
        # one or two answers; thousands of chats may be busy at once.
        self.backlog: list[Ticket] = []
        self.parts = 0  # messages the backlog holds, as it stands
        self.lock = asyncio.Lock()  # one sender at a time, so the backlog goes in order
        self.paused_until = -math.inf  # after a 429, a network failure or a merged message
        self.failures = 0  # network failures in a row
        self.lone_since: float | None = None  # a lone answer held back to gather others
        self.quiet_until = -math.inf  # no chat action: after a 429 or a network failure
        self.typed_at = -math.inf  # the last chat action's start
        self.typing = False  # a chat action on its way

    def idle(self, now: float) -> bool:
        return (
            not self.backlog
            and not self.lock.locked()
            and self.paused_until <= now
            and self.window.empty(now)
            and not self.typing
            and self.typed_at <= now - TYPING_EVERY
        )


class _Window:
    """Sliding windows over past sends: for each rate, at most `count` sends in any
    `seconds`. A send counts from when it finished, so never from before Telegram saw
    it; one still in flight counts as happening now."""

    __slots__ = ("done", "in_flight", "keep", "rates", "span")

    def __init__(self, rates: tuple[Rate, ...]) -> None:
        self.rates = rates
        self.span = max((r.seconds for r in rates), default=0.0)
        # When recent sends finished, oldest first; only the last `count` of them can
        # hold a send back.
        self.done: list[float] = []
        self.keep = max((r.count for r in rates), default=0)
        self.in_flight = 0

    def finish(self, at: float) -> None:
        self.in_flight -= 1
        if self.keep:
            self.done.append(at)
            if len(self.done) > self.keep:
                del self.done[0]

    def empty(self, now: float) -> bool:
        return not self.in_flight and (not self.done or self.done[-1] <= now - self.span)

    def next_free(self, now: float) -> float:
        """The earliest time, from `now` on, at which one more send keeps every rate."""
        return _next_free(self.rates, self.done, self.in_flight, now)

    def left(self, now: float) -> int:
        """Sends the longest window has left now."""
        if not self.rates:
            return 0
        rate = max(self.rates, key=lambda r: r.seconds)
        return rate.count - sum(t > now - rate.seconds for t in self.done) - self.in_flight

    def share(self, now: float) -> float:
        """How long each send left in the window may take, on average, until the
        window's oldest send stops counting: spacing the sends by it never runs the
        window dry."""
        if not self.rates or not self.done:
            return 0.0
        rate = max(self.rates, key=lambda r: r.seconds)
        recent = [t for t in self.done if t > now - rate.seconds]
        left = self.left(now)
        if not recent or left <= 0:
            return 0.0  # nothing to spread, or nothing left: the window itself waits
        return (recent[0] + rate.seconds - now) / left

    def capacity(self, now: float, horizon: float, most: int) -> int:
        """How many sends, up to `most`, could start from `now` to `now + horizon`."""
        done = self.done.copy()
        count, at = 0, now
        while count < most:
            at = _next_free(self.rates, done, self.in_flight, at)
            if at > now + horizon:
                break
            done.append(at)
            count += 1
        return count


# Added to every window's length: Telegram counts on its own clock, and a send exactly
# one window after another is as likely counted inside it as not.
_MARGIN = 0.005


def _next_free(rates: Iterable[Rate], done: list[float], in_flight: int, now: float) -> float:
    at = now
    for rate in rates:
        if in_flight >= rate.count:
            at = max(at, now + rate.seconds + _MARGIN)
            continue
        # The send `count` back, counting those in flight as the latest.
        back = rate.count - in_flight
        if len(done) >= back:
            at = max(at, done[-back] + rate.seconds + _MARGIN)
    return at


def _merge(chat: _Chat) -> Ticket | None:
    """Merge the head with the answers behind it in its topic, as many as one message
    holds (or the head's alone, over several messages if it is that long); the merged
    ticket replaces them at the head (the caller counts the change in messages owed).
    None when there is nothing to merge."""
    head = chat.backlog[0]
    thread = head.reply.thread_id
    same: dict[tuple[str, ...], list[Ticket]] = {}
    for ticket in chat.backlog:
        reply = ticket.reply
        if reply.thread_id == thread and reply.edit_of is None:
            # Without its buttons: a paged list as all its pages, a card as its text.
            texts = reply.merged if reply.merged is not None else reply.texts
            same.setdefault(texts, []).append(ticket)
    if len(same) == 1 and len(next(iter(same.values()))) == 1:
        return None
    blocks: list[str] = []
    covered: list[Ticket] = []
    used = 0
    for texts, tickets in same.items():
        group = [f"{_header(tickets)}\n{texts[0]}" if texts else _header(tickets), *texts[1:]]
        width = sum(map(visible_length, group)) + len(_SEP) * (len(group) - 1 + bool(blocks))
        if blocks and used + width > MESSAGE_LIMIT:
            break
        blocks += group
        covered += tickets
        used += width
        if used > MESSAGE_LIMIT:
            break  # the head's answer alone spans several messages
    if len(covered) == 1:
        return None  # a long answer on its own: merging would only add a line
    merged = Ticket(
        chat,
        Reply(chat.chat_id, tuple(split_messages(blocks)), head.reply.reply_to, thread),
        min(t.posted_at for t in covered),
        covers=tuple(covered),
    )
    gone = {id(t) for t in covered}
    chat.backlog = [merged, *(t for t in chat.backlog if id(t) not in gone)]
    return merged


# What the bot's own requests are called in a merged header (not /:press).
_SAID_BY = {REMINDERS: "reminders", PRESS: "a button", GREET: "a greeting", MIGRATE: "a message"}


def _header(tickets: list[Ticket]) -> str:
    """`↩️ Ann, Bob · /bounty; Cy · /my`: who asked what, above an answer in a merged
    message (in a private chat, just the commands)."""
    said = []
    for command in dict.fromkeys(t.reply.command for t in tickets):
        asking = [t.reply.user_name for t in tickets if t.reply.command == command]
        what = _SAID_BY.get(command) or (f"/{escape(command)}" if command else "a message")
        if any(asking):
            who = ", ".join(f"<b>{escape(n)}</b>" if n else "<i>no name</i>" for n in asking)
            said.append(f"{who} · {what}")
        else:
            said.append(what if len(asking) == 1 else f"{what} ×{len(asking)}")
    return "↩️ " + "; ".join(said)
