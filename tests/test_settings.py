"""Settings from the environment: every value checked at start, a bad one refused with
a message naming the variable and what it may be."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from jigaido.core.errors import ConfigError
from jigaido.face.settings import Settings

TOKEN = "123456:secret-part"


def settings(**env: str) -> Settings:
    return Settings.from_env({"BOT_TOKEN": TOKEN, **env})


def refusal(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    """Unset or empty, every setting takes its documented default."""
    for s in (settings(), settings(TELEGRAM_API_URL="", JIGAIDO_POLL_TIMEOUT="", JIGAIDO_TZ="")):
        assert s.api_url == "https://api.telegram.org"
        assert s.poll_timeout == 30
        assert s.idle_seconds == 300.0
        assert s.tz == ZoneInfo("UTC")
        assert s.data_dir == Path("data")
        assert s.webhook is None


def test_poll_timeout_is_a_whole_number_of_seconds_from_1_to_300() -> None:
    """JIGAIDO_POLL_TIMEOUT takes 1 to 300 whole seconds; a fraction (which once became
    0, a busy loop), nan, inf, an exponent or anything else is refused."""
    assert settings(JIGAIDO_POLL_TIMEOUT="1").poll_timeout == 1
    assert settings(JIGAIDO_POLL_TIMEOUT=" 300 ").poll_timeout == 300
    for raw in ("0.5", "0", "nan", "inf", "-3", "abc", "1e9", "301", "+5", "1_0", "²", "9" * 5000):
        message = refusal(JIGAIDO_POLL_TIMEOUT=raw)
        assert message.startswith("JIGAIDO_POLL_TIMEOUT="), raw
        assert "whole number of seconds from 1 to 300" in message, raw


def test_idle_seconds_is_a_finite_positive_number_up_to_a_day() -> None:
    """JIGAIDO_IDLE_SECONDS takes any number of seconds above 0 up to 86400; nan, inf,
    zero, negatives, more than a day and words are refused."""
    assert settings(JIGAIDO_IDLE_SECONDS="0.5").idle_seconds == 0.5
    assert settings(JIGAIDO_IDLE_SECONDS="86400").idle_seconds == 86400.0
    assert settings(JIGAIDO_IDLE_SECONDS="1e3").idle_seconds == 1000.0
    for raw in ("nan", "inf", "-inf", "0", "-1", "86400.5", "1e9", "abc", "9" * 5000):
        message = refusal(JIGAIDO_IDLE_SECONDS=raw)
        assert message.startswith("JIGAIDO_IDLE_SECONDS="), raw
        assert "above 0 and at most 86400 (a day)" in message, raw


def test_api_url_is_an_http_or_https_url_with_a_host() -> None:
    """TELEGRAM_API_URL is http:// or https:// with a host (a port and a path prefix
    allowed, trailing slashes dropped); no scheme, another scheme, no host, a bad port,
    a query or fragment, or spaces are refused with an example."""
    accepted = {
        "https://api.telegram.org/": "https://api.telegram.org",
        "http://127.0.0.1:8081": "http://127.0.0.1:8081",
        "http://[::1]:8081//": "http://[::1]:8081",
        "https://proxy.example/telegram/": "https://proxy.example/telegram",
    }
    for raw, url in accepted.items():
        assert settings(TELEGRAM_API_URL=raw).api_url == url
    refused = [
        "api.telegram.org",
        "ftp://x",
        "http://",
        "http:///path",
        "http://:8081",
        "http://x:99999",
        "https://x/?a=1",
        "https://x?",
        "https://x#top",
        "https://exa mple.org",
        "https://x\n",
    ]
    for raw in refused:
        message = refusal(TELEGRAM_API_URL=raw)
        assert message.startswith(f"TELEGRAM_API_URL={raw!r} must be an http:// or https://")
        assert "such as https://api.telegram.org or http://127.0.0.1:8081" in message


def test_time_zone_is_an_iana_name() -> None:
    """JIGAIDO_TZ is an IANA zone; an unknown name or a path is refused."""
    assert settings(JIGAIDO_TZ="Europe/Berlin").tz == ZoneInfo("Europe/Berlin")
    for raw in ("Mars/Olympus", "/etc/passwd", "../zone", "Europe", "zone.tab"):
        assert refusal(JIGAIDO_TZ=raw) == f"JIGAIDO_TZ={raw!r} is not a known time zone"


def test_token_rules(tmp_path: Path) -> None:
    """The token comes from BOT_TOKEN, else BOT_TOKEN_FILE, else the systemd credential;
    missing, malformed, unreadable or binary, it is refused without being echoed, and
    it never shows in the settings' repr."""
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    assert Settings.from_env({"BOT_TOKEN_FILE": str(token_file)}).token == TOKEN
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "bot_token").write_text(TOKEN)
    assert Settings.from_env({"CREDENTIALS_DIRECTORY": str(creds)}).token == TOKEN
    assert TOKEN not in repr(settings())

    binary = tmp_path / "binary"
    binary.write_bytes(b"123:\xff\xfehunter2")
    cases = {
        "nothing": {},
        "malformed": {"BOT_TOKEN": "not-a-token"},
        "missing file": {"BOT_TOKEN_FILE": str(tmp_path / "nope")},
        "a directory": {"BOT_TOKEN_FILE": str(tmp_path)},
        "binary file": {"BOT_TOKEN_FILE": str(binary)},
    }
    for case, env in cases.items():
        with pytest.raises(ConfigError) as caught:
            Settings.from_env(env)
        message = str(caught.value)
        assert "token" in message, case
        assert "not-a-token" not in message
        assert "hunter2" not in message


def test_the_reminder_lead_is_whole_seconds_up_to_a_week() -> None:
    """JIGAIDO_REMIND_LEAD: 24 hours by default, whole seconds from 1 to a week, else
    one line naming it."""
    assert Settings.from_env({"BOT_TOKEN": "1:x"}).remind_lead == 86400
    assert Settings.from_env({"BOT_TOKEN": "1:x", "JIGAIDO_REMIND_LEAD": "60"}).remind_lead == 60
    for bad in ("0", "1.5", "604801", "abc", "-5"):
        with pytest.raises(ConfigError, match="JIGAIDO_REMIND_LEAD"):
            Settings.from_env({"BOT_TOKEN": "1:x", "JIGAIDO_REMIND_LEAD": bad})
