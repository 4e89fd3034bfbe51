"""Checking a staff member's PIN or console password, with a lockout that survives restarts.

Every attempt is audited (``login_ok`` / ``login_failed`` / ``login_locked``). After
``settings.security.pin_max_failures`` wrong answers in a row the login is locked for
``pin_lock_minutes``; a right answer while locked is refused too. Legacy hashes are
replaced by salted scrypt on the first good login.
"""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings, SecuritySettings
from bot.models import AuditLog, User, utcnow
from bot.security import passwords
from bot.text import spoken_digits


class Outcome(str, enum.Enum):
    ok = "ok"
    wrong = "wrong"
    locked = "locked"
    unknown = "unknown"  # no such login, or no PIN/password set for it


class Kind(str, enum.Enum):
    pin = "pin"
    password = "password"  # nosec B105 - an enum value naming the kind of credential


def _audit(s: Session, user: User | None, channel: str, action: str, detail: str) -> None:
    s.add(AuditLog(actor_id=user.id if user else None, action=action, object_type="user",
                   object_id=user.id if user else None, channel=channel[:16], detail=detail[:1000]))


def check(s: Session, user: User | None, given: str, *, kind: Kind = Kind.pin, channel: str = "cli",
          security: SecuritySettings | None = None, now: dt.datetime | None = None) -> Outcome:
    """Whether ``given`` is the user's PIN (spoken digits allowed) or password, counting failures."""
    security = security or SecuritySettings()
    now = now or utcnow()
    if user is None:
        _audit(s, None, channel, "login_failed", f"{kind.value}: unknown login")
        return Outcome.unknown
    stored = user.pin_hash if kind is Kind.pin else user.password_hash
    if not stored:
        _audit(s, user, channel, "login_failed", f"{kind.value}: none set")
        return Outcome.unknown
    if user.locked_until is not None and user.locked_until > now:
        _audit(s, user, channel, "login_locked", f"{kind.value}: locked until {user.locked_until:%H:%M} UTC")
        return Outcome.locked
    plain = spoken_digits(given) if kind is Kind.pin else given
    if passwords.verify(plain, stored, login=user.login):
        user.login_failures = 0
        user.locked_until = None
        if passwords.needs_rehash(stored):
            setattr(user, "pin_hash" if kind is Kind.pin else "password_hash", passwords.hash_secret(plain))
        _audit(s, user, channel, "login_ok", kind.value)
        return Outcome.ok
    user.login_failures = (user.login_failures or 0) + 1
    if user.login_failures >= security.pin_max_failures:
        user.locked_until = now + dt.timedelta(minutes=security.pin_lock_minutes)
        user.login_failures = 0
        _audit(s, user, channel, "login_locked", f"{kind.value}: {security.pin_max_failures} wrong in a row")
        return Outcome.locked
    _audit(s, user, channel, "login_failed", f"{kind.value}: wrong ({user.login_failures})")
    return Outcome.wrong


def check_login(s: Session, login: str, given: str, *, kind: Kind = Kind.pin, channel: str = "rest",
                settings: Settings | None = None, now: dt.datetime | None = None) -> tuple[Outcome, User | None]:
    user = s.execute(select(User).where(User.login == login)).scalar_one_or_none() if login else None
    outcome = check(s, user, given, kind=kind, channel=channel,
                    security=settings.security if settings else None, now=now)
    return outcome, user if outcome is Outcome.ok else None


def set_secret(s: Session, user: User, plain: str, *, kind: Kind = Kind.pin) -> None:
    """Sets a user's PIN (4–8 digits) or password (8+ characters); raises ValueError otherwise."""
    if kind is Kind.pin:
        plain = spoken_digits(plain)
        if not (plain.isdigit() and 4 <= len(plain) <= 8):
            raise ValueError("PIN 需要是4到8位数字。")
        user.pin_hash = passwords.hash_secret(plain)
    else:
        if len(plain) < 8:
            raise ValueError("密码至少8个字符。")
        user.password_hash = passwords.hash_secret(plain)
    user.login_failures = 0
    user.locked_until = None
