"""Photos residents send while filing a grievance (Telegram, WeChat): stored under
``<var>/uploads/`` until the grievance takes them, removed when it does not."""
from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

UPLOADS = "uploads"


def save_upload(var_dir: Path, channel: str, data: bytes) -> str:
    """Stores a photo; returns its path relative to ``var_dir``. The name carries the channel and
    a random part only (no user ids in file names)."""
    folder = var_dir / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{channel}-{uuid.uuid4().hex}.jpg"
    (folder / name).write_bytes(data)
    return f"{UPLOADS}/{name}"


def discard_uploads(var_dir: Path, paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            (var_dir / path).unlink()
