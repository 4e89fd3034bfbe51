"""What a messaging account (a Telegram user, a WeChat openid, a WeCom member) is to the domain,
whatever the channel: linking (one-time code, phone number), per-account settings (spoken
replies), the staff and township queues, taking charge of an emergency, and photos on
grievances. Each method is one transaction through a domain module (blocking: call it with
``asyncio.to_thread``); the handlers never touch the database themselves.

A channel subclasses :class:`ChannelAccounts` with its name and its :attr:`~ChannelAccounts.texts`
(the channel's own wording: how to link, how to switch voice replies off, ...), the attributes
listed in :class:`AccountTexts`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from sqlalchemy import select

from bot import grievances
from bot.channels.alerts import take_charge
from bot.channels.uploads import discard_uploads, save_upload
from bot.db import session_scope
from bot.identity import (
    Actor,
    identity_settings,
    resolve_actor,
    update_identity_settings,
    user_for_channel,
)
from bot.linking import LinkError, link_by_phone, link_with_code
from bot.models import Grievance, Village, utcnow

QUEUE_SHOWN = 10  # queue items listed by /myqueue
QUEUE_DESCRIPTION_CHARS = 30
RECENT_FILING = dt.timedelta(minutes=30)  # a photo sent this soon after filing joins the grievance


class AccountTexts(Protocol):
    """The sentences a channel's :class:`ChannelAccounts` answers with (its ``texts`` module)."""

    LINK_USAGE: str
    LINKED: str  # {name}
    PHONE_NOT_FOUND: str
    NEED_LINK: str
    VOICE_ON: str
    VOICE_OFF: str
    STAFF_ONLY: str
    QUEUE_EMPTY: str
    QUEUE: str  # {count} {lines}
    QUEUE_LINE: str  # {ticket} {state} {category} {place} {description}
    TOWNSHIP_QUEUE_EMPTY: str
    TOWNSHIP_QUEUE: str  # {count} {lines}
    TOWNSHIP_QUEUE_LINE: str  # {ticket} {village} {category} {place} {description} {overdue}
    OVERDUE: str
    PHOTO_ATTACHED: str  # {ticket}


