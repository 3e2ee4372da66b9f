"""The outbox: retries what Telegram or the network asks to retry, follows a moved
group, and reports what Telegram refuses for good. The send function is the face's
boundary, so tests pass one that raises what the face would."""

from __future__ import annotations

from jigaido.errors import ChatMoved, RetryLater, Undeliverable
from jigaido.outbox import NETWORK_ATTEMPTS, Outbox, Reply


class Script:
    """A send function that raises the scripted errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[int, str, int | None, int | None]] = []

    async def __call__(
        self, chat: int, text: str, reply_to: int | None, thread: int | None
    ) -> None:
        self.calls.append((chat, text, reply_to, thread))
        if self.errors:
            raise self.errors.pop(0)


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_429_is_retried_after_the_wait_telegram_names() -> None:
    """A 429 waits exactly retry_after, then the same message is sent again."""
    send, sleeps = Script(RetryLater(7, "flood", is_flood=True)), Sleeps()
    outbox = Outbox(send, sleep=sleeps)
    assert await outbox.deliver(Reply(-1, ("hi",), reply_to=3, thread_id=9))
    assert sleeps.seconds == [7]
    assert send.calls == [(-1, "hi", 3, 9), (-1, "hi", 3, 9)]


async def test_many_429s_never_drop_the_answer() -> None:
    """However many 429s come, the answer is still sent in the end."""
    send = Script(*[RetryLater(1, "flood", is_flood=True) for _ in range(50)])
    assert await Outbox(send, sleep=Sleeps()).deliver(Reply(-1, ("hi",)))
    assert len(send.calls) == 51


async def test_network_errors_back_off_then_give_up() -> None:
    """Network failures are retried with growing waits, and given up after a bound."""
    send = Script(*[RetryLater(1, "down", is_flood=False) for _ in range(NETWORK_ATTEMPTS)])
    sleeps = Sleeps()
    outbox = Outbox(send, sleep=sleeps)
    assert not await outbox.deliver(Reply(5, ("hi",)))
    assert outbox.failed == 1
    assert sleeps.seconds == sorted(sleeps.seconds)
    assert len(send.calls) == NETWORK_ATTEMPTS


async def test_moved_group_is_followed() -> None:
    """A group that became a supergroup gets the answer at its new id."""
    send = Script(ChatMoved(-1009))
    assert await Outbox(send, sleep=Sleeps()).deliver(Reply(-9, ("hi",), reply_to=4))
    assert send.calls[-1] == (-1009, "hi", None, None)


async def test_refused_message_is_reported_and_the_rest_not_sent() -> None:
    """A message Telegram refuses for good stops that reply and is counted as failed."""
    send = Script(Undeliverable("blocked"))
    outbox = Outbox(send, sleep=Sleeps())
    assert not await outbox.deliver(Reply(5, ("one", "two")))
    assert outbox.failed == 1
    assert [c[1] for c in send.calls] == ["one"]


async def test_parts_go_out_in_order() -> None:
    """A split list is sent part by part, in order."""
    send = Script()
    outbox = Outbox(send, sleep=Sleeps())
    assert await outbox.deliver(Reply(5, ("1/3", "2/3", "3/3")))
    assert [c[1] for c in send.calls] == ["1/3", "2/3", "3/3"]
    assert outbox.sent == 3
