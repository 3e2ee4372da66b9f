"""Command line: `jigaido run` starts the bot, `jigaido check` checks its data, `jigaido
try` chats with it in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jigaido import __version__
from jigaido.core.errors import ConfigError
from jigaido.face.settings import Settings, WebhookSettings, data_dir_from_env
from jigaido.shell import datadir, logs

RUN_ENVIRONMENT = """\
settings, from the environment:
  BOT_TOKEN               the bot's token from @BotFather (or BOT_TOKEN_FILE: a file
                          holding it; under systemd, the credential bot_token)
  JIGAIDO_DATA_DIR        where the chats' files live (default: $STATE_DIRECTORY, else
                          ./data)
  JIGAIDO_TZ              the time zone of due dates, e.g. Europe/Berlin (default: UTC;
                          each chat may set its own with /timezone)
  TELEGRAM_API_URL        the Bot API server (default: https://api.telegram.org)
  JIGAIDO_POLL_TIMEOUT    the long poll's timeout, 1 to 300 seconds (default: 30)
  JIGAIDO_IDLE_SECONDS    a chat's worker stops after this long idle (default: 300)
  JIGAIDO_WEBHOOK_SECRET  the webhook's secret token (default: derived from the token)

example: BOT_TOKEN=123456:your-token jigaido run
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jigaido", description="Bounties for Telegram groups.")
    parser.add_argument("--version", action="version", version=f"jigaido {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="start the bot (long polling, or a webhook with --webhook)",
        description="Start the bot: long polling, or a webhook with --webhook and --listen.",
        epilog=RUN_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--webhook",
        metavar="URL",
        help="receive updates at this public https:// URL instead of polling (needs --listen)",
    )
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where the webhook's listener accepts what the reverse proxy forwards",
    )
    inspect = sub.add_parser(
        "check", help="report damaged or leftover files in the data directory (read-only)"
    )
    inspect.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="default: JIGAIDO_DATA_DIR, else $STATE_DIRECTORY, else ./data (as for run)",
    )
    trial = sub.add_parser(
        "try", help="chat with the bot in this terminal: no token, no network, nothing to set up"
    )
    trial.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data-try"),
        metavar="DIR",
        help="where its files are kept (default: ./data-try; never the bot's own data)",
    )
    options = parser.parse_args(argv)
    if options.command == "try":
        return _try(options.data_dir)
    if options.command == "check":
        from jigaido.face import check  # only here: `run` need not pay for its import

        return check.main(options.data_dir or data_dir_from_env(os.environ))
    if (options.webhook is None) != (options.listen is None):
        parser.error("--webhook and --listen go together")

    try:
        settings = Settings.from_env()
        if options.webhook is not None:
            webhook = WebhookSettings.from_args(
                options.webhook, options.listen, os.environ, settings.token
            )
            settings = replace(settings, webhook=webhook)
        # Before service's slow import, so a wrong directory or a second bot is told at once.
        held = datadir.hold(settings.data_dir)
    except ConfigError as e:
        logs.fatal(str(e))
        return 2
    with held:  # released by the kernel too, however the process ends
        secrets = {"token": settings.token}
        if settings.webhook is not None:
            secrets["webhook secret"] = settings.webhook.secret
        logs.setup(secrets)

        from jigaido.face import (
            service,  # aiogram's import is slow; not needed to report bad config
        )

        try:
            asyncio.run(service.run(settings))
        except ConfigError as e:  # such as Telegram refusing the token
            logs.fatal(str(e))
            return 2
    return 0


def _try(data_dir: Path) -> int:
    from jigaido.face import (
        terminal,  # standard library only: the hint comes before aiogram's import
    )

    try:
        tz = _zone(os.environ.get("JIGAIDO_TZ"))
        held = datadir.hold(data_dir)
    except ConfigError as e:
        logs.fatal(str(e))
        return 2
    with held:
        # Whatever the locale, a character the terminal cannot show must not end the chat.
        for stream in (sys.stdin, sys.stdout):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="replace")
        screen = terminal.Terminal(sys.stdin, sys.stdout, os.environ)
        screen.say(terminal.hint(data_dir))
        logs.setup({}, level=logging.WARNING)  # the chat is the output; only trouble is logged
        try:
            from jigaido.face import trychat  # aiogram's import is slow

            asyncio.run(trychat.run(data_dir, tz, screen))
        except KeyboardInterrupt:  # before the chat took over Ctrl-C: nothing to save yet
            screen.close()
    return 0


def _zone(name: str | None) -> tzinfo:
    """JIGAIDO_TZ, as `run` reads it (settings.py)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"JIGAIDO_TZ={name!r} is not a known time zone") from e


if __name__ == "__main__":
    sys.exit(main())
