"""The outbox: Telegram's limits held under bursts, 429s and network failures retried,
bursts merged (every command and user still named, every answer resolved only once its
message is out), 4,096-character splits, and no state kept for chats that are done.

The send function is the face's boundary, so tests pass one that records and raises
what the face would. Time is virtual: the outbox's clock and sleep are a `VirtualTime`
that moves only when every task is waiting on it, so the tests run in milliseconds and
give the same result every time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pytest

from jigaido.core.buttons import Keyboard
from jigaido.core.commands import GREET, PRESS
from jigaido.core.errors import ChatMoved, RetryLater, Undeliverable
from jigaido.core.render import MESSAGE_LIMIT, visible_length
from jigaido.shell.outbox import (
    NETWORK_ATTEMPTS,
    REMINDERS,
    TELEGRAM,
    TYPING_AFTER,
    TYPING_EVERY,
    ChatLimits,
    Limits,
    Outbox,
    Rate,
    Reply,
)
from tests.limits import most_in_any_window

T = TypeVar("T")
GROUP = -100
SETTLE_ROUNDS = 200  # loop turns that let every runnable task reach its next wait


class VirtualTime:
    """A clock and a sleep: the clock jumps to the earliest sleeper's wake-up once every
    task is blocked, as a discrete-event simulation would."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), self._count, wake))
        await wake

    async def run(self, *work: Awaitable[T]) -> list[T]:
        """Run `work` to the end, moving the clock whenever nothing else can run."""
        tasks = [asyncio.ensure_future(w) for w in work]
        try:
            while not all(t.done() for t in tasks):
                for _ in range(SETTLE_ROUNDS):
                    await asyncio.sleep(0)
                if all(t.done() for t in tasks):
                    break
                assert self._sleepers, "stuck: nothing runs and nothing sleeps"
                when, _, wake = heapq.heappop(self._sleepers)
                self.now = max(self.now, when)
                if not wake.done():
                    wake.set_result(None)
            return [t.result() for t in tasks]
        finally:
            for t in tasks:
                t.cancel()


@dataclass(frozen=True, slots=True)
class Message:
    at: float
    chat: int
    text: str
    reply_to: int | None
    thread: int | None


class Telegram:
    """The send function: records each message with the virtual time it went out, and
    raises the scripted errors first (for every chat, or for the chat named)."""

    def __init__(self, time: VirtualTime, *errors: Exception, only_chat: int | None = None):
        self.time = time
        self.errors = list(errors)
        self.only_chat = only_chat
        self.messages: list[Message] = []
        self.tries: list[tuple[float, int, str]] = []

    async def __call__(
        self, chat: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        self.tries.append((self.time.now, chat, text))
        if self.errors and self.only_chat in (None, chat):
            raise self.errors.pop(0)
        self.messages.append(Message(self.time.now, chat, text, reply_to, thread))

    def to(self, chat: int) -> list[Message]:
        return [m for m in self.messages if m.chat == chat]


def setup(*errors: Exception, limits: Limits = TELEGRAM) -> tuple[VirtualTime, Telegram, Outbox]:
    time = VirtualTime()
    telegram = Telegram(time, *errors)
    return time, telegram, Outbox(telegram, limits=limits, clock=time.clock, sleep=time.sleep)


def answer(chat: int, n: int, *, user: str | None = None, thread: int | None = None) -> Reply:
    return Reply(
        chat,
        (f"✅ Added <b>#{n}</b>: task {n}",),
        reply_to=1000 + n if chat < 0 else None,
        thread_id=thread,
        command="add",
        user_name=user if user is not None else (f"User {n % 100}" if chat < 0 else None),
    )


async def after(time: VirtualTime, seconds: float, outbox: Outbox, reply: Reply) -> bool:
    """Deliver `reply` once `seconds` of virtual time have passed."""
    await time.sleep(seconds)
    return await outbox.deliver(reply)


async def deliver_in_order(
    outbox: Outbox, replies: Sequence[Reply], time: VirtualTime
) -> list[tuple[bool, float]]:
    """Deliver one chat's replies one after the other, as a pool worker does; each
    with whether it went out and when `deliver` returned."""
    done = []
    for reply in replies:
        ok = await outbox.deliver(reply)
        done.append((ok, time.now))
    return done


async def test_group_burst_is_merged_within_telegram_limits() -> None:
    """200 answers to one group: never more than 20 messages in any 60 s nor 1 in any
    second, every command and user still named, all out well within a minute."""
    time, telegram, outbox = setup()
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 201)]
    [done] = await time.run(deliver_in_order(outbox, replies, time))
    sent = telegram.to(GROUP)
    times = [m.at for m in sent]
    assert most_in_any_window(times, 60) <= 20
    assert most_in_any_window(times, 1) <= 1
    assert len(sent) < 20
    assert max(times) < 60
    text = "\n".join(m.text for m in sent)
    for n in range(1, 201):
        assert f"✅ Added <b>#{n}</b>: task {n}" in text
    assert text.count("· /add") == 200
    for user in range(100):
        assert f"<b>User {user}</b> · /add" in text
    assert all(visible_length(m.text) <= MESSAGE_LIMIT for m in sent)
    assert all(ok for ok, _ in done)
    assert outbox.merged >= 190
    assert outbox.floods == 0


