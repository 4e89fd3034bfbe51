"""WeChat as an outbox delivery adapter (:class:`bot.outbox.DeliveryAdapter`): pushes the
notifications the domain recorded to every linked WeChat account of their recipient, as
customer-service messages (客服消息). Messages meant for voice devices only (payload
``channels: ["voice"]``) are left to them. An Official Account has no buttons under a text
message; an emergency alert already says "回复“收到”表示您去处理", and a typed "收到" takes charge
through Rasa as the Telegram button does.

WeChat accepts a customer-service message only within 48 hours of the user's last message to
the account (errcode 45015 after that) and only to followers (43004 once they unfollowed); both
count as a refusal for that account. Outside the window, when a template is configured
(:class:`Template`: ``XIANGYIN_WECHAT_TEMPLATE_ID``, a template from the library of a verified
service account), the notification goes out as that template message instead (its text cut to
the template field's length); without one it stays refused. Subscribe messages (订阅通知, the
user agrees per message) are not built.

The claim/deliver/retry bookkeeping and its guarantees live in :mod:`bot.outbox`; the channel
runs :meth:`bot.outbox.Deliverer.deliver_once` every ``outbox_interval`` seconds.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from sqlalchemy.orm import Session

from bot.channels.wechat import texts
from bot.channels.wechat.accounts import CHANNEL
from bot.channels.wechat.api import WeChatAPI, WeChatAPIError
from bot.channels.wechat.protocol import OPENID
from bot.clock import to_local
from bot.models import utcnow
from bot.outbox import Claim, DeliveryAdapter, Recipients, SendResult, linked_recipients

logger = logging.getLogger(__name__)

OUT_OF_WINDOW = 45015  # the user last wrote more than 48 hours ago
BAD_TEMPLATE = {40037, 47001, 47003}  # no such template id; template data malformed / field values invalid
REFUSED = {40003, 43004, OUT_OF_WINDOW} | BAD_TEMPLATE  # + not an openid of ours, unfollowed
SLOW_DOWN = {45009, 45047}  # daily API quota used up, too many messages to this user in a row
SLOW_DOWN_SECONDS = 600.0


def is_openid(external_id: str) -> bool:
    return bool(OPENID.fullmatch(external_id))


@dataclass(frozen=True)
class Template:
    """The template message (模板消息) that carries a notification outside the 48-hour window."""

    template_id: str
    text_field: str = "thing1"
    text_chars: int = 20
    time_field: str | None = None

    def data(self, text: str, at: dt.datetime | None = None) -> dict[str, str]:
        """The template's field values for a notification: its text (on one line, cut to
        ``text_chars`` with …) and, when the template has a time field, the village time."""
        line = " ".join(text.split())
        if len(line) > self.text_chars:
            line = line[: self.text_chars - len(texts.TEMPLATE_CUT)] + texts.TEMPLATE_CUT
        values = {self.text_field: line}
        if self.time_field:
            values[self.time_field] = to_local(at or utcnow()).strftime("%Y-%m-%d %H:%M")
        return values


class WeChatDelivery(DeliveryAdapter):
    channel = CHANNEL

    def __init__(self, api: WeChatAPI | None = None, template: Template | None = None):
        self.api = api  # set when the channel starts; claiming works without it
        self.template = template

    def recipients(self, s: Session) -> Recipients:
        return linked_recipients(s, CHANNEL, accepts=is_openid)

    async def _send_one(self, claim: Claim, openid: str) -> None:
        """A customer-service message; outside the 48-hour window the template, when there is one."""
        try:
            await self.api.send_text(openid, claim.text)
        except WeChatAPIError as exc:
            if exc.errcode != OUT_OF_WINDOW or self.template is None:
                raise
        else:
            return
        logger.info("outbox %s: outside the 48-hour window, sent as a template message", claim.outbox_id)
        try:
            await self.api.send_template(openid, self.template.template_id, self.template.data(claim.text))
        except WeChatAPIError as exc:
            if exc.errcode in BAD_TEMPLATE:
                logger.warning("outbox %s: WeChat refused the template message (%s): check "
                               "XIANGYIN_WECHAT_TEMPLATE_ID and its field names", claim.outbox_id, exc)
            raise

    async def send(self, claim: Claim) -> SendResult:
        return await send_each(claim, lambda openid: self._send_one(claim, openid))


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
