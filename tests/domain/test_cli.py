"""The command line: the entry point as a user runs it (`python -m bot`), and the staff
commands through its main() on a private database (the ``cli`` fixture, tests/domain/conftest.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from bot.config import PROJECT_ROOT


def test_help_lists_the_commands(tmp_path):
    env = {**os.environ, "XIANGYIN_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    for command in ("run", "train", "seed", "serve", "chat"):
        assert command in result.stdout


def test_seed_then_staff_commands(cli, tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    first = cli("seed", url=url)
    assert first.returncode == 0, first.stderr
    assert "66 households" in first.stdout
    key_file = tmp_path / "var" / "device.key"  # the demo device client's key, private
    assert "device-001" in first.stdout and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert "already present" in cli("seed", url=url).stdout
    queue = cli("grievance", "list", "--as", "zhaodefu", url=url)
    assert queue.returncode == 0 and "260101" in queue.stdout
    done = cli("grievance", "resolve", "260101", "--note", "路灯换好了", "--as", "zhaodefu", url=url)
    assert done.returncode == 0 and "resolved" in done.stdout
    award = cli("points", "5", "义务清扫", "--key", "k1", "--as", "wangxiulan", url=url)
    again = cli("points", "5", "义务清扫", "--key", "k1", "--as", "wangxiulan", url=url)
    assert award.returncode == 0 and again.returncode == 0
    assert award.stdout.split("balance")[1] == again.stdout.split("balance")[1]  # not credited twice


def test_audit_trail_is_for_admins(cli, fresh_db):
    assert cli("points", "2", "义务清扫", "--key", "a1", "--as", "wangxiulan", url=fresh_db).returncode == 0
    trail = cli("audit", "2", "--as", "chenzhiming", url=fresh_db)
    assert trail.returncode == 0 and "cli" in trail.stdout
    refused = cli("audit", "2", "--as", "wangxiulan", url=fresh_db)
    assert refused.returncode != 0
