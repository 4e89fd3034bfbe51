"""Backups that restore (bot/ops/backup.py), upgrades from the previous release, health and logs.

* a backup taken while writers keep posting ledger entries restores to a consistent database
  (every balance equals its ledger, every table has the rows the manifest lists): no torn copy;
* a restore refuses a damaged file, a backup from a newer release, and a target holding data
  (unless --force, which saves the current data first); an older backup is migrated forward;
* tests/data/release-0.1.sqlite (written by release 0.1, b42348f; see make_release_fixture.py)
  goes through every migration of this code with its balances, grievance states and rows intact,
  and the README's upgrade steps work on a copy of it;
* retention keeps the newest backup of each day/week/month; the nightly job backs up once a day;
* health reports the database, schema and outbox; logs rotate by size.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from bot.config import PROJECT_ROOT, load_settings
from bot.db import alembic_config, get_engine, migrate, session_scope
from bot.models import OutboxMessage, PointsEntry
from bot.ops import backup as ops_backup
from bot.ops.backup import (
    RestoreRefused,
    backup,
    backup_due,
    list_backups,
    nightly_job,
    parse_name,
    plan_retention,
    prune,
    restore,
)
from bot.ops.health import health
from bot.ops.integrity import check_integrity, head_revision, known_revisions, row_counts, schema_revision
from bot.ops.logs import rotate_logs
from tests.support.databases import copy_database, sqlite_url

FIXTURE = PROJECT_ROOT / "tests" / "data" / "release-0.1.sqlite"
RELEASE_REVISION = "0003"


def ops_settings(tmp_path: Path, url: str, **extra: str):
    return load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": url, **extra})


def facts(url: str) -> tuple[str | None, dict, object]:
    engine = create_engine(url, future=True, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return schema_revision(conn), row_counts(conn), check_integrity(conn)
    finally:
        engine.dispose()


@pytest.fixture()
def release_copy(tmp_path) -> str:
    path = tmp_path / "release.db"
    shutil.copyfile(FIXTURE, path)
    url = sqlite_url(path)
    yield url
    get_engine(url).dispose()


# --- backup under load ----------------------------------------------------------------------

def test_backup_while_writers_post_entries_restores_consistent_ledgers(fresh_db, tmp_path):
    from bot import points
    from bot.identity import resolve_actor
    from bot.models import Household

    settings = ops_settings(tmp_path, fresh_db)
    with session_scope(url=fresh_db) as s:
        households = list(s.execute(select(Household.id).order_by(Household.id).limit(12)).scalars())
        entries_before = s.execute(select(func.count(PointsEntry.id))).scalar_one()
    stop = threading.Event()
    errors: list[BaseException] = []
    written = [0] * 3

    def writer(n: int) -> None:
        try:
            with session_scope(url=fresh_db) as s:
                staff = resolve_actor(s, "cli:wangxiulan")
            i = 0
            while not stop.is_set():
                household = households[(n * 5 + i) % len(households)]
                with session_scope(write=True, url=fresh_db) as s:
                    rule = "乱倒垃圾" if i % 4 == 3 else "义务清扫"
                    try:
                        points.award(s, staff, household, rule, "load", f"load:{n}:{i}")
                    except points.InsufficientPoints:
                        pass
                written[n] += 1
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    results = []
    try:
        time.sleep(0.3)
        for _ in range(3):
            results.append(backup(settings, to=tmp_path / "backups", prune_old=False))
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert sum(written) > 20, "the writers kept writing during the backups"
    with session_scope(url=fresh_db) as s:
        entries_after = s.execute(select(func.count(PointsEntry.id))).scalar_one()
    seen = []
    for n, result in enumerate(results):
        target = sqlite_url(tmp_path / f"restored-{n}.db")
        restored = restore(settings, result.path, url=target)
        assert restored.ok, restored.problems
        assert restored.integrity.households == 66
        entries = restored.row_counts["points_entries"]
        assert entries_before <= entries <= entries_after
        assert entries == result.manifest["row_counts"]["points_entries"]
        seen.append(entries)
    assert seen == sorted(seen) and seen[-1] > entries_before, "later backups hold later states"


def test_backup_files_manifest_and_checksum(fresh_db, tmp_path):
    settings = ops_settings(tmp_path, fresh_db)
    result = backup(settings, now=dt.datetime(2026, 11, 28, 18, 30, tzinfo=dt.timezone.utc))
    assert result.path.parent == settings.backup.dir
    assert result.path.name == "xiangyin-xinghua-20261129-023000.sqlite.gz"  # local time, Asia/Shanghai
    manifest = json.loads((result.path.parent / (result.path.name + ".json")).read_text(encoding="utf-8"))
    assert manifest["format"] == "xiangyin-backup/1" and manifest["engine"] == "sqlite"
    assert manifest["schema_revision"] == head_revision() and manifest["created_at"] == "2026-11-28T18:30:00Z"
    assert manifest["village"] == {"code": "xinghua", "name": "杏花村", "township": "青山镇"}
    assert manifest["row_counts"]["households"] == 66 and manifest["total_rows"] == sum(manifest["row_counts"].values())
    assert manifest["sha256"] == ops_backup.sha256_file(result.path) and manifest["bytes"] == result.path.stat().st_size
    sidecar = (result.path.parent / (result.path.name + ".sha256")).read_text()
    assert sidecar == f"{manifest['sha256']}  {result.path.name}\n"  # sha256sum -c format
    with gzip.open(result.path) as packed:
        assert packed.read(16) == b"SQLite format 3\x00"
    again = backup(settings, now=dt.datetime(2026, 11, 28, 18, 30, tzinfo=dt.timezone.utc))
    assert again.path.name == "xiangyin-xinghua-20261129-023000-2.sqlite.gz"  # same second: no overwrite


def test_second_copy_and_its_absence(fresh_db, tmp_path):
    stick = tmp_path / "usb"
    settings = ops_settings(tmp_path, fresh_db, XIANGYIN_BACKUP_COPY_TO=str(stick))
    missing = backup(settings)
    assert missing.copies == [] and any("U盘" in w for w in missing.warnings)
    assert not stick.exists(), "a missing stick's folder is never created on the main disk"
    stick.mkdir()
    result = backup(settings)
    assert result.copies == [stick / result.path.name]
    assert ops_backup.sha256_file(result.copies[0]) == result.manifest["sha256"]
    assert (stick / (result.path.name + ".json")).exists() and (stick / (result.path.name + ".sha256")).exists()
    low = dataclasses.replace(settings, backup=dataclasses.replace(settings.backup, free_factor=1e12))
    assert any("剩余空间" in w for w in backup(low).warnings)


# --- restore ---------------------------------------------------------------------------------

def test_restore_refuses_live_data_without_force_and_saves_it_with_force(fresh_db, tmp_path, cli):
    settings = ops_settings(tmp_path, fresh_db)
    result = backup(settings)
    target = tmp_path / "live.db"
    copy_database(Path(fresh_db[len("sqlite:///"):]), target)
    with get_engine(sqlite_url(target)).begin() as conn:
        conn.execute(PointsEntry.__table__.delete().where(PointsEntry.id > 800))  # diverge: "today's" data
    get_engine(sqlite_url(target)).dispose()
    with pytest.raises(RestoreRefused, match="--force"):
        restore(settings, result.path, url=sqlite_url(target))
    refused = cli("restore", str(result.path), "--to", sqlite_url(target), url=fresh_db)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert facts(sqlite_url(target))[1]["points_entries"] == 800, "nothing was touched"
    done = restore(settings, result.path, url=sqlite_url(target), force=True)
    assert done.ok and done.row_counts["points_entries"] == result.manifest["row_counts"]["points_entries"]
    assert done.replaced is not None and "pre-restore" in done.replaced.name
    saved = restore(settings, done.replaced, url=sqlite_url(tmp_path / "saved.db"))
    assert saved.row_counts["points_entries"] == 800, "the overwritten data was saved first"
    empty = cli("restore", str(result.path) + ".json", "--to", sqlite_url(tmp_path / "new.db"), url=fresh_db)
    assert empty.returncode == 0 and "恢复完成" in empty.stdout


def test_restore_refuses_a_damaged_file_or_manifest(fresh_db, tmp_path, cli):
    settings = ops_settings(tmp_path, fresh_db)
    result = backup(settings)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in result.path.parent.glob(result.path.name + "*"):
        shutil.copyfile(path, damaged / path.name)
    data = bytearray((damaged / result.path.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / result.path.name).write_bytes(bytes(data))
    target = sqlite_url(tmp_path / "t.db")
    with pytest.raises(RestoreRefused, match="checksum"):
        restore(settings, damaged / result.path.name, url=target)
    outcome = cli("restore", str(damaged / result.path.name), "--to", target, url=fresh_db)
    assert outcome.returncode == 1 and "校验和不符" in outcome.stderr
    assert not (tmp_path / "t.db").exists()
    (damaged / (result.path.name + ".json")).unlink()
    with pytest.raises(RestoreRefused, match="manifest"):
        restore(settings, damaged / result.path.name, url=target)
    manifest = json.loads((result.path.parent / (result.path.name + ".json")).read_text(encoding="utf-8"))
    manifest["schema_revision"] = "9999"
    (result.path.parent / (result.path.name + ".json")).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(RestoreRefused, match="newer release"):
        restore(settings, result.path, url=target)


def test_restore_of_an_older_backup_runs_the_migrations(release_copy, tmp_path):
    command.downgrade(alembic_config(release_copy), "0002")  # a backup written by an even older schema
    get_engine(release_copy).dispose()
    settings = ops_settings(tmp_path, release_copy)
    result = backup(settings)
    assert result.manifest["schema_revision"] == "0002"
    target = sqlite_url(tmp_path / "restored.db")
    restored = restore(settings, result.path, url=target)
    assert restored.ok, restored.problems
    assert (restored.revision_before, restored.revision_after) == ("0002", head_revision()) and restored.migrated
    with get_engine(target).connect() as conn:  # 0003's backfill ran: household audit rows carry their household
        rows = conn.exec_driver_sql("SELECT count(*) FROM audit_log WHERE object_type = 'household' "
                                    "AND household_id IS NULL").scalar_one()
    get_engine(target).dispose()
    assert rows == 0


# --- the previous release's database ----------------------------------------------------------

def test_release_fixture_is_small_and_from_release_0_1():
    assert FIXTURE.stat().st_size < 2 * 1024 * 1024
    revision, counts, integrity = facts(sqlite_url(FIXTURE))
    assert revision == RELEASE_REVISION and RELEASE_REVISION in known_revisions()
    assert counts["households"] == 66 and counts["redemptions"] == 2 and counts["points_appeals"] == 1
    assert counts["emergency_events"] == 2 and counts["visit_logs"] == 1 and counts["outbox"] > 0
    assert integrity.ok and integrity.grievances == 5


def test_every_migration_runs_forward_on_the_release_database(release_copy):
    revision, before, _ = facts(release_copy)
    assert revision == RELEASE_REVISION
    migrate(release_copy)
    get_engine(release_copy).dispose()
    revision, after, integrity = facts(release_copy)
    assert revision == head_revision()
    assert integrity.ok, integrity.problems()
    assert integrity.households == 66 and integrity.grievances == 5
    assert {table: after.get(table) for table in before} == before, "every row of the old release is still there"
    with sqlite3.connect(release_copy[len("sqlite:///"):]) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def upgrade_steps() -> list[str]:
    """The command lines of the README's upgrade steps (the code block after the marker)."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- upgrade-steps -->\s*```bash\n(.*?)```", readme, re.S)
    assert block, "README: the upgrade steps block is missing"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_the_readme_upgrade_steps_on_a_release_database(release_copy, tmp_path, cli):
    steps = upgrade_steps()
    assert steps == ["python -m bot backup", "git pull", "python -m bot migrate", "python -m bot verify", "make run"]
    _, before, _ = facts(release_copy)
    for step in steps:
        if step == "git pull":
            continue  # this checkout is the new release already
        argv = ["seed"] if step == "make run" else step.split()[3:]  # `make run` migrates and seeds, then serves
        outcome = cli(*argv, url=release_copy)
        assert outcome.returncode == 0, (step, outcome.stdout, outcome.stderr)
    revision, after, integrity = facts(release_copy)
    assert revision == head_revision() and integrity.ok
    assert {table: after.get(table) for table in before} == before, "the seed added nothing to an existing village"
    backups = list_backups(tmp_path / "var" / "backups")
    assert len(backups) == 1 and json.loads(backups[0].manifest_path.read_text())["schema_revision"] == RELEASE_REVISION
    # ... and that backup brings the old release's data back under the new code.
    settings = ops_settings(tmp_path, release_copy)
    restored = restore(settings, backups[0].path, url=sqlite_url(tmp_path / "rollback.db"))
    assert restored.ok and restored.row_counts["points_entries"] == before["points_entries"]


