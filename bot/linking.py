"""Linking a chat account (Telegram today, any channel tomorrow) to a villager or staff user.

Two ways, both channel-agnostic and both audited:

* a one-time **link code**: the village office (an admin, or a grid worker for villagers — and
  relatives of households — in the grids they serve) issues a 6-digit code with
  :func:`issue_link_code`; the person sends it from their phone and :func:`link_with_code`
  binds the account. Codes expire (72 hours by default) and work once.
* the **phone number** in the household register: :func:`link_by_phone` binds the account
  of a villager whose registered phone matches a contact the chat platform vouches for
  (Telegram: a contact shared with the "share my number" button, checked to be the
  sender's own).

Relatives living elsewhere (子女在外) have an account of their own with the role ``relative``:
:func:`register_relative` creates it (or finds it) and links it to the household, and the
relative links their Telegram account with a code like anyone else; from then on they hear of
the household's emergencies (bot/emergency.py).

Wrong codes are audited as ``refused``; after :data:`MAX_FAILED_ATTEMPTS` wrong codes in
:data:`FAILED_WINDOW` the account may not try again until the window has passed. The
refusal row is written in the caller's session *before* :class:`LinkError` is raised, so a
caller that wants failures counted catches ``LinkError`` inside its transaction.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.households import resident_by_phone
from bot.identity import (
    AccessDenied,
    Actor,
    audit,
    can_read_household,
    channel_identity,
    link_relative,
    relative_household_ids,
    require_household,
    require_staff,
)
from bot.models import AuditLog, ChannelIdentity, Household, LinkCode, Role, User, utcnow

CODE_DIGITS = 6
LOGIN = re.compile(r"^[a-z][a-z0-9_]{2,31}$")
MAX_FAILED_ATTEMPTS = 5
FAILED_WINDOW = dt.timedelta(hours=24)


class LinkError(Exception):
    """A link code was refused. ``reason`` is one of unknown, expired, used, too_many;
    ``message`` is a short Chinese sentence for the person who sent it."""

    MESSAGES = {
        "unknown": "这个绑定码不对，请核对一下再发。",
        "expired": "这个绑定码已经过期了，请找村委会重新要一个。",
        "used": "这个绑定码已经用过了，请找村委会重新要一个。",
        "too_many": "绑定码错的次数太多了，请明天再试，或者直接找村委会。",
    }

    def __init__(self, reason: str):
        self.reason = reason
        self.message = self.MESSAGES[reason]
        super().__init__(f"link code refused: {reason}")


def _actor_for(channel: str, external_id: str, user: User | None) -> Actor:
    if user is None:
        return Actor(channel=channel, external_id=external_id, village_id=None)
    return Actor(channel=channel, external_id=external_id, village_id=user.village_id, user_id=user.id,
                 role=user.role, display_name=user.display_name)


def _new_code(s: Session) -> str:
    while True:
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        if not s.execute(select(LinkCode.id).where(LinkCode.code == code)).first():
            return code


def issue_link_code(s: Session, admin_actor: Actor, login: str, ttl_hours: float = 72,
                    now: dt.datetime | None = None) -> str:
    """A one-time code that links a chat account to ``login``.

    Admins may issue codes for anyone in their village; grid workers only for villagers
    whose household is in a grid they serve, and for relatives of such households. Raises
    AccessDenied otherwise and LookupError for an unknown login."""
    require_staff(admin_actor, "issue link code")
    user = s.execute(select(User).where(User.login == login)).scalar_one_or_none()
    if user is None:
        raise LookupError(f"unknown user {login!r}")
    allowed = user.village_id == admin_actor.village_id and (
        admin_actor.role == Role.admin
        or (user.role == Role.villager and user.resident is not None
            and can_read_household(admin_actor, user.resident.household))
        or (user.role == Role.relative and any(
            can_read_household(admin_actor, s.get(Household, household_id))
            for household_id in relative_household_ids(s, user.id))))
    if not allowed:
        audit(s, admin_actor, "refused", "link_code", user.id, f"code for {login}")
        raise AccessDenied(f"{admin_actor.sender_id} may not issue a link code for {login}")
    now = now or utcnow()
    code = LinkCode(code=_new_code(s), user_id=user.id, expires_at=now + dt.timedelta(hours=ttl_hours))
    s.add(code)
    s.flush()
    audit(s, admin_actor, "write", "link_code", code.id, f"issued for {login}, valid {ttl_hours:g} h")
    return code.code


def register_relative(s: Session, actor: Actor, login: str, name: str, household_id: int,
                      relation: str = "子女", phone: str | None = None) -> User:
    """A relative living elsewhere, linked to a household: staff who may see the household
    create the account (role ``relative``, no household of its own) or find the existing one,
    and link it (idempotent). Then :func:`issue_link_code` lets them link their Telegram.
    Raises ValueError for a malformed login or name, AccessDenied when ``login`` belongs to
    somebody who is not a relative, or the household is not the actor's to see."""
    require_staff(actor, "register a relative")
    household = require_household(s, actor, household_id, "register a relative")
    login, name = (login or "").strip().lower(), " ".join((name or "").split())[:32]
    if not LOGIN.match(login):
        raise ValueError("登录名用小写字母开头，只能有小写字母、数字和下划线，3到32个字符。")
    if not name:
        raise ValueError("请写上亲属的名字。")
    user = s.execute(select(User).where(User.login == login)).scalar_one_or_none()
    if user is None:
        user = User(village_id=household.village_id, login=login, display_name=name, role=Role.relative,
                    phone=(phone or "").strip()[:20] or None)
        s.add(user)
        s.flush()
        audit(s, actor, "write", "user", user.id, f"relative account {login} ({name})", household_id=household.id)
    link_relative(s, actor, login, household.id, relation)
    return user