@dataclass(frozen=True)
class ChannelAccounts:
    """The domain as one channel sees it, on one database (``db_url`` None: the configured one)
    with uploads under ``<var_dir>/uploads/``. ``user`` is the channel's own id of the account
    (Telegram's numeric user id, an openid, a WeCom UserID)."""

    var_dir: Path | None = None
    db_url: str | None = None
    channel: str = ""
    texts: ClassVar[Any] = None  # an AccountTexts (the channel's texts module)

    def _db(self, write: bool = False):
        return session_scope(write=write, url=self.db_url)

    def sender(self, user: str | int) -> str:
        """The Rasa sender id, ``<channel>:<user>``."""
        return f"{self.channel}:{user}"

    def actor(self, user: str | int) -> Actor:
        with self._db() as s:
            return resolve_actor(s, self.sender(user))

    def display_name(self, user: str | int) -> str | None:
        """The linked person's name, or None for an account nobody linked yet."""
        actor = self.actor(user)
        return actor.display_name if actor.user_id is not None else None

    # ------------------------------------------------------------------ linking

    def link_with_code(self, user: str | int, code: str) -> str:
        """The answer to a link command with ``code`` (``/link 123456``, ``绑定 123456``)."""
        if not code:
            return self.texts.LINK_USAGE
        with self._db(write=True) as s:
            try:  # inside the transaction, so a refused code is counted
                found = link_with_code(s, self.channel, str(user), code)
            except LinkError as exc:
                return exc.message
            return self.texts.LINKED.format(name=found.display_name)

    def link_by_phone(self, user: str | int, phone: str) -> str:
        """The answer to a phone number the platform vouched for as the sender's own (Telegram's
        contact button; WeChat shares no phone number with an account)."""
        with self._db(write=True) as s:
            found = link_by_phone(s, self.channel, str(user), phone)
            return self.texts.LINKED.format(name=found.display_name) if found else self.texts.PHONE_NOT_FOUND

    # ------------------------------------------------------------------ settings

    def wants_voice_replies(self, user: str | int) -> bool:
        with self._db() as s:
            return bool(identity_settings(s, self.channel, user).get("voice_reply"))

    def toggle_voice_replies(self, user: str | int) -> str:
        """The answer to the voice command: spoken replies switched on or off for a linked account."""
        return self.set_voice_replies(user, None)

    def set_voice_replies(self, user: str | int, on: bool | None) -> str:
        """Spoken replies on (True), off (False) or the other way round (None), for a linked account."""
        with self._db(write=True) as s:
            if user_for_channel(s, self.channel, user) is None:
                return self.texts.NEED_LINK
            if on is None:
                on = not identity_settings(s, self.channel, user).get("voice_reply", False)
            update_identity_settings(s, self.channel, user, voice_reply=on)
            return self.texts.VOICE_ON if on else self.texts.VOICE_OFF

    # ------------------------------------------------------------------ staff

    def staff_queue(self, user: str | int) -> str:
        """The answer to ``/myqueue``: a grid worker's open grievances; for township staff, the
        grievances the villages escalated to the township."""
        texts = self.texts
        with self._db(write=True) as s:  # reading the queue is audited
            actor = resolve_actor(s, self.sender(user))
            if actor.is_township:
                return self._township_queue(s, actor)
            if not actor.is_staff:
                return texts.STAFF_ONLY
            views = grievances.open_queue(s, actor)
        if not views:
            return texts.QUEUE_EMPTY
        lines = [texts.QUEUE_LINE.format(ticket=v.ticket_no, state=v.state_name, category=v.category, place=v.place,
                                         description=v.description[:QUEUE_DESCRIPTION_CHARS])
                 for v in views[:QUEUE_SHOWN]]
        return texts.QUEUE.format(count=len(views), lines="\n".join(lines))

    def _township_queue(self, s, actor: Actor) -> str:
        texts = self.texts
        views = grievances.township_queue(s, actor)
        if not views:
            return texts.TOWNSHIP_QUEUE_EMPTY
        villages = dict(s.execute(
            select(Grievance.ticket_no, Village.name).join(Village, Village.id == Grievance.village_id)
            .where(Grievance.ticket_no.in_([v.ticket_no for v in views]))).all())
        lines = [texts.TOWNSHIP_QUEUE_LINE.format(
            ticket=v.ticket_no, village=villages.get(v.ticket_no, ""), category=v.category, place=v.place,
            description=v.description[:QUEUE_DESCRIPTION_CHARS], overdue=texts.OVERDUE if v.overdue else "")
            for v in views[:QUEUE_SHOWN]]
        return texts.TOWNSHIP_QUEUE.format(count=len(views), lines="\n".join(lines))

    # ------------------------------------------------------------------ emergencies

    def acknowledge_emergency(self, user: str | int, emergency_id: int) -> str:
        """The answer to an alert's "收到，我去处理" button: the presser takes charge (the first
        responsible person to do so wins); the caller and the relatives are told who is coming."""
        with self._db(write=True) as s:
            actor = resolve_actor(s, self.sender(user))
            if actor.user_id is None:
                return self.texts.NEED_LINK
            return take_charge(s, actor, emergency_id)  # inside the transaction: refusals stay audited

    # ------------------------------------------------------------------ photos

    def save_upload(self, user: str | int, data: bytes) -> str:
        """Stores a photo under <var>/uploads/; returns its path relative to <var>."""
        return save_upload(self.var_dir, self.channel, data)

    def discard_uploads(self, paths: list[str]) -> None:
        discard_uploads(self.var_dir, paths)

    def recent_grievance(self, user: str | int, since: dt.datetime | None = None) -> int | None:
        """The user's grievance filed since ``since`` (default: within :data:`RECENT_FILING`)."""
        with self._db() as s:
            actor = resolve_actor(s, self.sender(user))
            return grievances.latest_filed_since(s, actor, since or utcnow() - RECENT_FILING)

    def attach_photos(self, user: str | int, grievance_id: int, paths: list[str]) -> str:
        """Records the photos on the grievance; returns the answer to show."""
        with self._db(write=True) as s:
            ticket = grievances.attach_photos(s, resolve_actor(s, self.sender(user)), grievance_id, paths)
        return self.texts.PHOTO_ATTACHED.format(ticket=ticket)