# --- retention and the nightly job -------------------------------------------------------------

def _touch_backup(folder: Path, stamp: dt.datetime, slug: str = "xinghua", complete: bool = True, tag: str = "") -> Path:
    path = folder / f"xiangyin-{slug}-{stamp:%Y%m%d-%H%M%S}{'-' + tag if tag else ''}.sqlite.gz"
    path.write_bytes(b"x")
    if complete:
        (folder / (path.name + ".json")).write_text("{}")
        (folder / (path.name + ".sha256")).write_text("x")
    return path


def test_retention_keeps_the_newest_of_each_day_week_and_month(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    day = dt.date(2025, 6, 1)
    while day <= dt.date(2026, 11, 28):
        _touch_backup(folder, dt.datetime.combine(day, dt.time(2, 30)))
        day += dt.timedelta(days=1)
    _touch_backup(folder, dt.datetime(2026, 11, 28, 14, 0))  # by hand, later the same day
    _touch_backup(folder, dt.datetime(2026, 11, 27, 20, 0))
    _touch_backup(folder, dt.datetime(2026, 1, 1, 2, 30), slug="taohua")  # another series: its own policy
    _touch_backup(folder, dt.datetime(2026, 11, 28, 14, 30), tag="pre-restore")  # its own series too
    _touch_backup(folder, dt.datetime(2026, 11, 20, 3, 0), complete=False)  # unfinished, long ago
    _touch_backup(folder, dt.datetime(2026, 11, 28, 14, 50), complete=False)  # unfinished, may still be running
    (folder / "notes.txt").write_text("not ours")

    series = [b for b in list_backups(folder) if b.series == ("xinghua", "") and b.complete]
    keep, drop = plan_retention(series, 7, 4, 12)
    expected = ["20261128-140000", "20261127-200000", "20261126-023000", "20261125-023000", "20261124-023000",
                "20261123-023000", "20261122-023000",  # 7 days
                "20261115-023000", "20261108-023000",  # weeks 46, 45 (48 and 47 are kept already)
                "20261031-023000", "20260930-023000", "20260831-023000", "20260731-023000", "20260630-023000",
                "20260531-023000", "20260430-023000", "20260331-023000", "20260228-023000", "20260131-023000",
                "20251231-023000"]  # 12 months (November's newest is the first one)
    assert [b.stamp.strftime("%Y%m%d-%H%M%S") for b in keep] == expected
    assert len(keep) + len(drop) == len(series)

    settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path)})
    deleted = prune(folder, settings, now=dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.timezone.utc))  # 15:00 local
    left = {p.name for p in folder.iterdir()}
    assert "notes.txt" in left and "xiangyin-taohua-20260101-023000.sqlite.gz" in left
    assert "xiangyin-xinghua-20261128-145000.sqlite.gz" in left  # unfinished but recent: left alone
    assert "xiangyin-xinghua-20261128-143000-pre-restore.sqlite.gz" in left
    assert "xiangyin-xinghua-20261120-030000.sqlite.gz" not in left
    kept_now = sorted(b.stamp.strftime("%Y%m%d-%H%M%S") for b in list_backups(folder)
                      if b.complete and b.series == ("xinghua", ""))
    assert kept_now == sorted(expected)
    assert len(deleted) == len(drop) + 1
    assert not any(name.startswith("xiangyin-xinghua-20261121") for name in left), "manifests go with their backup"
    assert parse_name(Path("xiangyin-xinghua-20261128-140000-pre-restore.sqlite.gz")).tag == "pre-restore"


