"""jigaido: a Telegram bot that keeps bounties for groups and private chats."""

__version__ = "1.0.0"
