"""The bot's settings, read once from the environment and checked before anything connects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jigaido.errors import ConfigError

DEFAULT_API_URL = "https://api.telegram.org"


@dataclass(frozen=True, slots=True)
class Settings:
    token: str = field(repr=False)  # never printed, not even in a traceback's repr
    data_dir: Path
    api_url: str = DEFAULT_API_URL
    tz: tzinfo = UTC
    idle_seconds: float = 300.0
    poll_timeout: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            token=_token(env),
            data_dir=Path(
                env.get("JIGAIDO_DATA_DIR")
                or env.get("STATE_DIRECTORY", "").split(":")[0]
                or "data"
            ),
            api_url=(env.get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
            tz=_zone(env.get("JIGAIDO_TZ") or "UTC"),
            idle_seconds=_positive(env, "JIGAIDO_IDLE_SECONDS", 300.0),
            poll_timeout=int(_positive(env, "JIGAIDO_POLL_TIMEOUT", 30)),
        )


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


def _read_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"cannot read the bot token from {path}: {e.strerror}") from e


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"JIGAIDO_TZ={name!r} is not a known time zone") from e


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number")
    return value