def test_the_nightly_job_backs_up_once_a_day_after_its_hour(fresh_db, tmp_path):
    settings = ops_settings(tmp_path, fresh_db)  # 02:30 Asia/Shanghai
    early = dt.datetime(2026, 11, 28, 18, 0, tzinfo=dt.timezone.utc)  # 02:00 local on the 29th
    late = dt.datetime(2026, 11, 28, 19, 0, tzinfo=dt.timezone.utc)  # 03:00 local
    assert not backup_due(settings, early) and nightly_job(early, settings) == {}
    assert backup_due(settings, late)
    (settings.var_dir / "logs").mkdir(parents=True)
    (settings.var_dir / "logs" / "rasa.log").write_bytes(b"x" * (settings.backup.log_max_bytes + 1))
    done = nightly_job(late, settings)
    assert done["backup"].endswith("xiangyin-xinghua-20261129-030000.sqlite.gz")
    assert (settings.var_dir / "logs" / "rasa.log.1").stat().st_size == settings.backup.log_max_bytes + 1
    assert (settings.var_dir / "logs" / "rasa.log").stat().st_size == 0  # copytruncate: servers keep their file
    assert nightly_job(late + dt.timedelta(hours=5), settings) == {}  # once a day
    off = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db,
                         "XIANGYIN_BACKUP_AT": "off"})
    assert not backup_due(off, late + dt.timedelta(days=1))


