"""First contact: what Telegram shows of the bot before anyone has written to it, the
greeting when it is added to a group, and what `jigaido run` says once it is up."""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import ChatMemberUpdated, Update

from jigaido.core.commands import GREET, Request
from jigaido.shell.pool import Job, Pool

log = logging.getLogger(__name__)

router = Router(name="intro")

# Shown on the bot's profile and in an empty chat, before /start (at most 512 and 120
# characters).
DESCRIPTION = (
    "I keep bounties: small tasks with a text, an optional link and a due date. Add me "
    "to a group and its members add bounties, claim them, track them and mark them "
    "done; in a private chat I keep your own list. Send /start, then /help."
)
SHORT_DESCRIPTION = "Bounties for your group: add small tasks, claim them, get them done."
_PRESENT = ("member", "administrator", "creator", "restricted")


@router.my_chat_member()
async def on_added(event: ChatMemberUpdated, event_update: Update, pool: Pool) -> Job | None:
    """Greet a group the bot has just joined, once, through the chat's worker (so the
    greeting keeps Telegram's limits and comes in order with the first answers)."""
    chat = event.chat
    if chat.type not in ("group", "supergroup"):
        return None
    joined = event.new_chat_member.status in _PRESENT
    if not joined or event.old_chat_member.status in _PRESENT:
        return None  # a change of rights, or leaving: nothing to say
    return await pool.submit(
        Request(
            update_id=event_update.update_id,
            chat_id=chat.id,
            kind="group",
            user_id=None,
            message_id=0,  # nothing to reply to
            command=GREET,
        )
    )


async def describe(bot: Bot) -> None:
    """Tell Telegram what the bot does, shown before anyone writes to it."""
    try:
        await bot.set_my_description(description=DESCRIPTION)
        await bot.set_my_short_description(short_description=SHORT_DESCRIPTION)
    except (TelegramAPIError, TelegramNetworkError) as e:
        log.warning("could not set the bot's description: %s", e)


def started(username: str, mode: str, data_dir: Path) -> str:
    """The line `jigaido run` logs once it serves: who it is, what to do next, where its
    files are and how to stop it."""
    return (
        f"jigaido started as @{username} ({mode}): send /start to @{username} in Telegram, "
        f"or add it to a group; data in {data_dir.absolute()}; stop with Ctrl-C or SIGTERM"
    )
