"""Voice devices: a key per device, and every request signed with it.

Provisioning (``python -m bot device add voice-001 --household 12``) binds the device id to a
household (or a staff member) and hands out its key: HMAC-SHA256 of the server secret under
``device:<id>:<version>``, so the server stores no key at all, only the version. Re-provisioning
bumps the version (the old key stops working); ``device revoke`` refuses the device until it is
provisioned again.

A request carries four headers (:func:`signed_headers`)::

    X-Xiangyin-Device: voice-001
    X-Xiangyin-Time: 1764403200          (Unix seconds)
    X-Xiangyin-Nonce: 32 hex characters  (random, once per request)
    X-Xiangyin-Signature: hex HMAC-SHA256(key, METHOD \\n PATH \\n DEVICE \\n TIME \\n NONCE \\n sha256(body))

The server (:func:`authenticate`) refuses a request whose time is more than
``settings.security.replay_seconds`` away from its clock, whose nonce it has seen in that window
(nonces are kept in the database, so every Rasa replica sees them), whose device is unknown,
unprovisioned or revoked, or whose signature does not match; each refusal writes an audit row.

The device keeps its key in a file readable only by its user (0600). The device side (signing,
key files) is :mod:`bot.security.signing`, free of database imports.
"""
from __future__ import annotations

import datetime as dt
import hmac
import re
import time
from typing import Mapping

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.models import AuditLog, ChannelIdentity, Household, RequestNonce, User, utcnow
from bot.security.keys import derive
from bot.security.signing import (  # noqa: F401 - the device side, re-exported for servers and tests
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    read_key_file,
    sign,
    signed_headers,
    string_to_sign,
    write_key_file,
)

CHANNEL = "voice"
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
NONCE = re.compile(r"^[0-9a-f]{16,64}$")


class DeviceAuthError(Exception):
    """A device request that is refused; ``reason`` goes to the log and the audit row only."""

    status = 401

    def __init__(self, reason: str, device_id: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.device_id = device_id


# --- the server side -------------------------------------------------------------------

def device_key(settings: Settings, device_id: str, version: int) -> bytes:
    return derive(settings, f"device:{device_id}:{version}")


def _refuse(s: Session, device_id: str, reason: str, ident: ChannelIdentity | None = None) -> DeviceAuthError:
    s.add(AuditLog(actor_id=ident.user_id if ident else None, action="auth_refused", object_type="device",
                   object_id=ident.id if ident else None, channel=CHANNEL,
                   detail=f"{device_id[:64]}: {reason}", household_id=ident.household_id if ident else None))
    return DeviceAuthError(reason, device_id)


def authenticate(s: Session, settings: Settings, method: str, path: str, headers: Mapping[str, str],
                 body: bytes, now: float | None = None) -> ChannelIdentity:
    """The device identity a signed request comes from; :class:`DeviceAuthError` (after an audit
    row, which the caller must commit) for anything else. ``headers`` is case-insensitive or
    uses the canonical names above."""
    def header(name: str) -> str:
        return (headers.get(name) or headers.get(name.lower()) or "").strip()

    device_id, timestamp, nonce, signature = (header(HEADER_DEVICE), header(HEADER_TIME),
                                              header(HEADER_NONCE), header(HEADER_SIGNATURE).lower())
    if not (device_id and timestamp and nonce and signature):
        raise _refuse(s, device_id or "?", "unsigned request")
    if not DEVICE_ID.match(device_id) or not NONCE.match(nonce) or not timestamp.isdigit():
        raise _refuse(s, device_id if DEVICE_ID.match(device_id) else "?", "malformed signature headers")
    clock = now if now is not None else time.time()
    window = settings.security.replay_seconds
    if abs(clock - int(timestamp)) > window:
        raise _refuse(s, device_id, f"timestamp {int(clock - int(timestamp))} s off")
    ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                                    ChannelIdentity.external_id == device_id)).scalar_one_or_none()
    if ident is None:
        raise _refuse(s, device_id, "unknown device")
    if ident.revoked_at is not None:
        raise _refuse(s, device_id, "revoked device", ident)
    if not ident.key_version:
        raise _refuse(s, device_id, "device never provisioned", ident)
    expected = sign(device_key(settings, device_id, ident.key_version), method, path, device_id,
                    timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature):
        raise _refuse(s, device_id, "bad signature", ident)
    if not _remember_nonce(s, device_id, nonce, clock, window):
        raise _refuse(s, device_id, "replayed request", ident)
    return ident


def _remember_nonce(s: Session, device_id: str, nonce: str, clock: float, window: int) -> bool:
    """Stores the nonce; False when it was already seen (a replay). Forgets expired ones."""
    seen_at = dt.datetime.utcfromtimestamp(clock)
    s.execute(delete(RequestNonce).where(RequestNonce.seen_at < seen_at - dt.timedelta(seconds=2 * window)))
    try:
        with s.begin_nested():
            s.add(RequestNonce(device_id=device_id, nonce=nonce, seen_at=seen_at))
    except IntegrityError:
        return False
    return True


def provision(s: Session, settings: Settings, device_id: str, *, household_id: int | None = None,
              login: str | None = None) -> str:
    """Binds a device to a household or a staff login (new or existing device) and returns its
    new key as hex; any older key of the device stops working."""
    if not DEVICE_ID.match(device_id):
        raise ValueError("设备编号只能用字母、数字和 - _ . :，最长64个字符。")
    ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                                    ChannelIdentity.external_id == device_id)).scalar_one_or_none()
    user_id = None
    if login:
        user = s.execute(select(User).where(User.login == login)).scalar_one_or_none()
        if user is None:
            raise ValueError(f"没有登录名 {login}。")
        user_id = user.id
    if household_id is not None and s.get(Household, household_id) is None:
        raise ValueError(f"没有编号 {household_id} 的住户。")
    if ident is None:
        if household_id is None and user_id is None:
            raise ValueError("新设备需要 --household 或 --user。")
        ident = ChannelIdentity(channel=CHANNEL, external_id=device_id, settings={}, key_version=0)
        s.add(ident)
    if household_id is not None:
        ident.household_id = household_id
    if user_id is not None:
        ident.user_id = user_id
    ident.key_version = (ident.key_version or 0) + 1
    ident.revoked_at = None
    s.flush()
    s.add(AuditLog(actor_id=None, action="device_provisioned", object_type="device", object_id=ident.id,
                   channel="cli", detail=f"{device_id} key v{ident.key_version}", household_id=ident.household_id))
    return device_key(settings, device_id, ident.key_version).hex()


def current_key(s: Session, settings: Settings, device_id: str) -> str | None:
    """The key a provisioned, unrevoked device holds now (hex), without changing it; for writing
    the demo devices' key files on the server machine. None for any other device."""
    ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                                    ChannelIdentity.external_id == device_id)).scalar_one_or_none()
    if ident is None or ident.revoked_at is not None or not ident.key_version:
        return None
    return device_key(settings, device_id, ident.key_version).hex()


def revoke(s: Session, device_id: str) -> bool:
    """Refuses the device from now on; False when there is no such device."""
    ident = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                                    ChannelIdentity.external_id == device_id)).scalar_one_or_none()
    if ident is None:
        return False
    ident.revoked_at = utcnow()
    s.add(AuditLog(actor_id=None, action="device_revoked", object_type="device", object_id=ident.id,
                   channel="cli", detail=device_id, household_id=ident.household_id))
    return True


def devices(s: Session) -> list[ChannelIdentity]:
    return list(s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL)
                          .order_by(ChannelIdentity.external_id)).scalars())