# --- health and logs ------------------------------------------------------------------------

def test_health_reports_database_schema_and_outbox(fresh_db, tmp_path, cli):
    settings = ops_settings(tmp_path, fresh_db)
    report = health(settings)
    assert report["database"]["reachable"] and report["database"]["up_to_date"]
    assert report["database"]["schema_revision"] == head_revision()
    with session_scope(url=fresh_db) as s:
        pending = s.execute(select(func.count(OutboxMessage.id)).where(OutboxMessage.delivered_at.is_(None))).scalar_one()
    assert report["outbox"]["backlog"] == pending > 0
    assert report["disk"]["var_free_bytes"] > 0 and report["disk"]["last_backup"] is None
    assert any("no backup" in w for w in report["warnings"])
    backup(settings)
    assert health(settings)["disk"]["last_backup"]["age_hours"] < 1
    outcome = cli("health", "--no-servers", url=fresh_db)
    assert json.loads(outcome.stdout)["database"]["reachable"]
    missing = cli("health", "--no-servers", url=sqlite_url(tmp_path / "nowhere.db"))
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "fail"
    assert not (tmp_path / "nowhere.db").exists(), "a health check creates no database"


def test_rotate_logs_by_size(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "rasa.log").write_bytes(b"a" * 2000)
    (logs / "rasa.log.1").write_bytes(b"older")
    (logs / "rasa.log.2").write_bytes(b"oldest")
    (logs / "actions.log").write_bytes(b"small")
    assert rotate_logs(logs, max_bytes=1000, keep=2) == [logs / "rasa.log"]
    assert (logs / "rasa.log.1").read_bytes() == b"a" * 2000 and (logs / "rasa.log.2").read_bytes() == b"older"
    assert not (logs / "rasa.log").exists() and not (logs / "rasa.log.3").exists()
    assert (logs / "actions.log").read_bytes() == b"small"
    with open(logs / "actions.log", "ab") as held_open:  # a running server's file
        held_open.write(b"b" * 2000)
        held_open.flush()
        rotate_logs(logs, max_bytes=1000, keep=2, copytruncate=True)
        held_open.write(b"after")
        held_open.flush()
    assert (logs / "actions.log.1").read_bytes() == b"small" + b"b" * 2000
    assert (logs / "actions.log").read_bytes() == b"after", "appends continue at the start of the emptied file"
    assert rotate_logs(tmp_path / "missing", 1, 1) == []
