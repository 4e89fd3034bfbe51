"""WeChat as an outbox delivery adapter (:class:`bot.outbox.DeliveryAdapter`): pushes the
notifications the domain recorded to every linked WeChat account of their recipient, as
customer-service messages (客服消息). Messages meant for voice devices only (payload
``channels: ["voice"]``) are left to them. An Official Account has no buttons under a text
message; an emergency alert already says "回复“收到”表示您去处理", and a typed "收到" takes charge
through Rasa as the Telegram button does.

WeChat accepts a customer-service message only within 48 hours of the user's last message to
the account (errcode 45015 after that) and only to followers (43004 once they unfollowed); both
count as a refusal for that account. Reaching people outside the window takes template messages
(模板消息, a verified service account with an approved template) or subscribe messages
(订阅通知, the user agrees per message): not built yet, see the README.

The claim/deliver/retry bookkeeping and its guarantees live in :mod:`bot.outbox`; the channel
runs :meth:`bot.outbox.Deliverer.deliver_once` every ``outbox_interval`` seconds.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from sqlalchemy.orm import Session

from bot.channels.wechat.accounts import CHANNEL
from bot.channels.wechat.api import WeChatAPI, WeChatAPIError
from bot.channels.wechat.protocol import OPENID
from bot.outbox import Claim, DeliveryAdapter, Recipients, SendResult, linked_recipients

logger = logging.getLogger(__name__)

REFUSED = {40003, 43004, 45015}  # not an openid of ours, unfollowed, outside the 48-hour window
SLOW_DOWN = {45009, 45047}  # daily API quota used up, too many messages to this user in a row
SLOW_DOWN_SECONDS = 600.0


def is_openid(external_id: str) -> bool:
    return bool(OPENID.fullmatch(external_id))


class WeChatDelivery(DeliveryAdapter):
    channel = CHANNEL

    def __init__(self, api: WeChatAPI | None = None):
        self.api = api  # set when the channel starts; claiming works without it

    def recipients(self, s: Session) -> Recipients:
        return linked_recipients(s, CHANNEL, accepts=is_openid)

    async def send(self, claim: Claim) -> SendResult:
        return await send_each(claim, lambda openid: self.api.send_text(openid, claim.text))


async def send_each(claim: Claim, send_one: Callable[[str], Awaitable[Any]], *, refused_codes=REFUSED,
                    slow_down_codes=SLOW_DOWN, pause_seconds: float = SLOW_DOWN_SECONDS) -> SendResult:
    """Sends one claimed message to each of its addresses (WeChat openids, WeCom members): a quota
    error (``slow_down_codes``, each API has its own) pauses delivery at once; a refused address
    (``refused_codes``: outside the 48-hour window, unfollowed, unknown) counts as refused; the
    message is delivered when any address took it."""
    sent = refused = 0
    for address in claim.addresses:
        try:
            await send_one(address)
            sent += 1
        except WeChatAPIError as exc:
            if exc.errcode in slow_down_codes:
                return SendResult(delivered=bool(sent), retry_in=pause_seconds, pause=True)
            if exc.errcode in refused_codes:
                logger.info("outbox %s: address refused (%s)", claim.outbox_id, exc.errcode)
                refused += 1
            else:
                logger.info("outbox %s: attempt %s failed (%s)", claim.outbox_id, claim.attempt, exc)
    return SendResult(delivered=bool(sent), refused=refused == len(claim.addresses))