async def test_each_answer_resolves_only_after_its_message_went_out() -> None:
    """`deliver` of a merged answer returns only once the message carrying it was sent,
    and every merged message replies to the oldest command it answers."""
    time, telegram, outbox = setup()
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 121)]
    [done] = await time.run(deliver_in_order(outbox, replies, time))
    for n, (_, returned_at) in enumerate(done, start=1):
        carrier = next(m for m in telegram.messages if f"task {n}\n" in m.text + "\n")
        assert carrier.at <= returned_at
    for m in telegram.messages:
        first = int(re.findall(r"#(\d+)", m.text)[0])
        assert m.reply_to == 1000 + first


async def test_answers_merged_while_the_first_waits_in_a_busy_group() -> None:
    """A group that used its 20 messages this minute gets the next answers merged into
    one message once the window lets one through, not one a minute later each."""
    time, telegram, outbox = setup()
    for n in range(1, 21):  # spaced out: nothing to merge, 20 messages
        await time.run(outbox.deliver(answer(GROUP, n)), time.sleep(1.5))
    assert len(telegram.messages) == 20
    later = [outbox.post(answer(GROUP, n)) for n in range(21, 31)]
    await time.run(deliver_in_order(outbox, later, time))
    assert len(telegram.messages) == 21
    assert telegram.messages[-1].at == pytest.approx(60.0, abs=0.01)  # (windows keep 5 ms spare)
    assert most_in_any_window([m.at for m in telegram.messages], 60) <= 20


async def test_overall_and_private_chat_rates_hold() -> None:
    """Two answers each to 90 private chats at once go out at most 30 in any second
    overall, each private chat gets at most one message a second, and (a private chat
    owing more than one a second) each chat's two come merged: all out in 3 s, not 6."""
    time, telegram, outbox = setup()
    work = []
    for chat in range(1, 91):
        replies = [outbox.post(answer(chat, n)) for n in range(2)]
        work.append(deliver_in_order(outbox, replies, time))
    await time.run(*work)
    assert sum(m.text.count("✅ Added") for m in telegram.messages) == 180
    assert len(telegram.messages) == 90
    assert most_in_any_window([m.at for m in telegram.messages], 1) <= 30
    for chat in range(1, 91):
        assert most_in_any_window([m.at for m in telegram.to(chat)], 1) <= 1
    assert max(m.at for m in telegram.messages) < 3


async def test_private_chat_backlog_is_merged_without_names() -> None:
    """Ten answers queued in a private chat go out merged, headed by the command alone."""
    time, telegram, outbox = setup()
    replies = [outbox.post(answer(7, n)) for n in range(10)]
    await time.run(deliver_in_order(outbox, replies, time))
    [message] = telegram.messages
    assert message.text.count("↩️ /add\n") == 10
    assert "<b>" not in message.text.replace("<b>#", "")


async def test_the_bots_own_messages_are_named_in_a_merged_header() -> None:
    """Reminders, a press's message and a greeting merged with answers are headed by
    what they are, never by their internal names (/:reminders, /:press)."""
    time, telegram, outbox = setup()
    own = [
        Reply(7, ("⏰ Due now: <b>#1</b> a",), command=REMINDERS),
        Reply(7, ("⚠️ A data file was damaged",), command=PRESS),
        Reply(7, ("👋 Thanks for adding me!",), command=GREET),
    ]
    replies = [outbox.post(answer(7, n)) for n in range(3)] + [outbox.post(r) for r in own]
    await time.run(deliver_in_order(outbox, replies, time))
    text = "\n".join(m.text for m in telegram.messages)
    for header in ("↩️ reminders\n", "↩️ a button\n", "↩️ a greeting\n"):
        assert header in text
    assert "/:" not in text


async def test_a_short_burst_goes_out_one_by_one() -> None:
    """Twelve answers at once in a quiet group fit its minute with sends to spare: each
    goes out at once as its own message, replying to its own command."""
    time, telegram, outbox = setup()
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 13)]
    await time.run(deliver_in_order(outbox, replies, time))
    assert [m.reply_to for m in telegram.messages] == [1000 + n for n in range(1, 13)]
    assert [m.text for m in telegram.messages] == [r.reply.texts[0] for r in replies]
    assert {m.at for m in telegram.messages} == {0.0}


