"""The few errors callers handle differently. A user's mistake is never one of these:
it becomes an answer."""


class JigaidoError(Exception):
    """Base of jigaido's own errors."""


class ConfigError(JigaidoError):
    """The settings are missing or wrong; the message is one line for stderr."""


class DamagedFile(JigaidoError):
    """A data file does not parse or breaks SPEC section 2; it must be set aside."""


class NotSaved(JigaidoError):
    """A durable write failed; the old file is still in place."""


class BadInput(JigaidoError):
    """A command's arguments are wrong; the message (plain text) is shown to the user."""


class RetryLater(JigaidoError):
    """Telegram asked to wait (429) or the network failed; the send may be retried."""

    def __init__(self, seconds: float, reason: str, *, is_flood: bool) -> None:
        super().__init__(f"retry in {seconds:g} s: {reason}")
        self.seconds = seconds
        self.is_flood = is_flood  # a 429: wait exactly `seconds`; else back off


class ChatMoved(JigaidoError):
    """The group became a supergroup; send to `new_chat_id` instead."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class Undeliverable(JigaidoError):
    """Telegram refused the message for good (bot blocked or removed, bad request)."""

    def __init__(self, reason: str, *, shut_out: bool = False) -> None:
        super().__init__(reason)
        self.shut_out = shut_out  # blocked by the user or removed from the group: expected


class AdminsUnknown(JigaidoError):
    """Telegram could not say who a group's admins are (network down, 403, a timeout)."""
