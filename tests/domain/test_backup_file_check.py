"""SQLite's own file check, the one copy in bot/ops/integrity.py, as backup and restore use it:
a snapshot is checked before it is kept, a backed-up file before it is restored."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.ops.backup import RestoreRefused, backup, restore
from bot.ops.integrity import sqlite_file_check
from tests.support.databases import sqlite_url


def test_a_sound_database_is_ok_and_a_broken_file_says_what_is_wrong(fresh_db, tmp_path):
    from sqlalchemy.engine import make_url

    assert sqlite_file_check(make_url(fresh_db).database) == "ok"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    verdict = sqlite_file_check(junk)
    assert verdict != "ok" and "database" in verdict


def test_a_backup_whose_database_is_damaged_is_not_restored(fresh_db, tmp_path):
    settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db})
    made = backup(settings, to=tmp_path / "backups", prune_old=False)
    assert made.path.name.endswith(".sqlite.gz")
    # Damage the database inside the file and give it a matching checksum, as a disk error
    # after the backup was taken would look to everything but SQLite's own check.
    data = bytearray(gzip.decompress(made.path.read_bytes()))
    data[100:4096] = b"\xff" * (4096 - 100)
    made.path.write_bytes(gzip.compress(bytes(data)))
    manifest_path = Path(f"{made.path}.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["sha256"] = hashlib.sha256(made.path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    Path(f"{made.path}.sha256").write_text(f"{manifest['sha256']}  {made.path.name}\n", encoding="utf-8")
    target = tmp_path / "restored.db"
    with pytest.raises(RestoreRefused, match="自检失败"):
        restore(settings, made.path, url=sqlite_url(target))
    assert not target.exists() or target.stat().st_size == 0  # nothing was written