async def test_a_burst_that_would_spend_the_reserve_is_merged() -> None:
    """Thirteen answers at once would leave fewer than 8 of the group's 20 sends a
    minute: they are merged into one message, and the chat's next message waits a
    second after it."""
    time, telegram, outbox = setup()
    first = [outbox.post(answer(GROUP, n)) for n in range(1, 14)]

    async def later() -> list[tuple[bool, float]]:
        await time.sleep(0.5)
        replies = [outbox.post(answer(GROUP, n)) for n in (14, 15)]
        return await deliver_in_order(outbox, replies, time)

    await time.run(deliver_in_order(outbox, first, time), later())
    assert [m.at for m in telegram.messages] == [0.0, 1.0, 1.0]
    assert telegram.messages[0].text.count("· /add") == 13
    assert [m.reply_to for m in telegram.messages] == [1001, 1014, 1015]


async def test_merged_names_are_escaped_and_identical_answers_said_once() -> None:
    """User names are escaped (no markup, no mention); identical answers (a list asked
    for by many) are sent once under every name that asked."""
    time, telegram, outbox = setup()
    listing = ("<b>Bounties of this group</b> (1)\n\n<b>#1</b> Fix it",)
    names = ["<i>Eve</i>", "@mallory", "Ann & Bob", *(f"U{i}" for i in range(12))]
    replies = [
        outbox.post(Reply(GROUP, listing, reply_to=i, command="bounty", user_name=name))
        for i, name in enumerate(names, start=1)
    ]
    await time.run(deliver_in_order(outbox, replies, time))
    [message] = telegram.messages
    assert message.text.count("Bounties of this group") == 1
    assert message.text.startswith("↩️ <b>&lt;i&gt;Eve&lt;/i&gt;</b>, <b>@\u2060mallory</b>, ")
    assert "<b>Ann &amp; Bob</b>, <b>U0</b>, " in message.text
    assert "<b>U11</b> · /bounty\n<b>Bounties" in message.text
    assert message.reply_to == 1


async def test_topics_are_merged_apart() -> None:
    """A forum group's answers are merged per topic, each message in its own topic."""
    time, telegram, outbox = setup()
    replies = [outbox.post(answer(GROUP, n, thread=n % 2 + 10)) for n in range(1, 41)]
    await time.run(deliver_in_order(outbox, replies, time))
    assert len(telegram.messages) == 2
    for m in telegram.messages:
        numbers = [int(n) for n in re.findall(r"task (\d+)", m.text)]
        assert {n % 2 + 10 for n in numbers} == {m.thread}
        assert len(numbers) == 20


async def test_merged_answers_are_split_at_4096() -> None:
    """Long answers merge into messages of at most 4,096 characters, in order, none lost."""
    time, telegram, outbox = setup()
    replies = [
        outbox.post(Reply(GROUP, (f"#{n} " + "x" * 900,), reply_to=n, command="add", user_name="A"))
        for n in range(1, 31)
    ]
    done = (await time.run(deliver_in_order(outbox, replies, time)))[0]
    assert all(ok for ok, _ in done)
    assert all(visible_length(m.text) <= MESSAGE_LIMIT for m in telegram.messages)
    shown = [int(n) for m in telegram.messages for n in re.findall(r"#(\d+) x", m.text)]
    assert shown == list(range(1, 31))
    assert len(telegram.messages) < 30


async def test_one_answer_longer_than_a_message_with_others_is_split() -> None:
    """Identical long lists asked for at once are said once, split over messages that
    each fit, under the names of all who asked."""
    time, telegram, outbox = setup()
    parts = tuple(f"part {i} " + "y" * 4000 for i in range(3))
    replies = [
        outbox.post(Reply(GROUP, parts, reply_to=i, command="bounty", user_name=f"U{i}"))
        for i in range(6)
    ]
    await time.run(deliver_in_order(outbox, replies, time))
    assert all(visible_length(m.text) <= MESSAGE_LIMIT for m in telegram.messages)
    text = "".join(m.text for m in telegram.messages)
    assert [text.count(f"part {i} ") for i in range(3)] == [1, 1, 1]
    assert "<b>U0</b>, <b>U1</b>, <b>U2</b>, <b>U3</b>, <b>U4</b>, <b>U5</b> · /bounty" in text


async def test_429_is_retried_after_the_wait_telegram_names() -> None:
    """A 429 waits exactly retry_after, then the same message is sent again."""
    time, telegram, outbox = setup(RetryLater(7, "flood", is_flood=True))
    [ok] = await time.run(outbox.deliver(Reply(-1, ("hi",), reply_to=3, thread_id=9)))
    assert ok
    assert telegram.tries == [(0.0, -1, "hi"), (7.0, -1, "hi")]
    assert telegram.messages == [Message(7.0, -1, "hi", 3, 9)]
    assert outbox.floods == 1


async def test_429_pauses_only_its_chat() -> None:
    """While one chat waits out its 429, other chats keep getting their answers."""
    time = VirtualTime()
    telegram = Telegram(time, RetryLater(30, "flood", is_flood=True), only_chat=GROUP)
    outbox = Outbox(telegram, limits=TELEGRAM, clock=time.clock, sleep=time.sleep)
    work = [outbox.deliver(answer(GROUP, 1))]
    work += [outbox.deliver(answer(chat, 1)) for chat in range(1, 6)]
    await time.run(*work)
    assert [m.at for m in telegram.to(GROUP)] == [30.0]
    assert all(m.at == 0.0 for m in telegram.messages if m.chat != GROUP)


