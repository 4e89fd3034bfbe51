"""Builds tests/data/release-0.1.sqlite: a village database written by the previous release.

Release 0.1 is commit b42348f (migrations 0001-0003). This script exports that commit with
``git archive`` into a temporary folder (the repository's state is not touched), then runs
*that* code (PYTHONPATH=<export>) to create the schema with its own Alembic migrations, seed the
demo village 青山镇杏花村 with its own seed, and use the village the way its CLI and actions
would: awards, a deduction appealed and overturned, a correction, redemptions (one collected,
one waiting), a visit log, emergencies, a link code, grievance follow-ups. The result is
vacuumed into one self-contained file (journal mode DELETE).

    .venv/bin/python tests/data/make_release_fixture.py           # rebuild the fixture

tests/domain/test_backup.py copies it and runs every migration of the current code forward.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

RELEASE = "b42348f"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURE = HERE / "release-0.1.sqlite"
TODAY = dt.date(2026, 11, 28)


def use_the_village(url: str) -> None:
    """Runs inside the release's code (``--activity``)."""
    from sqlalchemy import select, update

    from bot import emergency, grievances, households, linking, points
    from bot.db import migrate, session_scope
    from bot.identity import resolve_actor
    from bot.models import PointsEntry, Redemption
    from bot.seed import seed_demo_village

    migrate(url)
    seed_demo_village(url, today=TODAY)
    with session_scope(write=True, url=url) as s:
        worker = resolve_actor(s, "cli:wangxiulan")
        leader = resolve_actor(s, "cli:zhaodefu")
        admin = resolve_actor(s, "cli:chenzhiming")
        villager = resolve_actor(s, "cli:wangjianguo")
        other = resolve_actor(s, "cli:liguifang")
        for n, household_id in enumerate((villager.household_id, other.household_id, villager.household_id)):
            points.award(s, worker, household_id, "义务清扫", "村口清扫", f"fixture:award:{n}")
        deduction = points.award(s, worker, villager.household_id, "乱倒垃圾", "倒在河边", "fixture:deduct:1")
        mistaken = points.award(s, worker, other.household_id, "焚烧秸秆", "", "fixture:deduct:2")
        points.reverse(s, worker, mistaken.id, "记错了户", "fixture:reverse:1")
        points.redeem(s, villager, "肥皂", 2, "fixture:redeem:1")
        points.redeem(s, other, "毛巾", 1, "fixture:redeem:2")
    with session_scope(write=True, url=url) as s:
        appeal = points.appeal(s, resolve_actor(s, "cli:wangjianguo"), deduction.id, "不是我家倒的")
    with session_scope(write=True, url=url) as s:
        points.decide_appeal(s, resolve_actor(s, "cli:wangxiulan"), appeal.id, overturn=True, note="查清了")
        # One redemption collected at the office, the other still waiting.
        first = s.execute(select(Redemption).order_by(Redemption.id)).scalars().first()
        s.execute(update(Redemption).where(Redemption.id == first.id).values(picked_up_at=dt.datetime(2026, 11, 28, 9)))
        households.log_visit(s, resolve_actor(s, "cli:wangxiulan"), resolve_actor(s, "cli:liguifang").household_id,
                             "老人身体还行，屋顶漏雨")
        alarm = emergency.raise_alarm(s, resolve_actor(s, "cli:liguifang"), "救命，老人摔倒了")
        emergency.acknowledge(s, resolve_actor(s, "cli:wangxiulan"), alarm.id)
        emergency.raise_alarm(s, resolve_actor(s, "cli:hh003"), "着火了")
        linking.issue_link_code(s, resolve_actor(s, "cli:chenzhiming"), "hh004")
    with session_scope(write=True, url=url) as s:
        # 260103 was resolved by the seed: the reporter is satisfied; 260102 gets a note.
        grievances.record_satisfaction(s, resolve_actor(s, "cli:hh003"), "260103", "满意")
        grievances.transition(s, resolve_actor(s, "cli:zhaodefu"), "260102", "note", "保洁员明天来")
        grievances.file(s, resolve_actor(s, "cli:hh005"), "环境卫生", "河边有人倒垃圾", "河边")
        assert s.execute(select(PointsEntry.id).limit(1)).first()


def build() -> None:
    with tempfile.TemporaryDirectory(prefix="xiangyin-release-") as folder:
        export = Path(folder) / "release"
        export.mkdir()
        archive = subprocess.run(["git", "archive", RELEASE], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        out = Path(folder) / "fixture.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIANGYIN_")}
        env.update(PYTHONPATH=str(export), XIANGYIN_VAR_DIR=folder, XIANGYIN_DATABASE_URL=f"sqlite:///{out}",
                   SQLALCHEMY_SILENCE_UBER_WARNING="1")
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--activity", f"sqlite:///{out}"],
                       cwd=export, env=env, check=True)
        conn = sqlite3.connect(out)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.close()
        FIXTURE.write_bytes(out.read_bytes())
    print(f"{FIXTURE} ({FIXTURE.stat().st_size // 1024} KB, schema {revision}, from {RELEASE})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--activity"]:
        sys.path.insert(0, os.getcwd())
        import bot

        assert Path(bot.__file__).resolve().is_relative_to(Path.cwd().resolve()), bot.__file__  # the release's code
        use_the_village(sys.argv[2])
    else:
        build()
