"""The bot's settings, read once from the environment and checked before anything connects."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jigaido.core.errors import ConfigError

DEFAULT_API_URL = "https://api.telegram.org"
MAX_POLL_TIMEOUT = 300  # a longer poll gains nothing and hides a dead connection longer
# A day: past that an idle chat's memory would in effect never come back.
MAX_IDLE_SECONDS = 86400.0
MAX_REMIND_LEAD = 7 * 86400  # a reminder more than a week ahead is no reminder
# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True, slots=True)
class Settings:
    token: str = field(repr=False)  # never printed, not even in a traceback's repr
    data_dir: Path
    api_url: str = DEFAULT_API_URL
    tz: tzinfo = UTC
    idle_seconds: float = 300.0
    poll_timeout: int = 30
    # How long before a due the first reminder comes (SPEC 8: 24 hours; tests shorten it).
    remind_lead: int = 24 * 3600
    webhook: WebhookSettings | None = None  # None: long polling

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            token=_token(env),
            data_dir=data_dir_from_env(env),
            api_url=_api_url(env.get("TELEGRAM_API_URL") or DEFAULT_API_URL),
            tz=_zone(env.get("JIGAIDO_TZ") or "UTC"),
            idle_seconds=_idle_seconds(env.get("JIGAIDO_IDLE_SECONDS") or "300"),
            poll_timeout=_poll_timeout(env.get("JIGAIDO_POLL_TIMEOUT") or "30"),
            remind_lead=_remind_lead(env.get("JIGAIDO_REMIND_LEAD") or "86400"),
        )


def data_dir_from_env(env: Mapping[str, str]) -> Path:
    """`JIGAIDO_DATA_DIR`, else systemd's `$STATE_DIRECTORY`, else `./data`."""
    return Path(
        env.get("JIGAIDO_DATA_DIR") or env.get("STATE_DIRECTORY", "").split(":")[0] or "data"
    )


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """`jigaido run --webhook URL --listen HOST:PORT`: Telegram posts updates to `url`,
    which a reverse proxy forwards to `host:port` (port 0: any free port, logged)."""

    url: str
    host: str
    port: int
    secret: str = field(repr=False)  # X-Telegram-Bot-Api-Secret-Token

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @classmethod
    def from_args(
        cls, url: str, listen: str, env: Mapping[str, str], token: str
    ) -> WebhookSettings:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("https", "http") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"--webhook {url!r} is not an https:// URL")
        host, sep, port = listen.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not (sep and host and port.isascii() and port.isdigit() and int(port) <= 65535):
            raise ConfigError(f"--listen {listen!r} is not HOST:PORT (such as 127.0.0.1:8081)")
        return cls(url=url, host=host, port=int(port), secret=_webhook_secret(env, token))


def _webhook_secret(env: Mapping[str, str], token: str) -> str:
    """`JIGAIDO_WEBHOOK_SECRET`, else the systemd credential `webhook_secret`, else
    derived from the token (stable across restarts, changes with the token, and the
    token cannot be worked out from it)."""
    secret, source = env.get("JIGAIDO_WEBHOOK_SECRET", "").strip(), "JIGAIDO_WEBHOOK_SECRET"
    if not secret and env.get("CREDENTIALS_DIRECTORY"):
        path = Path(env["CREDENTIALS_DIRECTORY"]) / "webhook_secret"
        if path.exists():
            secret, source = _read_secret(path, "the webhook secret"), str(path)
    if not secret:
        return hmac.new(token.encode(), b"jigaido webhook secret", hashlib.sha256).hexdigest()
    if not _WEBHOOK_SECRET.fullmatch(secret):
        raise ConfigError(
            f"the webhook secret from {source} must be 1 to 256 of A-Z, a-z, 0-9, _ and -"
        )
    return secret


def _token(env: Mapping[str, str]) -> str:
    token = env.get("BOT_TOKEN", "").strip()
    source = "BOT_TOKEN"
    if not token and env.get("BOT_TOKEN_FILE"):
        source = env["BOT_TOKEN_FILE"]
        token = _read_secret(Path(source))
    elif not token and env.get("CREDENTIALS_DIRECTORY"):
        path = Path(env["CREDENTIALS_DIRECTORY"]) / "bot_token"
        source = str(path)
        token = _read_secret(path) if path.exists() else ""
    if not token:
        raise ConfigError(
            "no bot token: set BOT_TOKEN, or BOT_TOKEN_FILE to a file holding it, "
            "or a systemd credential named bot_token"
        )
    number, sep, secret = token.partition(":")
    if not (sep and number.isdigit() and secret and not any(c.isspace() for c in token)):
        raise ConfigError(f"the bot token from {source} does not look like <digits>:<secret>")
    return token


def _read_secret(path: Path, what: str = "the bot token") -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"cannot read {what} from {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:  # a binary file given by mistake; never echo its bytes
        raise ConfigError(f"cannot read {what} from {path}: it is not UTF-8 text") from e


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"JIGAIDO_TZ={name!r} is not a known time zone") from e


def _api_url(raw: str) -> str:
    url = raw.rstrip("/")
    if not _is_base_url(url):
        raise ConfigError(
            f"TELEGRAM_API_URL={raw!r} must be an http:// or https:// URL with a host and "
            "no query, such as https://api.telegram.org or http://127.0.0.1:8081"
        )
    return url


def _is_base_url(url: str) -> bool:
    """`http(s)://host[:port][/path]`. aiogram appends `/bot{token}/{method}` to it as
    text, so a `?` or `#`, even with nothing after it, would swallow the method."""
    if any(c in "?#" or c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _poll_timeout(raw: str) -> int:
    text = raw.strip()
    # ASCII digits only: isdigit alone takes "²", int() takes "+5" and "1_0", and the
    # length bound keeps int() from refusing a 5,000-digit string with a traceback.
    ok = len(text) <= 9 and text.isascii() and text.isdigit()
    if not (ok and 1 <= int(text) <= MAX_POLL_TIMEOUT):
        raise ConfigError(
            f"JIGAIDO_POLL_TIMEOUT={raw!r} must be a whole number of seconds "
            f"from 1 to {MAX_POLL_TIMEOUT}"
        )
    return int(text)


def _remind_lead(raw: str) -> int:
    text = raw.strip()
    ok = len(text) <= 9 and text.isascii() and text.isdigit()
    if not (ok and 1 <= int(text) <= MAX_REMIND_LEAD):
        raise ConfigError(
            f"JIGAIDO_REMIND_LEAD={raw!r} must be a whole number of seconds from 1 to "
            f"{MAX_REMIND_LEAD} (a week)"
        )
    return int(text)


def _idle_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    # `not (0 < value <= max)` also refuses nan, which every comparison fails.
    if not 0 < value <= MAX_IDLE_SECONDS:
        raise ConfigError(
            f"JIGAIDO_IDLE_SECONDS={raw!r} must be a number of seconds above 0 and at most "
            f"{MAX_IDLE_SECONDS:g} (a day)"
        )
    return value