async def test_429_in_two_chats_pauses_every_chat() -> None:
    """A 429 in a second chat while the first still waits means the bot as a whole is
    over its limit: every chat pauses, even one that got no 429."""
    time, telegram, outbox = setup(
        RetryLater(10, "flood", is_flood=True), RetryLater(10, "flood", is_flood=True)
    )
    await time.run(
        outbox.deliver(answer(1, 1)),
        outbox.deliver(answer(2, 1)),
        after(time, 1, outbox, answer(3, 1)),
    )
    assert sorted((m.chat, m.at) for m in telegram.messages) == [(1, 10.0), (2, 10.0), (3, 10.0)]


async def test_429_in_one_chat_pauses_no_other() -> None:
    """A single chat's 429 leaves a chat that arrives later unpaused."""
    time, telegram, outbox = setup(RetryLater(10, "flood", is_flood=True))
    await time.run(outbox.deliver(answer(1, 1)), after(time, 1, outbox, answer(3, 1)))
    assert [(m.chat, m.at) for m in telegram.messages] == [(3, 1.0), (1, 10.0)]


async def test_many_429s_never_drop_the_answer() -> None:
    """However many 429s come, the answer is still sent in the end."""
    time, telegram, outbox = setup(*[RetryLater(1, "flood", is_flood=True) for _ in range(50)])
    assert await time.run(outbox.deliver(Reply(-1, ("hi",)))) == [True]
    assert len(telegram.tries) == 51


async def test_network_errors_back_off_and_lose_nothing() -> None:
    """A send that fails transiently is retried with growing waits, in order, and no
    answer of a merged burst is lost."""
    errors = [RetryLater(1, "down", is_flood=False) for _ in range(4)]
    time, telegram, outbox = setup(*errors)
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 41)]
    [done] = await time.run(deliver_in_order(outbox, replies, time))
    assert all(ok for ok, _ in done)
    starts = [t for t, _, _ in telegram.tries[:5]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == sorted(gaps)
    assert gaps[0] >= 1
    text = "\n".join(m.text for m in telegram.messages)
    assert all(f"task {n}\n" in text + "\n" for n in range(1, 41))
    assert outbox.failed == 0


async def test_network_errors_are_never_given_up(caplog: pytest.LogCaptureFixture) -> None:
    """A network that stays down is retried for as long as it takes (an answer given up
    would be an update confirmed unanswered), backing off to 30 s, and reported as an
    error once it has failed NETWORK_ATTEMPTS times in a row."""
    errors = [RetryLater(1, "down", is_flood=False) for _ in range(3 * NETWORK_ATTEMPTS)]
    time, telegram, outbox = setup(*errors)
    assert await time.run(outbox.deliver(Reply(5, ("hi",)))) == [True]
    assert outbox.failed == 0
    assert len(telegram.tries) == 3 * NETWORK_ATTEMPTS + 1
    starts = [t for t, _, _ in telegram.tries]
    assert max(b - a for a, b in itertools.pairwise(starts)) == pytest.approx(30, abs=1)
    errors_logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors_logged, "a long outage is reported"
    assert f"({NETWORK_ATTEMPTS} tries)" in errors_logged[0].getMessage()


async def test_moved_group_is_followed() -> None:
    """A group that became a supergroup gets the answer at its new id."""
    time, telegram, outbox = setup(ChatMoved(-1009))
    assert await time.run(outbox.deliver(Reply(-9, ("hi",), reply_to=4))) == [True]
    last = telegram.messages[-1]
    assert (last.chat, last.text, last.reply_to, last.thread) == (-1009, "hi", None, None)


async def test_refused_message_is_reported_and_the_rest_not_sent() -> None:
    """A message Telegram refuses for good stops that reply and is counted as failed."""
    time, telegram, outbox = setup(Undeliverable("blocked"))
    assert await time.run(outbox.deliver(Reply(5, ("one", "two")))) == [False]
    assert outbox.failed == 1
    assert [text for _, _, text in telegram.tries] == ["one"]


async def test_refused_merged_message_fails_every_answer_it_carries() -> None:
    """When Telegram refuses a merged message, each answer in it is reported failed,
    and the answers after it still go out."""
    time, _telegram, outbox = setup(Undeliverable("bad request"))
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 21)]
    [done] = await time.run(deliver_in_order(outbox, replies, time))
    assert [ok for ok, _ in done] == [False] * 20
    assert outbox.failed == 20
    more = outbox.post(answer(GROUP, 21))
    assert await time.run(outbox.deliver(more)) == [True]


