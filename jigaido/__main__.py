"""Command line: `jigaido run` starts the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from jigaido import __version__
from jigaido.errors import ConfigError
from jigaido.settings import Settings


class _Redact(logging.Filter):
    """Defence in depth: no log line ever carries the token, whoever logs it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<token>"), None
        return True


def setup_logging(token: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redact(token))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # aiogram logs a line per update at INFO; the bot's own lines say what matters.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jigaido", description="Bounties for Telegram groups.")
    parser.add_argument("--version", action="version", version=f"jigaido {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the bot (long polling)")
    parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"jigaido: {e}", file=sys.stderr)
        return 2
    setup_logging(settings.token)

    from jigaido import service  # aiogram's import is slow; not needed to report bad config

    try:
        asyncio.run(service.run(settings))
    except ConfigError as e:
        print(f"jigaido: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
