"""Telegram as an outbox delivery adapter (:class:`bot.outbox.DeliveryAdapter`): pushes the
notifications the domain recorded to every linked Telegram account of their recipient (staff,
villagers, township staff, relatives living elsewhere). Messages meant for voice devices only
(payload ``channels: ["voice"]``, such as the notice offer "要听吗") are left to them. An
emergency alert carries the button "收到，我去处理" (:func:`~.keyboards.ack_keyboard`), which takes
charge of it; a question carries its quick replies (the 回访's 满意/基本满意/不满意).

The claim/deliver/retry bookkeeping and its guarantees live in :mod:`bot.outbox`; the
application runs :meth:`bot.outbox.Deliverer.deliver_once` as a repeating JobQueue job.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.channels.telegram.accounts import CHANNEL
from bot.channels.telegram.keyboards import ack_keyboard, quick_reply_keyboard
from bot.outbox import Claim, DeliveryAdapter, Recipients, SendResult, linked_recipients

logger = logging.getLogger(__name__)


def is_chat_id(external_id: str) -> bool:
    return external_id.lstrip("-").isdigit()


def seconds(value: float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def markup_for(claim: Claim):
    """The buttons a pushed message carries: "收到，我去处理" on an alert that waits for somebody
    to take charge, else the question's quick replies, else none."""
    emergency_id = claim.payload.get("emergency_id")
    if claim.kind == "emergency" and claim.payload.get("expects") == "acknowledge" and emergency_id:
        return ack_keyboard(int(emergency_id))
    return quick_reply_keyboard(claim.text)  # e.g. the satisfaction survey's three answers


class TelegramDelivery(DeliveryAdapter):
    channel = CHANNEL

    def __init__(self, bot: Bot | None = None):
        self.bot = bot  # set when the application starts; claiming works without it

    def recipients(self, s: Session) -> Recipients:
        return linked_recipients(s, CHANNEL, accepts=is_chat_id)

    async def send(self, claim: Claim) -> SendResult:
        sent = refused = 0
        markup = markup_for(claim)
        for chat_id in claim.addresses:
            try:
                await self.bot.send_message(int(chat_id), claim.text, reply_markup=markup)
                sent += 1
            except RetryAfter as exc:  # flood control: wait as long as Telegram asks, send nothing else
                return SendResult(delivered=bool(sent), retry_in=seconds(exc.retry_after), pause=True)
            except (Forbidden, BadRequest) as exc:  # blocked the bot, chat gone
                logger.info("outbox %s: chat refused (%s)", claim.outbox_id, type(exc).__name__)
                refused += 1
            except TelegramError as exc:
                logger.info("outbox %s: attempt %s failed (%s)", claim.outbox_id, claim.attempt, type(exc).__name__)
        return SendResult(delivered=bool(sent), refused=refused == len(claim.addresses))