async def test_parts_go_out_in_order() -> None:
    """A split list is sent part by part, in order, a second apart in one chat."""
    time, telegram, outbox = setup()
    assert await time.run(outbox.deliver(Reply(5, ("1/3", "2/3", "3/3")))) == [True]
    assert [m.text for m in telegram.messages] == ["1/3", "2/3", "3/3"]
    assert [m.at for m in telegram.messages] == pytest.approx([0, 1, 2], abs=0.02)
    assert outbox.sent == 3


async def test_unposted_replies_keep_their_order() -> None:
    """Replies delivered without being posted first still go out in order, unmerged
    when the chat keeps up."""
    time, telegram, outbox = setup(limits=Limits())
    await time.run(deliver_in_order(outbox, [answer(GROUP, n) for n in range(5)], time))
    assert [m.reply_to for m in telegram.messages] == [1000, 1001, 1002, 1003, 1004]


async def test_thousands_of_chats_leave_no_state_behind() -> None:
    """After answering thousands of chats, the outbox keeps nothing for any of them once
    their windows have passed."""
    time, telegram, outbox = setup()
    work = [outbox.deliver(answer(chat, 1)) for chat in range(1, 2001)]
    work += [outbox.deliver(answer(-chat, 1)) for chat in range(1, 11)]
    await time.run(*work)
    assert len(telegram.messages) == 2010
    outbox.prune()
    assert 0 < outbox.chats < 100  # only those whose windows still hold a send
    await time.run(time.sleep(61))
    outbox.prune()
    assert outbox.chats == 0


async def test_a_groups_window_outlives_a_prune() -> None:
    """A group that sent 20 messages is remembered until its minute has passed, so a
    prune in between does not let a 21st message through early."""
    time, telegram, outbox = setup()
    for n in range(20):
        await time.run(outbox.deliver(answer(GROUP, n)))
    await time.run(time.sleep(30 - time.now))
    outbox.prune()
    assert outbox.chats == 1
    await time.run(outbox.deliver(answer(GROUP, 21)))
    assert telegram.to(GROUP)[-1].at == pytest.approx(telegram.to(GROUP)[0].at + 60, abs=0.01)


async def test_prune_runs_by_itself() -> None:
    """Without being asked, the outbox forgets a finished chat on its own timer."""
    outbox = Outbox(Telegram(VirtualTime()), prune_seconds=0)
    assert await outbox.deliver(answer(GROUP, 1))
    assert outbox.chats == 1
    for _ in range(3):
        await asyncio.sleep(0)  # the timer's turn comes at the next loop iteration
    assert outbox.chats == 0


@pytest.mark.parametrize("limits", [TELEGRAM, Limits()])
async def test_a_send_that_crashes_fails_its_answer_and_not_the_chat(limits: Limits) -> None:
    """An unexpected error from the send function fails that answer only; the chat's
    next answer goes out."""
    time, _telegram, outbox = setup(RuntimeError("bug"), limits=limits)
    with pytest.raises(RuntimeError):
        await time.run(outbox.deliver(answer(GROUP, 1)))
    assert outbox.failed == 1
    assert await time.run(outbox.deliver(answer(GROUP, 2))) == [True]


def test_rates_read_as_telegram_publishes_them() -> None:
    """The Telegram limits: 30/s overall, 20/min per group, 1/s per private chat."""
    assert TELEGRAM.overall == (Rate(30, 1.0),)
    assert TELEGRAM.group.rates == (Rate(20, 60.0),)
    assert TELEGRAM.private.rates == (Rate(1, 1.0),)


# --- planning against every window at once -------------------------------------------


async def arrive(
    time: VirtualTime, outbox: Outbox, chat: int, moments: Sequence[float], tag: str
) -> list[tuple[str, float, float]]:
    """Post one chat's answers at the given moments, each delivered as soon as it is
    posted (a worker posts a batch's answers at once); for each answer: its tag, when it
    was posted, and when its deliver returned."""
    returned: dict[str, float] = {}
    tasks: list[asyncio.Task[bool]] = []
    posted: list[tuple[str, float]] = []
    for n, at in enumerate(moments):
        if at > time.now:  # answers of one moment are posted together, as a batch's are
            await time.sleep(at - time.now)
        name = f"{tag}-{n}"
        reply = Reply(
            chat,
            (f"✅ Added <b>#{n}</b>: {name}",),
            reply_to=5000 + n if chat < 0 else None,
            command="add",
            user_name=f"User {n % 7}" if chat < 0 else None,
        )
        task = asyncio.ensure_future(outbox.deliver(outbox.post(reply)))
        task.add_done_callback(lambda _t, name=name: returned.setdefault(name, time.now))
        tasks.append(task)
        posted.append((name, time.now))
    assert all(await asyncio.gather(*tasks))
    return [(name, at, returned[name]) for name, at in posted]


