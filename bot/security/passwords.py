"""Password and PIN hashing with scrypt from the standard library (no extra dependency).

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``. :func:`verify` also accepts the
legacy unsalted SHA-256 PIN hashes written before migration 0005 so that existing deployments
keep working; :func:`needs_rehash` tells the caller to replace such a hash after a good login.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_secret(plain: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """A salted scrypt hash of a password or PIN, safe to store."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(plain.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES)
    return f"{PREFIX}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _legacy_pin_hash(pin: str, login: str) -> str:
    return hashlib.sha256(f"xiangyin:{login}:{pin}".encode()).hexdigest()


def verify(plain: str, stored: str | None, *, login: str = "") -> bool:
    """Whether ``plain`` matches ``stored``, in constant time; False for no stored hash."""
    if not stored or not plain:
        return False
    if not stored.startswith(PREFIX + "$"):
        return hmac.compare_digest(stored, _legacy_pin_hash(plain, login))
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = _unb64(digest)
        actual = hashlib.scrypt(plain.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str | None) -> bool:
    """True for a legacy or weaker hash that should be replaced after a successful check."""
    if not stored or not stored.startswith(PREFIX + "$"):
        return True
    try:
        _, n, r, p, *_ = stored.split("$")
        return (int(n), int(r), int(p)) != (N, R, P)
    except ValueError:
        return True
