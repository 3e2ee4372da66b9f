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