def spread_load() -> dict[int, list[float]]:
    """The 41-chat burst of the benchmark: one busy group (200 answers), 20 groups and
    20 private chats (10 each), all within 2 seconds."""
    load = {GROUP: [i * 2.0 / 200 for i in range(200)]}
    for k in range(20):
        load[-1000 - k] = [(k * 0.037 + j * 0.19) % 2.0 for j in range(10)]
        load[7000 + k] = [(k * 0.053 + j * 0.21) % 2.0 for j in range(10)]
    return {chat: sorted(moments) for chat, moments in load.items()}


async def test_a_burst_over_many_chats_keeps_every_window_and_answers_in_seconds() -> None:
    """600 answers owed at once across 41 chats: never more than 30 messages in any
    second, 20 in any minute into a group or 1 in any second into a private chat; every
    answer out exactly once, each deliver returning only once its message was sent, and
    every chat's last answer within 2.5 s of its command (one by one at 30 a second it
    would take 20 s)."""
    time, telegram, outbox = setup()
    load = spread_load()
    results = await time.run(
        *(arrive(time, outbox, chat, moments, f"c{chat}") for chat, moments in load.items())
    )
    times = [m.at for m in telegram.messages]
    assert most_in_any_window(times, 1) <= 30
    for chat in load:
        sent = [m.at for m in telegram.to(chat)]
        assert most_in_any_window(sent, 60 if chat < 0 else 1) <= (20 if chat < 0 else 1), chat
    carried = re.findall(r"(c-?\d+-\d+)\b", "\n".join(m.text for m in telegram.messages))
    assert sorted(carried) == sorted(name for done in results for name, _, _ in done)
    assert len(carried) == len(set(carried)) == 600, "each answer sent once"
    first_carrying = {}
    for m in telegram.messages:
        for name in re.findall(r"(c-?\d+-\d+)\b", m.text):
            first_carrying.setdefault(name, m.at)
    for done in results:
        for name, posted, returned in done:
            assert returned >= first_carrying[name], "resolved before its message went out"
            assert returned - posted <= 2.5, (name, posted, returned)
    assert len(telegram.messages) < 200
    assert outbox.floods == 0


async def test_a_quiet_command_still_goes_out_at_once_alone() -> None:
    """In a burst elsewhere, one command in a quiet chat gets its own message at once,
    replying to it."""
    time, telegram, outbox = setup()
    busy = [arrive(time, outbox, -1000 - k, [0.0] * 10, f"g{k}") for k in range(10)]
    quiet = after(time, 0.5, outbox, answer(4242, 1))
    await time.run(*busy, quiet)
    [alone] = telegram.to(4242)
    assert alone.text == "✅ Added <b>#1</b>: task 1"
    assert alone.at <= 1.5


async def test_a_busy_group_cannot_starve_the_others() -> None:
    """A group owing 500 answers and 30 private chats owing one each: every private
    chat is answered within 2 s (the busy group takes turns with them, it does not take
    the overall budget for itself)."""
    time, telegram, outbox = setup()
    busy = arrive(time, outbox, GROUP, [0.0] * 500, "busy")
    others = [after(time, 0.01, outbox, answer(8000 + k, 1)) for k in range(30)]
    await time.run(busy, *others)
    for k in range(30):
        [m] = telegram.to(8000 + k)
        assert m.at <= 2.0, (k, m.at)


async def test_a_steady_trickle_into_a_group_is_paced_not_stalled() -> None:
    """One command a second into a group for three minutes (180 answers, 20 messages a
    minute allowed): the group's window is never exceeded, and no answer waits for the
    minute to pass (sent at once, the first 20 would spend the minute in 20 s and the
    21st would wait about 40 s)."""
    time, telegram, outbox = setup()
    [done] = await time.run(arrive(time, outbox, GROUP, [float(s) for s in range(180)], "t"))
    assert most_in_any_window([m.at for m in telegram.to(GROUP)], 60) <= 20
    waits = [returned - posted for _, posted, returned in done]
    assert max(waits) <= 20, max(waits)


# --- across a restart ----------------------------------------------------------------


async def test_sends_carried_over_a_restart_still_count() -> None:
    """A group that had its 20 messages 10 s before a restart: the new outbox, told of
    them, sends its next one only when the minute has passed, not at once (Telegram
    would answer 429)."""
    plain_minute = Limits(group=ChatLimits((Rate(20, 60.0),)))  # one message an answer
    time, telegram, before = setup(limits=plain_minute)
    for n in range(20):
        await time.run(before.deliver(answer(GROUP, n)))
    await time.run(time.sleep(10))
    recent = before.recent_sends()
    assert len(recent[GROUP]) == 20
    after_restart = Outbox(telegram, limits=TELEGRAM, clock=time.clock, sleep=time.sleep)
    after_restart.restore_sends(recent)
    restarted_at = time.now
    await time.run(after_restart.deliver(answer(GROUP, 21)))
    assert telegram.to(GROUP)[-1].at - restarted_at == pytest.approx(50, abs=0.1)
    assert most_in_any_window([m.at for m in telegram.to(GROUP)], 60) <= 20


