"""What a Telegram user is to the domain: linking, per-account settings, the staff and township
queues, taking charge of an emergency, and photos on grievances. Each function is one
transaction through a domain module (blocking: call it with ``asyncio.to_thread``); the
handlers never touch the database themselves."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot import grievances
from bot.channels.alerts import take_charge
from bot.channels.uploads import discard_uploads, save_upload
from bot.channels.telegram import texts
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

CHANNEL = "telegram"
QUEUE_SHOWN = 10  # queue items listed by /myqueue
QUEUE_DESCRIPTION_CHARS = 30
RECENT_FILING = dt.timedelta(minutes=30)  # a photo sent this soon after filing joins the grievance


def sender_id(user_id: int) -> str:
    return f"{CHANNEL}:{user_id}"




@dataclass(frozen=True)
class Accounts:
    """The domain as the Telegram bot sees it, on one database (``db_url`` None: the configured
    one) with uploads under ``var_dir``."""

    var_dir: Path
    db_url: str | None = None

    def _db(self, write: bool = False):
        return session_scope(write=write, url=self.db_url)

    def actor(self, user_id: int) -> Actor:
        with self._db() as s:
            return resolve_actor(s, sender_id(user_id))

    # ------------------------------------------------------------------ linking

    def link_with_code(self, user_id: int, code: str) -> str:
        """The answer to ``/link <code>``."""
        with self._db(write=True) as s:
            try:  # inside the transaction, so a refused code is counted
                user = link_with_code(s, CHANNEL, str(user_id), code)
            except LinkError as exc:
                return exc.message
            return texts.LINKED.format(name=user.display_name)

    def link_by_phone(self, user_id: int, phone: str) -> str:
        """The answer to a shared contact (the caller checked it is the sender's own)."""
        with self._db(write=True) as s:
            found = link_by_phone(s, CHANNEL, str(user_id), phone)
            return texts.LINKED.format(name=found.display_name) if found else texts.PHONE_NOT_FOUND

    # ------------------------------------------------------------------ settings

    def wants_voice_replies(self, user_id: int) -> bool:
        with self._db() as s:
            return bool(identity_settings(s, CHANNEL, user_id).get("voice_reply"))

    def toggle_voice_replies(self, user_id: int) -> str:
        """The answer to ``/voice``: voice replies switched on or off for a linked account."""
        with self._db(write=True) as s:
            if user_for_channel(s, CHANNEL, user_id) is None:
                return texts.NEED_LINK
            on = not identity_settings(s, CHANNEL, user_id).get("voice_reply", False)
            update_identity_settings(s, CHANNEL, user_id, voice_reply=on)
            return texts.VOICE_ON if on else texts.VOICE_OFF

    # ------------------------------------------------------------------ staff

    def staff_queue(self, user_id: int) -> str:
        """The answer to ``/myqueue``: a grid worker's open grievances; for township staff, the
        grievances the villages escalated to the township."""
        with self._db(write=True) as s:  # reading the queue is audited
            actor = resolve_actor(s, sender_id(user_id))
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

    @staticmethod
    def _township_queue(s, actor: Actor) -> str:
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

    def acknowledge_emergency(self, user_id: int, emergency_id: int) -> str:
        """The answer to an alert's "收到，我去处理" button: the presser takes charge (the first
        responsible person to do so wins); the caller and the relatives are told who is coming."""
        with self._db(write=True) as s:
            actor = resolve_actor(s, sender_id(user_id))
            if actor.user_id is None:
                return texts.NEED_LINK
            return take_charge(s, actor, emergency_id)  # inside the transaction: refusals stay audited

    # ------------------------------------------------------------------ photos

    def save_upload(self, user_id: int, data: bytes) -> str:
        """Stores a photo under <var>/uploads/; returns its path relative to <var>."""
        return save_upload(self.var_dir, CHANNEL, data)

    def discard_uploads(self, paths: list[str]) -> None:
        discard_uploads(self.var_dir, paths)

    def recent_grievance(self, user_id: int, since: dt.datetime | None = None) -> int | None:
        """The user's grievance filed since ``since`` (default: within :data:`RECENT_FILING`)."""
        with self._db() as s:
            actor = resolve_actor(s, sender_id(user_id))
            return grievances.latest_filed_since(s, actor, since or utcnow() - RECENT_FILING)

    def attach_photos(self, user_id: int, grievance_id: int, paths: list[str]) -> str:
        """Records the photos on the grievance; returns the answer to show."""
        with self._db(write=True) as s:
            ticket = grievances.attach_photos(s, resolve_actor(s, sender_id(user_id)), grievance_id, paths)
        return texts.PHOTO_ATTACHED.format(ticket=ticket)
