"""The server secret and the keys derived from it.

One secret per deployment: ``XIANGYIN_SECRET_KEY`` (or ``_FILE``), else
``<var_dir>/secrets/server.key``, created with mode 0600 on first use by whichever process
needs it first. Everything else is derived with HMAC-SHA256 under a purpose label, so a key
leaked for one purpose (a device's key, the action-server token) reveals nothing about the
others, and rotating the secret rotates them all.

Who can read the secret can mint any credential: it is the operator's, like the database file.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from bot.config import Settings

KEY_FILE = Path("secrets") / "server.key"


class SecretKeyError(RuntimeError):
    """The server secret exists but cannot be used (unreadable, or readable by others)."""


def key_file(settings: Settings) -> Path:
    return settings.var_dir / KEY_FILE


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of ours won the race: use its key
        return
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32) + "\n")


def master_key(settings: Settings) -> bytes:
    """The deployment's secret as bytes (from the settings, else the key file)."""
    if settings.security.secret_key:
        return settings.security.secret_key.encode("utf-8")
    path = key_file(settings)
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(f"{path} is readable by other users; run: chmod 600 {path}")
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise SecretKeyError(f"{path} is too short to be a secret (expected 64 hex characters)")
    return value.encode("ascii")


def derive(settings: Settings, purpose: str) -> bytes:
    """A 32-byte key for one purpose, e.g. ``"rest-token"`` or ``"device:voice-001:2"``."""
    return hmac.new(master_key(settings), purpose.encode("utf-8"), hashlib.sha256).digest()


def derive_text(settings: Settings, purpose: str) -> str:
    """:func:`derive` as 64 hex characters (for tokens passed on command lines or URLs)."""
    return derive(settings, purpose).hex()


def rasa_api_token(settings: Settings) -> str:
    """Rasa's ``--auth-token``: required on its HTTP API (trackers, events, model)."""
    return derive_text(settings, "rasa-api")


def action_server_token(settings: Settings) -> str:
    """Sent by Rasa on every action call (``token:`` in endpoints.yml); checked by the action server."""
    return derive_text(settings, "action-server")