async def test_only_sends_inside_their_window_are_carried_over() -> None:
    """Sends older than their window, and a private chat's a second later, are not kept."""
    time, _, outbox = setup()
    await time.run(outbox.deliver(answer(GROUP, 1)), outbox.deliver(answer(7, 1)))
    await time.run(time.sleep(2))
    assert set(outbox.recent_sends()) == {GROUP}
    await time.run(time.sleep(60))
    assert outbox.recent_sends() == {}


# --- "typing" while an answer waits ----------------------------------------------------


class TypingTelegram(Telegram):
    """The send function and the face's buttons, with typing: records each chat action
    (time, chat, topic), raising the scripted `typing_errors` first."""

    def __init__(
        self, time: VirtualTime, *errors: Exception, typing_errors: Sequence[Exception] = ()
    ):
        super().__init__(time, *errors)
        self.typed: list[tuple[float, int, int | None]] = []
        self.typing_errors = list(typing_errors)

    async def send(
        self, chat: int, text: str, reply_to: int | None, thread: int | None, keyboard: Keyboard
    ) -> None:
        await self(chat, text, reply_to, thread)

    async def edit(self, chat: int, message_id: int, text: str | None, keyboard: Keyboard) -> None:
        await self(chat, text or "", None, None)

    async def toast(self, query_id: str, text: str) -> None:
        pass

    async def typing(self, chat: int, thread: int | None) -> None:
        if self.typing_errors:
            raise self.typing_errors.pop(0)
        self.typed.append((self.time.now, chat, thread))

    def typed_to(self, chat: int) -> list[float]:
        return [at for at, c, _ in self.typed if c == chat]


def typing_setup(
    *errors: Exception, limits: Limits = TELEGRAM, typing_errors: Sequence[Exception] = ()
) -> tuple[VirtualTime, TypingTelegram, Outbox]:
    time = VirtualTime()
    telegram = TypingTelegram(time, *errors, typing_errors=typing_errors)
    outbox = Outbox(telegram, buttons=telegram, limits=limits, clock=time.clock, sleep=time.sleep)
    return time, telegram, outbox


# Two messages a minute into a group, never merged: the third answer waits a minute.
TWO_A_MINUTE = Limits(overall=TELEGRAM.overall, group=ChatLimits((Rate(2, 60.0),)))


async def test_a_long_wait_shows_typing_every_5_s_until_the_answer() -> None:
    """An answer that waits a minute for its group's window: "typing" in its topic from
    the moment it waits, every 5 s while more than 3 s of the wait are left, none once
    it is out; the two answers before it went at once, with no typing."""
    time, telegram, outbox = typing_setup(limits=TWO_A_MINUTE)
    replies = [outbox.post(answer(GROUP, n, thread=7)) for n in range(1, 4)]
    await time.run(deliver_in_order(outbox, replies, time))
    first, second, third = telegram.to(GROUP)
    assert first.at == second.at == 0
    assert third.at == pytest.approx(60, abs=0.01)
    typed = telegram.typed_to(GROUP)
    assert typed == pytest.approx([5.0 * k for k in range(12)])  # 0, 5, …, 55
    assert all(third.at - t > TYPING_AFTER for t in typed)
    assert {thread for _, _, thread in telegram.typed} == {7}
    assert outbox.typings == 12
    await time.run(time.sleep(120))  # nothing left to wait for: no more typing
    assert len(telegram.typed) == 12


async def test_no_typing_when_answers_go_at_once() -> None:
    """A quiet command, a short burst merged within a second or two, a private chat's
    answers a second apart: no chat waits more than 3 s, so none is shown typing."""
    time, telegram, outbox = typing_setup()
    busy = arrive(time, outbox, GROUP, [0.0] * 30, "g")
    private = arrive(time, outbox, 77, [0.0, 0.1, 0.2], "p")
    quiet = after(time, 0.5, outbox, answer(4242, 1))
    await time.run(busy, private, quiet)
    assert telegram.messages
    assert telegram.typed == []


class ButtonsOnly:
    """A face with buttons and no typing."""

    def __init__(self, telegram: Telegram) -> None:
        self.telegram = telegram

    async def send(
        self, chat: int, text: str, reply_to: int | None, thread: int | None, keyboard: Keyboard
    ) -> None:
        await self.telegram(chat, text, reply_to, thread)

    async def edit(self, chat: int, message_id: int, text: str | None, keyboard: Keyboard) -> None:
        pass

    async def toast(self, query_id: str, text: str) -> None:
        pass


