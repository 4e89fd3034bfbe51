"""The device side of voice-device request signatures: pure functions with no database or
settings, so the device client (speech/device.py) needs nothing but the standard library.
The protocol and the server side: :mod:`bot.security.devices`."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

HEADER_DEVICE = "X-Xiangyin-Device"
HEADER_TIME = "X-Xiangyin-Time"
HEADER_NONCE = "X-Xiangyin-Nonce"
HEADER_SIGNATURE = "X-Xiangyin-Signature"


def string_to_sign(method: str, path: str, device_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, device_id, timestamp, nonce,
                      hashlib.sha256(body or b"").hexdigest()]).encode("utf-8")


def sign(key: bytes | str, method: str, path: str, device_id: str, timestamp: str, nonce: str,
         body: bytes) -> str:
    key_bytes = bytes.fromhex(key) if isinstance(key, str) else key
    return hmac.new(key_bytes, string_to_sign(method, path, device_id, timestamp, nonce, body),
                    hashlib.sha256).hexdigest()


def signed_headers(device_id: str, key: bytes | str, method: str, path: str, body: bytes = b"",
                   now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request of a device (``path`` without the query)."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return {HEADER_DEVICE: device_id, HEADER_TIME: timestamp, HEADER_NONCE: nonce,
            HEADER_SIGNATURE: sign(key, method, path, device_id, timestamp, nonce, body)}


def write_key_file(path: Path, key_hex: str) -> None:
    """Stores a device key readable only by the device's user (mode 0600, created atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key_hex.strip() + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_key_file(path: Path) -> str:
    """A device key written by :func:`write_key_file`; refuses a file others can read."""
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} is readable by other users; run: chmod 600 {path}")
    return path.read_text(encoding="ascii").strip()
