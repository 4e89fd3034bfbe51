"""Moving villages into one county PostgreSQL database (``python -m bot migrate-data``,
bot/ops/datamove.py).

Two demo villages: 杏花村 as written by release 0.1 (tests/data/release-0.1.sqlite: redemptions,
an overturned appeal, emergencies, a visit, outbox rows and audit rows) and a second village made
from the seeded demo by renaming the village and its logins (:func:`second_village`). Everything
else collides on purpose — ticket numbers 260101…, idempotency keys ``seed:1:0``…, voice devices
``device-001``…, dedupe keys ``grievance:1:event:1``… — as it would between real villages.

* both move into one scratch database, each verified; a second run of each changes nothing;
* a dry run reports and rolls back;
* a ``migrate-data`` process killed with SIGKILL half-way (batches of 5 rows, a pause after
  each) leaves the target consistent — every balance equals its ledger, every grievance state
  its last event, every mapped row exists, the other village untouched — and a re-run resumes
  and completes the move.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from bot.config import PROJECT_ROOT, child_environment, load_settings
from bot.db import get_engine, migrate
from bot.models import Base, OutboxMessage, Village
from bot.ops.datamove import MoveError, datamove_map, datamove_runs, migrate_data, village_figures
from bot.ops.integrity import check_integrity, row_counts
from tests.support.databases import copy_database, sqlite_url

FIXTURE = PROJECT_ROOT / "tests" / "data" / "release-0.1.sqlite"


def quiet(line: str) -> None:
    pass


def second_village(template: Path, target: Path) -> str:
    """A copy of the seeded demo village as another village: 青山镇 桃花村 (code taohua), every
    login prefixed with ``th_`` (and the CLI identities that carry the login)."""
    copy_database(template, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE villages SET code = 'taohua', name = '桃花村'")
        conn.execute("UPDATE users SET login = 'th_' || login")
        conn.execute("UPDATE channel_identities SET external_id = 'th_' || external_id WHERE channel = 'cli'")
    conn.close()
    return sqlite_url(target)


@pytest.fixture()
def villages(seeded_template, tmp_path) -> tuple[str, str]:
    """(杏花村 from release 0.1, 桃花村 from today's seed) as SQLite URLs."""
    xinghua = tmp_path / "xinghua.db"
    shutil.copyfile(FIXTURE, xinghua)
    return sqlite_url(xinghua), second_village(seeded_template, tmp_path / "taohua.db")


def table_counts(url: str) -> dict[str, int]:
    """Rows per table of the models that the database has (an older source lacks newer ones)."""
    engine = create_engine(url, future=True, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {name: n for name, n in row_counts(conn).items() if name in Base.metadata.tables}
    finally:
        engine.dispose()


def source_keys(url: str) -> set[str]:
    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        return {key for (key,) in conn.execute("SELECT idempotency_key FROM points_entries")}


def village_state(url: str, name: str) -> dict:
    engine = create_engine(url, future=True, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            village_id = conn.execute(select(Village.id).where(Village.name == name)).scalar_one()
            integrity = check_integrity(conn, village_id)
            return {"figures": village_figures(conn, village_id), "integrity_ok": integrity.ok,
                    "problems": integrity.problems(), "households": integrity.households}
    finally:
        engine.dispose()


def test_two_villages_into_one_county_database_and_again(villages, scratch_pg_url, settings):
    xinghua, taohua = villages
    first = migrate_data(xinghua, scratch_pg_url, settings, log=quiet)
    assert first.ok, first.verification["problems"]
    assert first.renamed == [] and not first.resumed
    assert first.tables["points_entries"].inserted == table_counts(xinghua)["points_entries"]
    xinghua_state = village_state(scratch_pg_url, "杏花村")
    assert xinghua_state["figures"]["pickups_waiting"] == 1 and xinghua_state["figures"]["open_grievances"] == 4

    second = migrate_data(taohua, scratch_pg_url, settings, log=quiet)
    assert second.ok, second.verification["problems"]
    renamed = {(r["table"], r["column"]) for r in second.renamed}
    assert {("grievances", "ticket_no"), ("points_entries", "idempotency_key"),
            ("channel_identities", "external_id")} <= renamed
    tickets = {r["old"]: r["new"] for r in second.renamed if r["table"] == "grievances"}
    assert set(tickets) == {"260101", "260102", "260103", "260104"}
    assert all(len(new) == 6 and new.isdigit() for new in tickets.values())
    assert village_state(scratch_pg_url, "杏花村") == xinghua_state, "moving 桃花村 did not touch 杏花村"
    assert village_state(scratch_pg_url, "桃花村")["integrity_ok"]

    engine = get_engine(scratch_pg_url)
    with engine.connect() as conn:
        new_ids = {}
        for table, old, new in conn.execute(select(datamove_map.c.table_name, datamove_map.c.old_id,
                                                   datamove_map.c.new_id).where(
                datamove_map.c.source_id == "village:青山镇/桃花村")):
            new_ids[(table, old)] = new
        with create_engine(taohua, future=True, poolclass=NullPool).connect() as source:
            moved = list(source.execute(select(OutboxMessage.id, OutboxMessage.dedupe_key, OutboxMessage.payload)))
        assert moved
        for old_id, key, payload in moved:
            row = conn.execute(select(OutboxMessage.dedupe_key, OutboxMessage.payload).where(
                OutboxMessage.id == int(new_ids[("outbox", str(old_id))]))).one()
            # Ids inside dedupe keys follow their rows, so the county's notify() recognises them.
            expected = re.sub(r"grievance:(\d+)", lambda m: f"grievance:{new_ids[('grievances', m.group(1))]}", key)
            expected = re.sub(r"event:(\d+)", lambda m: f"event:{new_ids[('grievance_events', m.group(1))]}", expected)
            expected = re.sub(r"assigned:(\d+)", lambda m: f"assigned:{new_ids[('users', m.group(1))]}", expected)
            assert row.dedupe_key == expected
            assert row.payload["ticket_no"] == tickets.get(payload["ticket_no"], payload["ticket_no"])
        # Idempotency keys are kept; those 杏花村 holds already get 桃花村's code.
        keys = set(conn.execute(text("SELECT idempotency_key FROM points_entries")).scalars())
        shared = source_keys(xinghua) & source_keys(taohua)
        assert len(shared) > 500
        assert all(key in keys and f"{key}@taohua" in keys for key in shared)
        assert source_keys(taohua) - shared <= keys
    counts = table_counts(scratch_pg_url)

    for source in (xinghua, taohua):  # nothing moves twice
        again = migrate_data(source, scratch_pg_url, settings, log=quiet)
        assert again.ok and again.resumed and again.rows_moved == 0 and again.renamed == []
    dry = migrate_data(taohua, scratch_pg_url, settings, dry_run=True, log=quiet)
    assert dry.ok and dry.dry_run and dry.rows_moved == 0
    assert table_counts(scratch_pg_url) == counts
    with engine.connect() as conn:
        states = list(conn.execute(select(datamove_runs.c.source_id, datamove_runs.c.state)
                                   .order_by(datamove_runs.c.id)))
    assert [state for _, state in states] == ["done"] * 4


def test_dry_run_changes_nothing_and_reports_the_move(villages, scratch_pg_url, settings, capsys):
    from bot.cli.main import main

    xinghua, _ = villages
    migrate(scratch_pg_url)
    get_engine(scratch_pg_url).dispose()
    before = table_counts(scratch_pg_url)
    code = main(["migrate-data", "--from", xinghua, "--to", scratch_pg_url, "--dry-run"], settings)
    out = capsys.readouterr().out
    assert code == 0 and "DRY RUN" in out and "通过" in out
    assert table_counts(scratch_pg_url) == before
    with get_engine(scratch_pg_url).connect() as conn:
        assert "datamove_map" not in conn.dialect.get_table_names(conn), "even the bookkeeping was rolled back"


def test_a_village_already_in_the_county_is_not_merged(villages, scratch_pg_url, settings):
    from bot.seed import seed_demo_village

    migrate(scratch_pg_url)
    seed_demo_village(scratch_pg_url)  # 杏花村 put there by other means
    with pytest.raises(MoveError, match="already holds"):
        migrate_data(villages[0], scratch_pg_url, settings, log=quiet)


def test_kill_9_mid_move_leaves_the_target_consistent_and_a_rerun_completes(villages, scratch_pg_url, settings):
    xinghua, taohua = villages
    assert migrate_data(taohua, scratch_pg_url, settings, log=quiet).ok  # the county's other village
    taohua_state = village_state(scratch_pg_url, "桃花村")
    env = child_environment({"XIANGYIN_MOVE_PAUSE": "0.05"}, settings)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "migrate-data", "--from", xinghua, "--to", scratch_pg_url,
                             "--batch-size", "5"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    engine = get_engine(scratch_pg_url)
    deadline = time.monotonic() + 240
    moved_entries = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                try:
                    moved_entries = conn.execute(select(text("count(*)")).select_from(datamove_map).where(
                        datamove_map.c.source_id == "village:青山镇/杏花村",
                        datamove_map.c.table_name == "points_entries")).scalar_one()
                except Exception:  # noqa: BLE001 - the bookkeeping table does not exist yet
                    moved_entries = 0
            if moved_entries >= 60:  # well into the ledger: households, balances, grievances half done
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    assert moved_entries >= 60

    # The target after the kill: consistent, partial, the other village untouched.
    source_entries = table_counts(xinghua)["points_entries"]
    with engine.connect() as conn:
        village_id = conn.execute(select(Village.id).where(Village.name == "杏花村")).scalar_one()
        integrity = check_integrity(conn, village_id)
        assert integrity.ok, integrity.problems()
        mapped = dict(conn.execute(select(datamove_map.c.table_name, text("count(*)")).where(
            datamove_map.c.source_id == "village:青山镇/杏花村").group_by(datamove_map.c.table_name)).all())
        for table in Base.metadata.tables.values():
            if table.name == "points_balances":
                present = conn.execute(text(
                    "SELECT count(*) FROM points_balances b JOIN datamove_map m ON m.new_id = CAST(b.household_id AS "
                    "VARCHAR) AND m.table_name = 'points_balances' AND m.source_id = 'village:青山镇/杏花村'")).scalar_one()
            else:
                present = conn.execute(text(
                    f"SELECT count(*) FROM {table.name} t JOIN datamove_map m ON m.new_id = CAST(t.id AS VARCHAR) "
                    f"AND m.table_name = '{table.name}' AND m.source_id = 'village:青山镇/杏花村'")).scalar_one()
            assert present == mapped.get(table.name, 0), table.name
        partial_entries = conn.execute(text("SELECT count(*) FROM points_entries WHERE village_id = :v"),
                                       {"v": village_id}).scalar_one()
        assert 0 < partial_entries < source_entries, "killed half-way through the ledger"
    assert village_state(scratch_pg_url, "桃花村") == taohua_state

    resumed = migrate_data(xinghua, scratch_pg_url, settings, log=quiet)
    assert resumed.ok and resumed.resumed, resumed.verification["problems"]
    assert resumed.tables["points_entries"].already == partial_entries
    assert resumed.tables["points_entries"].inserted == source_entries - partial_entries
    assert village_state(scratch_pg_url, "杏花村")["figures"] == village_state(xinghua, "杏花村")["figures"]
    assert village_state(scratch_pg_url, "桃花村") == taohua_state
    with engine.connect() as conn:
        states = [row.state for row in conn.execute(select(datamove_runs.c.state).where(
            datamove_runs.c.source_id == "village:青山镇/杏花村").order_by(datamove_runs.c.id))]
    assert states == ["interrupted", "done"]


def test_one_move_per_village_at_a_time(villages, scratch_pg_url, settings):
    import hashlib

    from bot.ops.datamove import LOCK_BASE

    xinghua, taohua = villages
    key = LOCK_BASE + int(hashlib.sha256("village:青山镇/杏花村".encode()).hexdigest()[:6], 16)
    migrate(scratch_pg_url)
    holder = create_engine(scratch_pg_url, future=True, poolclass=NullPool).connect()
    try:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})  # a move of 杏花村 in progress elsewhere
        with pytest.raises(MoveError, match="another move"):
            migrate_data(xinghua, scratch_pg_url, settings, log=quiet)
        assert migrate_data(taohua, scratch_pg_url, settings, log=quiet).ok  # other villages are not held up
    finally:
        holder.close()
    assert migrate_data(xinghua, scratch_pg_url, settings, log=quiet).ok


def test_the_county_database_backs_up_with_pg_dump_and_restores(villages, scratch_pg_url, settings, tmp_path):
    from bot.ops.backup import BackupError, RestoreRefused, backup, find_tool, restore
    from bot.ops.databases import scratch_postgres

    assert migrate_data(villages[1], scratch_pg_url, settings, log=quiet).ok
    ops = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": scratch_pg_url})
    result = backup(ops)
    assert result.path.name.endswith(".pgdump") and result.manifest["engine"] == "postgresql"
    assert result.manifest["village"]["code"] == "taohua" and result.manifest["row_counts"]["households"] == 66
    with scratch_postgres("xiangyin_test", admin_url=settings.test.postgres_url) as other:
        restored = restore(ops, result.path, url=other)
        assert restored.ok, restored.problems
        assert restored.row_counts["datamove_map"] == result.manifest["row_counts"]["datamove_map"]
        with pytest.raises(RestoreRefused, match="--force"):
            restore(ops, result.path, url=other)
        assert restore(ops, result.path, url=other, force=True).ok
        get_engine(other).dispose()
    with pytest.raises(BackupError, match="pg_dump not found"):
        find_tool("pg_dump", ops, path=str(tmp_path), versioned=tmp_path)


def test_a_rehearsal_then_the_final_move_brings_ledgers_and_grievances_up_to_date(villages, scratch_pg_url, settings):
    from bot import grievances, points
    from bot.db import session_scope
    from bot.identity import resolve_actor

    _, taohua = villages
    assert migrate_data(taohua, scratch_pg_url, settings, log=quiet).ok  # the rehearsal
    with session_scope(write=True, url=taohua) as s:  # the village keeps working
        staff = resolve_actor(s, "cli:th_wangxiulan")
        villager = resolve_actor(s, "cli:th_wangjianguo")
        points.award(s, staff, villager.household_id, "义务清扫", "", "after-rehearsal:1")
        grievances.transition(s, resolve_actor(s, "cli:th_zhaodefu"), "260101", "accept", "下午去看")
    get_engine(taohua).dispose()
    final = migrate_data(taohua, scratch_pg_url, settings, log=quiet)
    assert final.ok, final.verification["problems"]
    assert final.tables["points_entries"].inserted == 1 and final.tables["points_balances"].refreshed == 1
    assert final.tables["grievance_events"].inserted == 1 and final.tables["grievances"].refreshed == 1
    assert village_state(scratch_pg_url, "桃花村")["figures"] == village_state(taohua, "桃花村")["figures"]
    again = migrate_data(taohua, scratch_pg_url, settings, log=quiet)
    assert again.ok and again.rows_moved == 0 and sum(t.refreshed for t in again.tables.values()) == 0