async def test_an_outbox_without_typing_sends_none(caplog: pytest.LogCaptureFixture) -> None:
    """The same long wait behind buttons that cannot type (and behind no buttons at all):
    the answers go out just the same, and no chat action is tried."""
    for buttons in (True, False):
        time = VirtualTime()
        telegram = Telegram(time)
        outbox = Outbox(
            telegram, buttons=ButtonsOnly(telegram) if buttons else None, limits=TWO_A_MINUTE,
            clock=time.clock, sleep=time.sleep,
        )  # fmt: skip
        replies = [outbox.post(answer(GROUP, n)) for n in range(1, 4)]
        await time.run(deliver_in_order(outbox, replies, time))
        assert [m.at for m in telegram.to(GROUP)] == pytest.approx([0, 0, 60], abs=0.01)
        assert outbox.typings == 0
    assert "typing" not in caplog.text


async def test_typing_never_moves_an_answer_and_keeps_within_the_limits() -> None:
    """A steady trickle into one group (its answers held back for seconds at a time)
    beside the 41-chat burst: every message goes out exactly when it does without
    typing; each chat is shown typing at most once every 5 s, only with its next message
    more than 3 s away, and only while the bot's last second holds fewer than 15 sends
    (messages and chat actions together)."""
    trickle = -3000
    load = {**spread_load(), trickle: [float(s) for s in range(180)]}
    sent = {}
    for typing in (False, True):
        time, telegram, outbox = typing_setup() if typing else setup()
        await time.run(
            *(arrive(time, outbox, chat, moments, f"c{chat}") for chat, moments in load.items())
        )
        sent[typing] = [(m.at, m.chat, m.text) for m in telegram.messages]
    assert sent[True] == sent[False]
    assert isinstance(telegram, TypingTelegram)
    assert len(telegram.typed) >= 10
    messages = [m.at for m in telegram.messages]
    for chat in {c for _, c, _ in telegram.typed}:
        typed = telegram.typed_to(chat)
        assert all(b - a >= TYPING_EVERY for a, b in itertools.pairwise(typed))
        times = [m.at for m in telegram.to(chat)]
        for t in typed:
            following = [m for m in times if m >= t]
            assert following, "typing after the chat's last answer"
            assert following[0] - t > TYPING_AFTER
    for t, _, _ in telegram.typed:
        recent = sum(t - 1 < m <= t for m in messages) + sum(
            t - 1 < u < t for u, _, _ in telegram.typed
        )
        assert recent < 15
    assert outbox.floods == 0


async def test_no_typing_while_telegram_asks_to_wait() -> None:
    """A 429 that pauses a chat for 30 s, or a network down: the chat is not shown
    typing meanwhile (Telegram asked for quiet; the call would fail anyway)."""
    for error in (
        RetryLater(30, "Too Many Requests", is_flood=True),
        *[RetryLater(1, "network down", is_flood=False)] * 4,
    ):
        time, telegram, outbox = typing_setup(error)
        assert await time.run(outbox.deliver(answer(GROUP, 1))) == [True]
        assert telegram.messages
        assert telegram.typed == []


async def test_a_failed_typing_is_dropped_and_a_429_for_one_stops_them_a_while() -> None:
    """A chat action refused, failing on the network or answered 429 is never retried
    and never touches the answers: they go out as they would; after the 429 none is
    sent for the time it names."""
    errors = [
        Undeliverable("Bad Request: not enough rights"),
        RetryLater(1, "network", is_flood=False),
        RetryLater(20, "Too Many Requests", is_flood=True),
    ]
    time, telegram, outbox = typing_setup(limits=TWO_A_MINUTE, typing_errors=errors)
    replies = [outbox.post(answer(GROUP, n)) for n in range(1, 4)]
    assert all(ok for ok, _ in (await time.run(deliver_in_order(outbox, replies, time)))[0])
    assert telegram.to(GROUP)[-1].at == pytest.approx(60, abs=0.01)
    # Tried at 0, 5 and 10 (each failing); the 429 at 10 silences them until 30.
    assert telegram.typed_to(GROUP) == pytest.approx([30.0 + 5 * k for k in range(6)])
    assert outbox.typings == 6


async def test_typing_waits_while_the_bot_sends_near_its_overall_limit() -> None:
    """A group whose minute is spent (its last run's sends restored) waits ~59 s from
    0.5 s on, while 60 private chats are answered every second for 10 s (the bot at 30
    a second): the group is shown typing only once the bot's second has room again, and
    its answer goes out when its window frees, as it would anyway."""
    time, telegram, outbox = typing_setup()
    outbox.restore_sends({GROUP: [1.0] * 20})
    busy = [
        arrive(time, outbox, 9000 + k, [float(s) for s in range(10)], f"p{k}") for k in range(60)
    ]
    waiting = after(time, 0.5, outbox, answer(GROUP, 1))
    await time.run(waiting, *busy)
    messages = [m.at for m in telegram.messages]
    assert most_in_any_window(messages, 1) > 15  # the bot was busy
    typed = telegram.typed_to(GROUP)
    assert typed
    assert typed[0] >= 10.0  # not while the private chats filled the bot's seconds
    for t in typed:
        assert sum(t - 1 < m <= t for m in messages) < 15
    [answered] = telegram.to(GROUP)
    assert answered.at == pytest.approx(59.0, abs=0.1)
