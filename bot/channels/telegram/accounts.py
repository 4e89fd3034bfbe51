"""What a Telegram user is to the domain: linking, per-account settings, the staff and township
queues, taking charge of an emergency, and photos on grievances. The logic is the channels'
shared one (:mod:`bot.channels.accounts`); this binds it to the channel name ``telegram`` and
the bot's own wording (:mod:`.texts`). Each method is one transaction (blocking: call it with
``asyncio.to_thread``); the handlers never touch the database themselves."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.channels.accounts import (  # noqa: F401 - the shared logic and its limits
    QUEUE_DESCRIPTION_CHARS,
    QUEUE_SHOWN,
    RECENT_FILING,
    ChannelAccounts,
)
from bot.channels.telegram import texts as telegram_texts

CHANNEL = "telegram"


def sender_id(user_id: int) -> str:
    return f"{CHANNEL}:{user_id}"


@dataclass(frozen=True)
class Accounts(ChannelAccounts):
    """The domain as the Telegram bot sees it, on one database (``db_url`` None: the configured
    one) with uploads under ``var_dir``."""

    var_dir: Path | None = None
    db_url: str | None = None
    channel: str = CHANNEL
    texts = telegram_texts
