"""What a WeChat user (an openid of the Official Account) is to the domain: the Rasa sender,
the linked person's name, and linking by one-time code (:mod:`bot.linking`, channel
``wechat``). Each function is one transaction (blocking: call it with ``asyncio.to_thread``)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from bot import grievances
from bot.channels.alerts import take_charge
from bot.channels.uploads import discard_uploads, save_upload
from bot.channels.wechat import texts
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.linking import LinkError, link_with_code
from bot.models import utcnow

CHANNEL = "wechat"
RECENT_FILING = dt.timedelta(minutes=30)  # a photo sent this soon after filing joins the grievance
# "绑定 123456", "绑定码：123456", "/link 123456" (full-width digits and spaces are normalised first).
LINK_COMMAND = re.compile(r"^(?:/link|绑定码?|绑定身份)\s*[:：]?\s*(\d*)\s*$", re.IGNORECASE)


def sender_id(openid: str, channel: str = CHANNEL) -> str:
    return f"{channel}:{openid}"


def link_code(text: str) -> str | None:
    """The code of a link command ("" when the command has none); None when ``text`` is no link command."""
    found = LINK_COMMAND.match(text.strip().translate(_FULL_WIDTH))
    return found.group(1) if found else None


_FULL_WIDTH = str.maketrans("０１２３４５６７８９\u3000", "0123456789 ")


@dataclass(frozen=True)
class Accounts:
    """The domain as the WeChat channel sees it, on one database (None: the configured one);
    ``channel`` is ``wechat`` for the Official Account, ``wecom`` for the staff's WeCom app."""

    db_url: str | None = None
    channel: str = CHANNEL
    var_dir: Path | None = None  # uploads go to <var_dir>/uploads/

    def sender(self, user: str) -> str:
        return sender_id(user, self.channel)

    def display_name(self, openid: str) -> str | None:
        """The linked person's name, or None for an account nobody linked yet."""
        with session_scope(url=self.db_url) as s:
            actor = resolve_actor(s, self.sender(openid))
            return actor.display_name if actor.user_id is not None else None

    def link_with_code(self, openid: str, code: str) -> str:
        """The answer to "绑定 <code>"."""
        if not code:
            return texts.LINK_USAGE
        with session_scope(write=True, url=self.db_url) as s:
            try:  # inside the transaction, so a refused code is counted
                user = link_with_code(s, self.channel, openid, code)
            except LinkError as exc:
                return exc.message
            return texts.LINKED.format(name=user.display_name)

    def acknowledge_emergency(self, user: str, emergency_id: int) -> str:
        """The answer to an alert's "收到，我去处理" button: the presser takes charge (the first
        responsible person to do so wins); the caller and the relatives are told who is coming."""
        with session_scope(write=True, url=self.db_url) as s:
            actor = resolve_actor(s, self.sender(user))
            if actor.user_id is None:
                return texts.NEED_LINK
            return take_charge(s, actor, emergency_id)  # inside the transaction: refusals stay audited


    # ------------------------------------------------------------------ photos

    def save_upload(self, user: str, data: bytes) -> str:
        """Stores a photo under <var>/uploads/; returns its path relative to <var>."""
        return save_upload(self.var_dir, self.channel, data)

    def discard_uploads(self, paths: list[str]) -> None:
        discard_uploads(self.var_dir, paths)

    def recent_grievance(self, user: str, since: dt.datetime | None = None) -> int | None:
        """The user's grievance filed since ``since`` (default: within :data:`RECENT_FILING`)."""
        with session_scope(url=self.db_url) as s:
            actor = resolve_actor(s, self.sender(user))
            return grievances.latest_filed_since(s, actor, since or utcnow() - RECENT_FILING)

    def attach_photos(self, user: str, grievance_id: int, paths: list[str]) -> str:
        """Records the photos on the grievance; returns the answer to show."""
        with session_scope(write=True, url=self.db_url) as s:
            ticket = grievances.attach_photos(s, resolve_actor(s, self.sender(user)), grievance_id, paths)
        return texts.PHOTO_ATTACHED.format(ticket=ticket)


