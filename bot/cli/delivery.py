"""``outbox``: what waits to be delivered and who can receive it (``status``), and one delivery
run over Telegram from the command line (``deliver``; the bot does this every few seconds
itself, so use it while the bot is not running)."""
from __future__ import annotations

import asyncio
from collections import Counter

from bot.config import Settings


def register(sub) -> None:
    p = sub.add_parser("outbox", help="notifications: status (backlog, who can receive it), deliver (Telegram, once)")
    p.add_argument("action", choices=("status", "deliver"))
    p.add_argument("--rounds", type=int, default=20, help="deliver: at most this many batches")
    p.set_defaults(func=cmd_outbox)


def reach(s) -> dict[str, Counter]:
    """Undelivered messages by kind, split by how their recipient can get them: telegram, a
    voice device, or nowhere (nobody linked: the message waits until somebody links)."""
    from sqlalchemy import select

    from bot.models import ChannelIdentity, OutboxMessage
    from bot.outbox import MAX_ATTEMPTS, for_channel

    telegram, voice = set(), set()
    for ident in s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "telegram",
                                                         ChannelIdentity.user_id.is_not(None))).scalars():
        telegram.add(("user", ident.user_id))
        resident = ident.user.resident
        household_id = ident.household_id or (resident.household_id if resident is not None else None)
        if household_id is not None:
            telegram.add(("household", household_id))
    for ident in s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == "voice",
                                                         ChannelIdentity.revoked_at.is_(None))).scalars():
        voice.add(("user", ident.user_id) if ident.user_id is not None else ("household", ident.household_id))
    counts: dict[str, Counter] = {"telegram": Counter(), "voice": Counter(), "nowhere": Counter(),
                                  "given up": Counter()}
    for row in s.execute(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))).scalars():
        who = ("user", row.user_id) if row.user_id is not None else ("household", row.household_id)
        if row.attempts >= MAX_ATTEMPTS and not (who in voice and for_channel(row.payload, "voice")):
            counts["given up"][row.kind] += 1
        elif who in voice and for_channel(row.payload, "voice"):
            counts["voice"][row.kind] += 1
        elif who in telegram and for_channel(row.payload, "telegram"):
            counts["telegram"][row.kind] += 1
        else:
            counts["nowhere"][row.kind] += 1
    return counts


async def deliver_over_telegram(settings: Settings, rounds: int) -> int:
    from telegram import Bot

    from bot.channels.telegram.config import TelegramConfig
    from bot.channels.telegram.delivery import TelegramDelivery
    from bot.outbox import Deliverer

    config = TelegramConfig.from_settings(settings)
    if config is None:
        raise SystemExit("Telegram is not configured (XIANGYIN_TELEGRAM_TOKEN): nothing can be pushed.")
    bot = Bot(config.token, base_url=f"{config.api_url}/bot", base_file_url=f"{config.api_url}/file/bot")
    async with bot:
        deliverer = Deliverer(TelegramDelivery(bot), settings.database_url)
        delivered = 0
        for _ in range(max(rounds, 1)):
            sent = await deliverer.deliver_once()
            delivered += sent
            if not sent:
                break
    return delivered


def cmd_outbox(args, settings: Settings) -> int:
    from bot.db import session_scope

    if args.action == "deliver":
        delivered = asyncio.run(deliver_over_telegram(settings, args.rounds))
        print(f"通过电报送达 {delivered} 条。 / delivered {delivered} over Telegram.")
    with session_scope(url=settings.database_url) as s:
        counts = reach(s)
    total = sum(sum(c.values()) for c in counts.values())
    print(f"待送达 / waiting: {total}")
    labels = {"telegram": "电报 / telegram", "voice": "语音设备 / voice device (next poll)",
              "nowhere": "没人能收到 / nobody linked", "given up": "放弃 / given up"}
    for where, kinds in counts.items():
        if kinds:
            detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
            print(f"  {labels[where]}: {sum(kinds.values())}  ({detail})")
    return 0