def _failed_attempts(s: Session, channel: str, external_id: str, now: dt.datetime) -> int:
    return s.execute(
        select(func.count(AuditLog.id)).where(
            AuditLog.object_type == "link_code", AuditLog.action == "refused", AuditLog.channel == channel,
            AuditLog.detail.like(f"{external_id} %"), AuditLog.at >= now - FAILED_WINDOW)
    ).scalar_one()


def bind(s: Session, channel: str, external_id: str, user: User) -> ChannelIdentity:
    """Create or re-point the channel identity. Re-binding to another user restarts the
    identity's ``created_at`` (notifications older than the binding are not pushed)."""
    ident = channel_identity(s, channel, external_id)
    if ident is None:
        ident = ChannelIdentity(channel=channel, external_id=external_id, user_id=user.id, settings={})
        s.add(ident)
    elif ident.user_id != user.id:
        ident.user_id, ident.household_id, ident.created_at = user.id, None, utcnow()
    s.flush()
    return ident


def _link(s: Session, channel: str, external_id: str, user: User, how: str) -> None:
    """Bind, and record in the audit log who was linked to whom and how."""
    bind(s, channel, external_id, user)
    audit(s, _actor_for(channel, external_id, user), "write", "channel_identity", user.id,
          f"{external_id} linked to {user.login} {how}")


def link_with_code(s: Session, channel: str, external_id: str, code: str,
                   now: dt.datetime | None = None) -> User:
    """Bind ``channel:external_id`` to the user the code was issued for; the code is spent.
    Raises :class:`LinkError` (unknown / expired / used / too_many)."""
    now = now or utcnow()
    external_id = str(external_id)
    code = "".join(ch for ch in str(code or "") if ch.isdigit())
    refused = _actor_for(channel, external_id, None)
    if _failed_attempts(s, channel, external_id, now) >= MAX_FAILED_ATTEMPTS:
        raise LinkError("too_many")
    row = s.execute(select(LinkCode).where(LinkCode.code == code)).scalar_one_or_none() if code else None
    reason = None
    if row is None:
        reason = "unknown"
    elif row.used_at is not None:
        reason = "used"
    elif row.expires_at <= now:
        reason = "expired"
    else:
        # Compare-and-set: of two simultaneous uses exactly one wins.
        won = s.execute(update(LinkCode).where(LinkCode.id == row.id, LinkCode.used_at.is_(None))
                        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
        reason = None if won == 1 else "used"
    if reason is not None:
        audit(s, refused, "refused", "link_code", row.id if row else None, f"{external_id} {reason}")
        raise LinkError(reason)
    user = s.get(User, row.user_id)
    _link(s, channel, external_id, user, "with code")
    return user


def link_by_phone(s: Session, channel: str, external_id: str, phone: str) -> User | None:
    """Bind to the villager whose registered phone is ``phone``; None when nobody matches.
    The caller must make sure the phone number belongs to the sender."""
    external_id = str(external_id)
    resident = resident_by_phone(s, phone)
    user = None
    if resident is not None:
        user = s.execute(select(User).where(User.resident_id == resident.id, User.role == Role.villager)
                         .order_by(User.id)).scalars().first()
    if user is None:
        audit(s, _actor_for(channel, external_id, None), "refused", "channel_identity", None,
              f"{external_id} phone not in register")
        return None
    _link(s, channel, external_id, user, "by phone")
    return user
