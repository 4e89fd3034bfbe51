"""The command line, as a user runs it."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def run_cli(*args, url: str):
    env = {**os.environ, "XIANGYIN_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", url=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0
    for command in ("run", "train", "seed", "serve", "chat"):
        assert command in result.stdout


def test_seed_then_staff_commands(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    first = run_cli("seed", url=url)
    assert first.returncode == 0, first.stderr
    assert "66 households" in first.stdout
    assert "already present" in run_cli("seed", url=url).stdout
    queue = run_cli("grievance", "list", "--as", "zhaodefu", url=url)
    assert queue.returncode == 0 and "260101" in queue.stdout
    done = run_cli("grievance", "resolve", "260101", "--note", "路灯换好了", "--as", "zhaodefu", url=url)
    assert done.returncode == 0 and "resolved" in done.stdout
    award = run_cli("points", "5", "义务清扫", "--key", "k1", "--as", "wangxiulan", url=url)
    again = run_cli("points", "5", "义务清扫", "--key", "k1", "--as", "wangxiulan", url=url)
    assert award.returncode == 0 and again.returncode == 0
    assert award.stdout.split("balance")[1] == again.stdout.split("balance")[1]  # not credited twice


def test_audit_trail_is_for_admins(tmp_path):
    url = f"sqlite:///{tmp_path}/audit.db"
    assert run_cli("seed", url=url).returncode == 0
    assert run_cli("points", "2", "义务清扫", "--key", "a1", "--as", "wangxiulan", url=url).returncode == 0
    trail = run_cli("audit", "2", "--as", "chenzhiming", url=url)
    assert trail.returncode == 0 and "cli" in trail.stdout
    refused = run_cli("audit", "2", "--as", "wangxiulan", url=url)
    assert refused.returncode != 0
