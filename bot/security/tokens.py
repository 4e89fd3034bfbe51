"""Signed session tokens for the REST channel (PyJWT, HS256; already a Rasa dependency).

A token names its ``sub`` (the Rasa sender id, e.g. ``cli:wangxiulan`` or ``telegram:4711``),
is signed with a key derived from the server secret for this purpose only, and expires after
``settings.security.token_hours``. The REST channel takes the sender from the token, never
from the request body.

Issued by: ``POST /webhooks/rest/login`` (staff login + PIN, see :mod:`bot.security.logins`),
and by our own server processes that hold the secret (terminal chat, Telegram bridge,
benchmarks) through :func:`issue`.
"""
from __future__ import annotations

import time

import jwt

from bot.config import Settings
from bot.security.keys import derive

AUDIENCE = "xiangyin-rest"
ALGORITHM = "HS256"
PURPOSE = "rest-token"


class TokenError(ValueError):
    """Missing, malformed, forged or expired token; the message is for logs, not users."""


def issue(settings: Settings, sender: str, *, hours: float | None = None, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    lifetime = int(3600 * (hours if hours is not None else settings.security.token_hours))
    claims = {"sub": sender, "aud": AUDIENCE, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(claims, derive(settings, PURPOSE), algorithm=ALGORITHM)


def sender_of(settings: Settings, token: str | None) -> str:
    """The sender a valid token names; :class:`TokenError` otherwise."""
    if not token:
        raise TokenError("no token")
    try:
        claims = jwt.decode(token, derive(settings, PURPOSE), algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["sub", "exp", "aud"]})
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    sender = claims.get("sub")
    if not isinstance(sender, str) or not sender:
        raise TokenError("token names no sender")
    return sender


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, value = (header or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Minter:
    """Bearer tokens for any sender, for our own processes that hold the server secret (the
    terminal chat, the Telegram bridge, benchmarks, tests). Re-issues a sender's token when
    less than a tenth of its lifetime is left."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._cache: dict[str, tuple[str, float]] = {}

    def __call__(self, sender: str) -> str:
        now = time.time()
        token, renew_at = self._cache.get(sender, ("", 0.0))
        if now >= renew_at:
            lifetime = 3600 * self.settings.security.token_hours
            token, renew_at = issue(self.settings, sender, now=now), now + 0.9 * lifetime
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[sender] = (token, renew_at)
        return token


def trusted_client_credentials(settings: Settings) -> dict:
    """Keyword arguments for :class:`bot.channels.rasa_client.RasaClient` in a process of ours:
    a token for any sender, and Rasa's API token."""
    from bot.security.keys import rasa_api_token

    return {"bearer": Minter(settings), "api_token": rasa_api_token(settings)}
