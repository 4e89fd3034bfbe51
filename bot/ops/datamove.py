"""Moving one village's database into a county database: ``python -m bot migrate-data``.

The source is a village's own database (SQLite, one village); the target a county database
(PostgreSQL) that may already hold other villages. Nothing here names the tables: they come
from ``bot.models.Base.metadata`` in foreign-key order (:func:`bot.ops.integrity.insert_order`),
so tables added by later migrations move too.

How a row moves
  The source is first copied (SQLite backup API: a consistent snapshot even while the village
  server runs) and that copy migrated to this code's schema; the target must be at the same
  revision (an empty target gets the schema). Rows never keep their ids: new ones are drawn
  from the target's own sequences (``nextval``, one call per batch, so a batch is one multi-row
  INSERT), and every foreign key is rewritten through the map old id → new id of its table. Ids that live outside foreign keys are rewritten too: ``audit_log.household_id``
  and ``audit_log.object_id`` (by ``object_type``), the ids inside outbox dedupe keys
  (``grievance:12:event:40`` → the new ids, so the county's ``notify()`` recognises messages
  already sent) and in outbox payloads. Cyclic references (``users.resident_id``) are
  inserted empty and filled in once their table has moved.

Natural keys and collisions
  Values unique across the whole database — user login, ticket number, idempotency key of a
  points entry, dedupe key of an outbox row, pickup code, link code, a channel's external id,
  the village code — may already be taken by another village in the county (every demo village
  has ticket 260101 and key ``seed:1:0``). Such a value is kept when it is free; when another
  village has it, it is renamed deterministically (numbers people read aloud — tickets, pickup
  codes — become another number of the same length; other values get ``@<village code>``) and
  listed in the report, so the clerk can tell the people concerned (a renamed staff login needs
  its PIN set again; a renamed voice device id must be set on the device). A row whose unique
  value exists *with the same parents* (a global row, e.g. a shared lookup table) is adopted
  instead of copied. The village itself is identified by name + township: a target that
  already holds that village, but not from an earlier run of this move, is refused.

Idempotency and resume
  The map lives in the target, in ``datamove_map(source_id, table_name, old_id, new_id, how)``,
  written in the same transaction as the rows it maps: after a crash, the map and the moved rows
  agree. ``source_id`` is ``village:<township>/<name>``, so a re-run from the same village
  (even from a backup copy of its file) skips every mapped row and moves only the rest; a second
  complete run changes nothing. ``datamove_runs`` records each run (running / done / failed /
  interrupted, the report as JSON). Both tables are created by this module (``CREATE TABLE IF NOT
  EXISTS``), not by an Alembic migration: they are the move tool's bookkeeping in county
  databases only, never in a village's own database, and the app never reads them.

Transactional batches
  Rows move in batches of ``XIANGYIN_MOVE_BATCH`` (one transaction each, with their map rows and
  the run's progress). Invariant-bearing rows move together: a grievance with all its events (its
  state equals its last event at every commit), a household's ledger entries with its balance row
  (balance equals ledger at every commit). A kill -9 loses at most the open batch; the target
  stays consistent and the next run resumes. One move per village at a time (a PostgreSQL
  advisory lock). Until the run says done, the village must not go live in the county.

Dry run
  ``--dry-run`` does the whole move and its verification inside one transaction and rolls it
  back: the report shows exactly what a real run would insert, rename and verify (sequence
  values it drew stay used: gaps in ids, nothing else). An empty target is refused: create
  its schema first (``python -m bot migrate --url …``).

Moving while the village still works
  A re-run moves the rows added since; within a ledger or a grievance it also brings the rows
  moved earlier up to date (a household with new entries gets its current balance, a grievance
  with new events its current state), so the invariants hold. Other rows changed after they were
  moved are not copied again: stop the village's assistant for the final run. Files (grievance
  photos in ``var/uploads``) are not in the database: copy the folder.

Verification
  Per table: source rows = map entries = target rows that exist. For the village in the target:
  every balance equals its ledger, every grievance state equals its last event, and the
  households, the sum of balances, the ledger total, the open grievances, the pickups not yet
  collected and the undelivered outbox messages equal the source's.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    or_,
    tuple_,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from bot.config import Settings
from bot.models import Base, utcnow
from bot.ops.integrity import Reference, check_integrity, head_revision, insert_order, known_revisions, schema_revision

# --- what the schema does not say -----------------------------------------------------------

#: How a village is recognised in the county database (not by its code, which may collide).
VILLAGE_TABLE = "villages"
VILLAGE_KEY = ("name", "township")
#: Tables whose unique values are never "the same row" in another database: always renamed on collision.
NEVER_ADOPT = {VILLAGE_TABLE}
#: The column renamed when a multi-column unique key collides.
RENAME_COLUMN = {"channel_identities": "external_id"}
#: Integer columns holding ids without a foreign key.
SOFT_REFERENCES = {("audit_log", "household_id"): "households"}
#: object_type values of the audit log → the table its object_id refers to.
#: (What the domain passes to ``identity.audit``: a redemption is audited with its household's id
#: when made and with its own when collected, a channel identity with its user's, a refused link
#: code with the user it was asked for. Types not listed: the table named ``<type>s``.)
OBJECT_TYPES = {
    "household": "households", "grievance": "grievances", "points_entry": "points_entries",
    "points_appeal": "points_appeals", "emergency": "emergency_events", "points_balance": "households",
    "user": "users", "channel_identity": "users", "care_schedule": "users", "care_policy": "care_policies",
    "redemption": lambda row: "redemptions" if str(row.get("detail") or "").startswith("collected ") else "households",
    "link_code": lambda row: "users" if str(row.get("detail") or "").startswith("code for ") else "link_codes",
}
POLYMORPHIC = {("audit_log", "object_id"): "object_type"}
#: Ids inside text keys: (table, column) → (pattern with the id as group 2, table of the id).
#: (The formats bot/*.py passes to ``outbox.notify``; a new format with ids belongs here.)
KEY_IDS = {
    ("outbox", "dedupe_key"): (
        (r"(grievance:)(\d+)", "grievances"), (r"(event:)(\d+)", "grievance_events"),
        (r"(emergency:)(\d+)", "emergency_events"), (r"(points_appeal:)(\d+)", "points_appeals"),
        (r"(points_application:)(\d+)", "points_applications"), (r"(followup:)(\d+)", "followups"),
        (r"(redemption:)(\d+)", "redemptions"), (r"(assigned:)(\d+)", "users"), (r"(taken:)(\d+)", "users"),
        (r"(relative:)(\d+)", "users"), (r"(township-overdue:[^:]*:)(\d+)", "users"),
    ),
}
#: Ids inside JSON objects: (table, column) → {key: table of the id}; "ticket_no" follows renames.
JSON_IDS = {
    ("outbox", "payload"): {"appeal_id": "points_appeals", "entry_id": "points_entries",
                            "emergency_id": "emergency_events", "household_id": "households",
                            "household_ids": "households", "grievance_id": "grievances", "user_id": "users",
                            "application_id": "points_applications", "followup_id": "followups",
                            "redemption_id": "redemptions"},
}
RENAMED_JSON_VALUES = {("outbox", "payload"): {"ticket_no": ("grievances", "ticket_no")}}


@dataclass(frozen=True)
class Aggregate:
    """Rows that move in one transaction: batches of ``root`` never split a value of ``key``,
    and carry the ``companions`` rows whose column equals it."""

    root: str
    key: str
    companions: tuple[tuple[str, str], ...]


AGGREGATES = (
    Aggregate("grievances", "id", (("grievance_events", "grievance_id"),)),  # state = last event
    Aggregate("points_entries", "household_id", (("points_balances", "household_id"),)),  # balance = ledger
)

# --- bookkeeping in the target --------------------------------------------------------------

MOVE_METADATA = MetaData()
datamove_map = Table(
    "datamove_map", MOVE_METADATA,
    Column("source_id", String(160), primary_key=True),
    Column("table_name", String(64), primary_key=True),
    Column("old_id", String(64), primary_key=True),
    Column("new_id", String(64), nullable=False),
    Column("how", String(8), nullable=False),  # inserted | adopted
)
datamove_runs = Table(
    "datamove_runs", MOVE_METADATA,
    Column("id", Integer, primary_key=True),
    Column("source_id", String(160), nullable=False, index=True),
    Column("source", String(512), nullable=False),
    Column("state", String(16), nullable=False),  # running | done | failed | interrupted
    Column("schema_revision", String(64), nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("rows_moved", Integer, nullable=False, default=0),
    Column("report", Text, nullable=True),
)
LOCK_BASE = 7_312_100


class MoveError(RuntimeError):
    """The move cannot be done (or go on); the message says why, for the clerk."""


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _key(values: Iterable) -> str:
    return "|".join(str(v) for v in values)


# --- planning -------------------------------------------------------------------------------

@dataclass
class TablePlan:
    table: Table
    pk: list[str]
    auto_pk: bool  # one integer primary key that is not a foreign key: the target assigns it
    refs: dict[str, str]  # column → table (foreign keys to other tables, not deferred)
    self_refs: list[str]
    deferred: dict[str, str]
    uniques: list[tuple[str, ...]]  # unique column sets with a value column (not only foreign keys)

    @property
    def name(self) -> str:
        return self.table.name


def _unique_sets(table: Table) -> list[tuple[str, ...]]:
    sets = []
    for constraint in table.constraints:
        if constraint.__class__.__name__ == "UniqueConstraint":
            sets.append(tuple(c.name for c in constraint.columns))
    for index in table.indexes:
        partial = any(index.dialect_options[d].get("where") is not None for d in ("postgresql", "sqlite"))
        if index.unique and not partial:
            sets.append(tuple(c.name for c in index.columns))
    for column in table.columns:
        if column.unique:
            sets.append((column.name,))
    unique = []
    for s in sets:
        if s not in unique:
            unique.append(s)
    return unique


def plan_tables(metadata=Base.metadata) -> tuple[list[TablePlan], list[Reference]]:
    extra: dict[str, set[str]] = {}
    for (table, _), target in SOFT_REFERENCES.items():
        extra.setdefault(table, set()).add(target)
    for (table, _) in POLYMORPHIC:  # may point anywhere: after every other table
        extra.setdefault(table, set()).update(set(metadata.tables) - {table})
    for (table, _), patterns in KEY_IDS.items():
        extra.setdefault(table, set()).update(target for _, target in patterns)
    for (table, _), keys in JSON_IDS.items():
        extra.setdefault(table, set()).update(keys.values())
    for (table, _), keys in RENAMED_JSON_VALUES.items():
        extra.setdefault(table, set()).update(t for t, _ in keys.values())
    ordered, deferred = insert_order(metadata, extra)
    deferred_by_table: dict[str, dict[str, str]] = {}
    for ref in deferred:
        deferred_by_table.setdefault(ref.table, {})[ref.column] = ref.target
    plans = []
    for table in ordered:
        refs, self_refs = {}, []
        for fk in table.foreign_key_constraints:
            column = list(fk.columns)[0].name
            target = fk.referred_table.name
            if [e.column.name for e in fk.elements] != [c.name for c in fk.referred_table.primary_key.columns]:
                raise NotImplementedError(f"{table.name}.{column} refers to {target} by a column that is not its "
                                          f"primary key: teach bot/ops/datamove.py how to rewrite it")
            if target == table.name:
                self_refs.append(column)
            elif column not in deferred_by_table.get(table.name, {}):
                refs[column] = target
        pk = [c.name for c in table.primary_key.columns]
        auto = len(pk) == 1 and isinstance(table.c[pk[0]].type, Integer) and pk[0] not in refs
        fk_columns = set(refs) | set(self_refs) | set(deferred_by_table.get(table.name, {}))
        uniques = [s for s in _unique_sets(table) if not set(s) <= fk_columns and s != tuple(pk)]
        plans.append(TablePlan(table, pk, auto, refs, self_refs, deferred_by_table.get(table.name, {}), uniques))
    return plans, deferred


# --- the move -------------------------------------------------------------------------------

@dataclass
class TableReport:
    source: int = 0
    already: int = 0  # moved by earlier runs
    inserted: int = 0
    adopted: int = 0
    refreshed: int = 0  # moved earlier, brought up to date with the source in this run

    def as_dict(self) -> dict:
        return {"source": self.source, "already": self.already, "inserted": self.inserted, "adopted": self.adopted,
                "refreshed": self.refreshed}


@dataclass
class MoveReport:
    source: str
    target: str
    source_id: str = ""
    dry_run: bool = False
    village: dict | None = None
    schema_revision: str | None = None
    tables: dict[str, TableReport] = field(default_factory=dict)
    renamed: list[dict] = field(default_factory=list)
    unlinked: list[dict] = field(default_factory=list)
    verification: dict = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.verification.get("ok"))

    @property
    def rows_moved(self) -> int:
        return sum(t.inserted + t.adopted for t in self.tables.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source, "target": self.target, "source_id": self.source_id, "dry_run": self.dry_run,
            "village": self.village, "schema_revision": self.schema_revision, "resumed": self.resumed,
            "tables": {name: t.as_dict() for name, t in self.tables.items()}, "rows_moved": self.rows_moved,
            "renamed": self.renamed, "unlinked": self.unlinked, "verification": self.verification,
            "batches": self.batches, "seconds": self.seconds, "ok": self.ok,
        }


class Mover:
    def __init__(self, source_url: str, target_url: str, settings: Settings, dry_run: bool = False,
                 batch: int | None = None, pause: float | None = None, log: Callable[[str], None] = print):
        self.source_url, self.target_url, self.settings = source_url, target_url, settings
        self.dry_run = dry_run
        self.batch = max(1, batch or settings.backup.move_batch)
        self.pause = settings.backup.move_pause if pause is None else pause
        self.log = log
        self.plans, self.deferred = plan_tables()
        self.by_name = {p.name: p for p in self.plans}
        self.map: dict[str, dict[str, str]] = {p.name: {} for p in self.plans}
        self.adopted: dict[str, set[str]] = {p.name: set() for p in self.plans}
        self.renames: dict[tuple[str, str, str], str] = {}
        self.report = MoveReport(redact(source_url), redact(target_url), dry_run=dry_run)
        self.tag = ""
        self.run_id: int | None = None
        self._parents: dict[str, dict] = {}

    # -- transactions -------------------------------------------------------------------

    def _tx(self):
        """One transaction (a savepoint inside the dry run's single transaction)."""
        return self.conn.begin_nested() if self.dry_run else self.conn.begin()

    # -- entry point ----------------------------------------------------------------------

    def run(self) -> MoveReport:
        from bot.db import get_engine

        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="xiangyin-move-") as staging:
            source_engine = self._open_source(Path(staging))
            try:
                with source_engine.connect() as self.src:
                    self._check_source()
                    self._prepare_target()
                    engine = get_engine(self.target_url)
                    if engine.dialect.name == "sqlite":
                        engine = engine.execution_options(sqlite_immediate=True)
                    with engine.connect() as self.conn:
                        lock = self._lock()
                        outer = self.conn.begin() if self.dry_run else None
                        try:
                            self._setup()
                            self._move_all()
                            self.report.verification = self.verify()
                            self.report.seconds = round(time.monotonic() - started, 3)
                            self._finish("done" if self.report.ok else "failed")
                        except BaseException as exc:
                            if not self.dry_run:
                                try:
                                    if self.conn.in_transaction():
                                        self.conn.rollback()
                                    self._finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
                                except Exception:  # noqa: BLE001 - the original error is the one to report  # nosec B110 - cleanup after a failure; the original error is the one reported
                                    pass
                            raise
                        finally:
                            if outer is not None:
                                outer.rollback()
                            self._unlock(lock)
            finally:
                source_engine.dispose()
        self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    # -- source ---------------------------------------------------------------------------

    def _open_source(self, staging: Path):
        """The source to read: a SQLite file is copied first (backup API: consistent even while
        the village server writes) and the copy migrated to this code's schema."""
        from bot.db import get_engine, migrate

        url = make_url(self.source_url)
        if url.get_backend_name() != "sqlite":
            engine = create_engine(self.source_url, future=True, poolclass=NullPool)
            with engine.connect() as conn:
                revision = schema_revision(conn)
            if revision != head_revision():
                engine.dispose()
                raise MoveError(f"源数据库的结构版本是 {revision}，先升级到 {head_revision()} / upgrade the source "
                                f"database first (python -m bot migrate --url …)")
            return engine
        path = Path(url.database or "")
        if not path.is_file():
            raise MoveError(f"源数据库文件不存在 / source database not found: {path}")
        copy = staging / "source.db"
        source, target = sqlite3.connect(str(path), timeout=60), sqlite3.connect(str(copy))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        copy_url = f"sqlite:///{copy}"
        engine = create_engine(copy_url, future=True, poolclass=NullPool)
        with engine.connect() as conn:
            revision = schema_revision(conn)
        if revision is None:
            raise MoveError(f"{path} 不是乡音的数据库（没有结构版本）/ not a Xiangyin database (no alembic_version)")
        if revision not in known_revisions():
            raise MoveError(f"源数据库来自更新的版本（{revision}），请先升级这台电脑上的程序 / the source comes from a "
                            f"newer release ({revision})")
        if revision != head_revision():
            self.log(f"源数据库结构 {revision} → {head_revision()}（在副本上升级，原文件不动）/ migrating a copy of the source")
            migrate(copy_url)
            get_engine(copy_url).dispose()
        return engine

    def _check_source(self) -> None:
        villages = self.src.execute(select(Base.metadata.tables[VILLAGE_TABLE])).mappings().all()
        if len(villages) != 1:
            raise MoveError(f"源数据库里有 {len(villages)} 个村；migrate-data 搬的是一个村自己的数据库 / the source holds "
                            f"{len(villages)} villages, expected one village's own database")
        village = dict(villages[0])
        self.village_old_id = village["id"]
        self.report.village = {k: village[k] for k in ("code", "name", "township")}
        self.report.source_id = self.source_id = f"village:{village['township']}/{village['name']}"
        self.report.schema_revision = head_revision()

    # -- target ---------------------------------------------------------------------------

    def _prepare_target(self) -> None:
        from bot.db import get_engine, migrate

        engine = create_engine(self.target_url, future=True, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                revision = schema_revision(conn)
                tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
        finally:
            engine.dispose()
        if revision is None and not (tables & set(Base.metadata.tables)):
            if self.dry_run:
                raise MoveError("目标数据库是空的：先建表再试运行 / the target is empty: create the schema first "
                                f"(python -m bot migrate --url {redact(self.target_url)}), then --dry-run")
            self.log(f"目标数据库是空的，建表 / creating the schema in the empty target ({head_revision()})")
            migrate(self.target_url)
            get_engine(self.target_url).dispose()
        elif revision != head_revision():
            raise MoveError(f"目标数据库的结构版本是 {revision}，这个程序是 {head_revision()}：先升级县里的数据库 / the "
                            f"target is at revision {revision}, this code at {head_revision()}: upgrade it first")

    def _lock(self) -> int | None:
        """One move per village at a time (a session advisory lock: a killed move's session
        ends, and its lock with it)."""
        if self.conn.dialect.name != "postgresql":
            return None  # SQLite targets: the write lock of each batch serialises movers
        key = LOCK_BASE + int(hashlib.sha256(self.source_id.encode()).hexdigest()[:6], 16)
        got = self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        self.conn.commit()
        if not got:
            raise MoveError(f"{self.source_id} 正在被另一个 migrate-data 搬迁 / another move of this village is running")
        return key

    def _unlock(self, key: int | None) -> None:
        """Release the lock before the connection goes back to the pool."""
        if key is None:
            return
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            self.conn.commit()
        except Exception:  # noqa: BLE001 - a broken connection: closing it releases the lock
            self.conn.invalidate()

    def _setup(self) -> None:
        with self._tx():
            if self.conn.dialect.name == "postgresql":
                self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_BASE})  # DDL one at a time
            MOVE_METADATA.create_all(self.conn, checkfirst=True)
            rows = self.conn.execute(select(datamove_map.c.table_name, datamove_map.c.old_id, datamove_map.c.new_id,
                                            datamove_map.c.how).where(datamove_map.c.source_id == self.source_id))
            for table, old, new, how in rows:
                self.map.setdefault(table, {})[old] = new
                if how == "adopted":
                    self.adopted.setdefault(table, set()).add(old)
            for plan in self.plans:
                self.report.tables[plan.name] = TableReport(already=len(self.map[plan.name]))
            self.report.resumed = bool(self.map[VILLAGE_TABLE])
            if not self.report.resumed:
                village = self.report.village
                existing = self.conn.execute(
                    select(Base.metadata.tables[VILLAGE_TABLE].c.id).where(
                        *[Base.metadata.tables[VILLAGE_TABLE].c[c] == village[c] for c in VILLAGE_KEY])).first()
                if existing:
                    raise MoveError(f"目标数据库里已经有 {village['township']}{village['name']}（不是从这个村的数据搬来的），"
                                    f"拒绝合并以免重复 / the target already holds {village['township']} {village['name']}, "
                                    f"not from a move of this village: refusing to merge")
            self.conn.execute(update(datamove_runs).where(datamove_runs.c.source_id == self.source_id,
                                                          datamove_runs.c.state == "running")
                              .values(state="interrupted"))
            self.run_id = self.conn.execute(datamove_runs.insert().values(
                source_id=self.source_id, source=self.report.source, state="running",
                schema_revision=self.report.schema_revision, started_at=utcnow(), rows_moved=0,
            )).inserted_primary_key[0]
        if self.report.resumed:
            self.log(f"接着上次搬 / resuming: {sum(len(m) for m in self.map.values())} rows were moved before")

    # -- the map --------------------------------------------------------------------------

    def new_id(self, table: str, old, pending: dict | None = None) -> int | None:
        if old is None:
            return None
        new = self.map.get(table, {}).get(str(old))
        if new is None and pending is not None:
            new = pending.get(table, {}).get(str(old))
        return None if new is None else int(new)

    # -- orchestration --------------------------------------------------------------------

    def _move_all(self) -> None:
        usable = [a for a in AGGREGATES if self._aggregate_usable(a)]
        for plan in self.plans:
            aggregate = next((a for a in usable if a.root == plan.name), None)
            if aggregate is not None:
                self._move_aggregate(plan, aggregate)
            else:
                self._move_table(plan)
            for ref in self.deferred:
                if ref.target == plan.name:
                    self._fill_deferred(ref)
            moved = self.report.tables[plan.name]
            if moved.inserted or moved.adopted or moved.refreshed:
                self.log(f"  {plan.name}: {moved.inserted} 行写入 / rows inserted" +
                         (f", {moved.adopted} adopted" if moved.adopted else "") +
                         (f", {moved.refreshed} 行更新 / brought up to date" if moved.refreshed else ""))

    def _aggregate_usable(self, aggregate: Aggregate) -> bool:
        names = [p.name for p in self.plans]
        if aggregate.root not in names or aggregate.key not in self.by_name[aggregate.root].table.c:
            return False
        root_at = names.index(aggregate.root)
        for table, column in aggregate.companions:
            plan = self.by_name.get(table)
            if plan is None or column not in plan.table.c or names.index(table) < root_at:
                return False
            needs = set(plan.refs.values()) - {aggregate.root}
            if any(names.index(dep) > root_at for dep in needs if dep in names):
                return False
        return True

    def _keys(self, plan: TablePlan, extra: str | None = None) -> list[tuple]:
        """Primary keys of the source table in order (with ``extra``'s value last, when asked)."""
        table = plan.table
        columns = [table.c[c] for c in plan.pk] + ([table.c[extra]] if extra else [])
        order = ([table.c[extra]] if extra else []) + [table.c[c] for c in plan.pk]
        return [tuple(r) for r in self.src.execute(select(*columns).order_by(*order))]

    def _self_ordered(self, plan: TablePlan, keys: list[tuple]) -> list[tuple]:
        """Rows of a self-referencing table, parents first."""
        if not plan.self_refs or not keys:
            return keys
        table, pk = plan.table, plan.pk[0]
        if plan.name not in self._parents:
            self._parents[plan.name] = {
                row[0]: [p for p in row[1:] if p is not None and p != row[0]]
                for row in self.src.execute(select(table.c[pk], *[table.c[c] for c in plan.self_refs]))}
        parents = self._parents[plan.name]
        wanted = {k[0]: k for k in keys}
        done: set = set()
        ordered = []
        for start in wanted:
            stack = [(start, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    ordered.append(node)
                    continue
                if node in done:
                    continue
                done.add(node)
                stack.append((node, True))
                stack.extend((parent, False) for parent in parents.get(node, []) if parent not in done)
        return [wanted[n] for n in ordered if n in wanted]

    def _move_table(self, plan: TablePlan) -> None:
        keys = self._keys(plan)
        self.report.tables[plan.name].source = len(keys)
        todo = self._self_ordered(plan, [k for k in keys if _key(k) not in self.map[plan.name]])
        for start in range(0, len(todo), self.batch):
            self._batch([(plan, todo[start:start + self.batch])])

    def _move_aggregate(self, plan: TablePlan, aggregate: Aggregate) -> None:
        """Root rows grouped by the key, each group with its companions, whole groups per batch."""
        extra = None if aggregate.key in plan.pk else aggregate.key
        rows = self._keys(plan, extra)
        self.report.tables[plan.name].source = len(rows)
        groups: dict = {}
        for row in rows:
            value = row[-1] if extra else row[plan.pk.index(aggregate.key)]
            groups.setdefault(value, []).append(row[: len(plan.pk)])
        companion_rows: dict[str, dict] = {}
        for table, column in aggregate.companions:
            companion = self.by_name[table]
            by_value: dict = {}
            for row in self._keys(companion, column):
                by_value.setdefault(row[-1], []).append(row[: len(companion.pk)])
            companion_rows[table] = by_value
        parts: dict[str, list] = {}
        refresh: dict[str, list] = {}
        size = 0
        for value, members in groups.items():
            group = [(plan.name, members)] + [(t, by_value.get(value, [])) for t, by_value in companion_rows.items()]
            new = {t: [m for m in keys if _key(m) not in self.map[t]] for t, keys in group}
            if not any(new.values()):
                continue
            for table, keys in group:
                parts.setdefault(table, []).extend(new[table])
                size += len(new[table])
                # Rows of the group moved by an earlier run follow the source again (the balance
                # after new entries, the grievance after new events): the invariant holds.
                moved = [m for m in keys if _key(m) in self.map[table] and _key(m) not in self.adopted[table]]
                refresh.setdefault(table, []).extend(moved)
                size += len(moved)
            if size >= self.batch:
                self._batch([(self.by_name[t], self._self_ordered(self.by_name[t], k)) for t, k in parts.items()],
                            [(self.by_name[t], k) for t, k in refresh.items()])
                parts, refresh, size = {}, {}, 0
        if size:
            self._batch([(self.by_name[t], self._self_ordered(self.by_name[t], k)) for t, k in parts.items()],
                        [(self.by_name[t], k) for t, k in refresh.items()])

    def _batch(self, parts: list[tuple[TablePlan, list[tuple]]],
               refresh: list[tuple[TablePlan, list[tuple]]] | None = None) -> None:
        """One transaction: the rows, their map entries, rows to bring up to date, the run's progress."""
        parts = [(plan, keys) for plan, keys in parts if keys]
        refresh = [(plan, keys) for plan, keys in refresh or [] if keys]
        if not parts and not refresh:
            return
        pending: dict[str, dict[str, str]] = {}
        new_map_rows: list[dict] = []
        with self._tx():
            for plan, keys in parts:
                self._insert_rows(plan, keys, pending, new_map_rows)
            for plan, keys in refresh:
                self._refresh_rows(plan, keys, pending)
            if new_map_rows:
                self.conn.execute(datamove_map.insert(), new_map_rows)
            self.conn.execute(update(datamove_runs).where(datamove_runs.c.id == self.run_id)
                              .values(rows_moved=datamove_runs.c.rows_moved + len(new_map_rows)))
        for row in new_map_rows:  # committed: from now on the map says so
            self.map[row["table_name"]][row["old_id"]] = row["new_id"]
            if row["how"] == "adopted":
                self.adopted[row["table_name"]].add(row["old_id"])
        self.report.batches += 1
        if self.pause and not self.dry_run:
            time.sleep(self.pause)

    # -- one batch of rows ----------------------------------------------------------------

    def _insert_rows(self, plan: TablePlan, keys: list[tuple], pending: dict, new_map_rows: list[dict]) -> None:
        """Rewrite, check unique values, then insert the batch's rows of one table with ids drawn
        from the table's sequence (one multi-row INSERT)."""
        table, name, pk = plan.table, plan.name, plan.pk
        report = self.report.tables[name]
        if len(pk) == 1:
            condition = table.c[pk[0]].in_([k[0] for k in keys])
        else:
            condition = or_(*[tuple_(*[table.c[c] for c in pk]) == tuple_(*k) for k in keys])
        source = {_key(tuple(r[c] for c in pk)): dict(r) for r in self.src.execute(select(table).where(condition)).mappings()}
        rewritten = [(_key(k), self._rewrite(plan, source[_key(k)], pending)) for k in keys]
        taken = self._taken(plan, [values for _, values in rewritten])
        used: dict[tuple[str, ...], set] = {columns: set() for columns in plan.uniques}
        pending.setdefault(name, {})
        inserts: list[tuple[str, dict]] = []
        for old_key, values in rewritten:
            found = self._existing(plan, values, taken, used)
            for columns in plan.uniques:
                used[columns].add(tuple(values.get(c) for c in columns))
            if found is not None:
                pending[name][old_key] = found
                report.adopted += 1
                new_map_rows.append({"source_id": self.source_id, "table_name": name, "old_id": old_key,
                                     "new_id": found, "how": "adopted"})
            else:
                inserts.append((old_key, values))
        if not inserts:
            return
        ids = self._allocate(plan, len(inserts)) if plan.auto_pk else None
        if plan.auto_pk and ids is None:  # no sequence to draw from: one INSERT per row
            for old_key, values in inserts:
                for column in plan.self_refs:
                    values[column] = self._lookup(name, values[column], pending, f"{name} {old_key}.{column}")
                values.pop(pk[0], None)
                pending[name][old_key] = _key(self.conn.execute(table.insert().values(**values)).inserted_primary_key)
        else:
            for n, (old_key, values) in enumerate(inserts):
                if ids is not None:
                    values[pk[0]] = ids[n]
                pending[name][old_key] = _key(values[c] for c in pk)
            for old_key, values in inserts:
                for column in plan.self_refs:
                    values[column] = self._lookup(name, values[column], pending, f"{name} {old_key}.{column}")
            self.conn.execute(table.insert(), [values for _, values in inserts])
        report.inserted += len(inserts)
        new_map_rows.extend({"source_id": self.source_id, "table_name": name, "old_id": old_key,
                             "new_id": pending[name][old_key], "how": "inserted"} for old_key, _ in inserts)

    def _refresh_rows(self, plan: TablePlan, keys: list[tuple], pending: dict) -> None:
        """Update rows moved by an earlier run with the source's current values (not their ids,
        unique values — perhaps renamed — or cyclic references, which stay as moved)."""
        table, pk = plan.table, plan.pk
        report = self.report.tables[plan.name]
        if len(pk) != 1:
            return  # (no such table takes part in an aggregate)
        condition = table.c[pk[0]].in_([k[0] for k in keys])
        fixed = set(pk) | set(plan.deferred) | {c for columns in plan.uniques for c in columns}
        for row in self.src.execute(select(table).where(condition)).mappings():
            old_key = _key(row[c] for c in pk)
            values = self._rewrite(plan, dict(row), pending)
            for column in plan.self_refs:
                values[column] = self._lookup(plan.name, values[column], pending, f"{plan.name} {old_key}.{column}")
            where = table.c[pk[0]] == int(self.map[plan.name][old_key])
            current = self.conn.execute(select(table).where(where)).mappings().first()
            changes = {c: v for c, v in values.items() if c not in fixed and current is not None and current[c] != v}
            if changes:
                self.conn.execute(update(table).where(where).values(**changes))
                report.refreshed += 1

    def _allocate(self, plan: TablePlan, count: int) -> list[int] | None:
        """``count`` new ids for the table: from its PostgreSQL sequence, or after the largest id
        on SQLite (the batch holds the database's write lock)."""
        column = plan.pk[0]
        if self.conn.dialect.name == "postgresql":
            sequence = self.conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                         {"t": plan.name, "c": column}).scalar()
            if sequence is None:
                return None
            return list(self.conn.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                                          {"s": sequence, "n": count}).scalars())
        if self.conn.dialect.name == "sqlite":
            top = self.conn.execute(select(func.max(plan.table.c[column]))).scalar() or 0
            return list(range(top + 1, top + 1 + count))
        return None

    def _taken(self, plan: TablePlan, rows: list[dict]) -> dict[str, set]:
        """For single-column unique keys: the batch's values the target already has (one query
        per key and batch instead of one per row)."""
        taken = {}
        for columns in plan.uniques:
            if len(columns) != 1:
                continue
            column = columns[0]
            values = [r[column] for r in rows if r.get(column) is not None]
            found = set()
            for start in range(0, len(values), 500):
                found |= set(self.conn.execute(select(plan.table.c[column]).where(
                    plan.table.c[column].in_(values[start:start + 500]))).scalars())
            taken[column] = found
        return taken

    def _lookup(self, table: str, old, pending: dict, where: str) -> int | None:
        if old is None:
            return None
        new = self.new_id(table, old, pending)
        if new is None:
            raise MoveError(f"{where}: refers to {table} id {old}, which is not in the source (a broken reference)")
        return new

    def _rewrite(self, plan: TablePlan, row: dict, pending: dict) -> dict:
        """The row as the target gets it: ids through the map, ids in keys and JSON too."""
        name = plan.name
        values = dict(row)
        where = f"{name} id {row.get(plan.pk[0])}"
        for column, target in plan.refs.items():
            values[column] = self._lookup(target, row[column], pending, f"{where}.{column}")
        # Self-references keep their old ids here: _insert_rows resolves them once ids are drawn.
        for column in plan.deferred:
            values[column] = None
        for (table, column), target in SOFT_REFERENCES.items():
            if table == name and values.get(column) is not None:
                new = self.new_id(target, values[column], pending)
                if new is None:
                    self.report.unlinked.append({"table": name, "id": row[plan.pk[0]], "column": column,
                                                 "old": values[column]})
                values[column] = new
        for (table, column), type_column in POLYMORPHIC.items():
            if table == name and values.get(column) is not None:
                kind = values.get(type_column) or ""
                target = OBJECT_TYPES.get(kind, f"{kind}s")
                if callable(target):
                    target = target(values)
                new = self.new_id(target, values[column], pending) if target else None
                if new is None:
                    self.report.unlinked.append({"table": name, "id": row[plan.pk[0]], "column": column,
                                                 "old": values[column], "type": values.get(type_column)})
                values[column] = new
        for (table, column), patterns in KEY_IDS.items():
            if table == name and isinstance(values.get(column), str):
                key = values[column]
                for pattern, target in patterns:
                    def swap(match, target=target):
                        new = self.new_id(target, match.group(2), pending)
                        return match.group(1) + str(new if new is not None else match.group(2))
                    key = re.sub(pattern, swap, key)
                values[column] = key
        for (table, column), keys in JSON_IDS.items():
            if table == name and isinstance(values.get(column), dict):
                payload = dict(values[column])
                for json_key, target in keys.items():
                    value = payload.get(json_key)
                    if isinstance(value, int) and not isinstance(value, bool):
                        new = self.new_id(target, value, pending)
                        payload[json_key] = new if new is not None else value
                    elif isinstance(value, list):
                        payload[json_key] = [self.new_id(target, v, pending) or v if isinstance(v, int) else v
                                             for v in value]
                for json_key, (t, c) in RENAMED_JSON_VALUES.get((table, column), {}).items():
                    if payload.get(json_key) is not None:
                        payload[json_key] = self.renames.get((t, c, str(payload[json_key])), payload[json_key])
                values[column] = payload
        return values

    def _existing(self, plan: TablePlan, values: dict, taken: dict[str, set], used: dict) -> str | None:
        """The target row this row already is (adopted: a global row with the same unique value,
        or one with the same value and the same parents), else None after renaming any unique
        value another village's row holds (or an earlier row of this batch took)."""
        table = plan.table
        for columns in plan.uniques:
            if any(values.get(c) is None for c in columns):
                continue
            current = tuple(values[c] for c in columns)
            if current in used[columns]:
                self._rename(plan, columns, values, used[columns])
                continue
            if len(columns) == 1 and columns[0] in taken and values[columns[0]] not in taken[columns[0]]:
                continue
            found = self.conn.execute(select(table).where(and_(*[table.c[c] == values[c] for c in columns]))
                                      ).mappings().first()
            if found is None:
                continue
            same_parents = bool(plan.refs) and all(found[c] == values[c] for c in plan.refs)
            global_row = not plan.refs and plan.name not in NEVER_ADOPT
            if same_parents or global_row:
                return _key(found[c] for c in plan.pk)
            self._rename(plan, columns, values, used[columns])
        return None

    def _rename(self, plan: TablePlan, columns: tuple[str, ...], values: dict, used: set) -> None:
        table = plan.table
        candidates = [c for c in columns if c not in plan.refs and isinstance(values.get(c), str)]
        preferred = RENAME_COLUMN.get(plan.name)
        column = preferred if preferred in candidates else (candidates[-1] if candidates else None)
        if column is None:
            raise MoveError(f"{plan.name}: unique key {columns} = {[values[c] for c in columns]} is another row's in "
                            f"the target and cannot be renamed")
        old = values[column]
        length = getattr(table.c[column].type, "length", None) or 64
        others = {c: values[c] for c in columns if c != column}
        for attempt in range(200):
            if plan.name == VILLAGE_TABLE:  # the village code itself: code-<hash of the village>
                digest = hashlib.sha1(f"{self.source_id}\0{attempt}".encode(), usedforsecurity=False).hexdigest()[:4 + attempt // 10]
                new = f"{old[: length - len(digest) - 1]}-{digest}"
            else:
                new = _renamed(old, self._tag(), attempt, length)
            if tuple(new if c == column else values[c] for c in columns) in used:
                continue
            clash = self.conn.execute(select(func.count()).select_from(table).where(
                and_(table.c[column] == new, *[table.c[c] == v for c, v in others.items()]))).scalar_one()
            if not clash:
                values[column] = new
                self.renames[(plan.name, column, old)] = new
                self.report.renamed.append({"table": plan.name, "column": column, "old": old, "new": new})
                return
        raise MoveError(f"{plan.name}.{column}: no free value for {old!r}")

    def _tag(self) -> str:
        """The suffix of renamed values: the village's code in the target."""
        if not self.tag:
            new_village = self.new_id(VILLAGE_TABLE, self.village_old_id)
            code = None
            if new_village is not None:
                code = self.conn.execute(select(Base.metadata.tables[VILLAGE_TABLE].c.code).where(
                    Base.metadata.tables[VILLAGE_TABLE].c.id == new_village)).scalar()
            if code is None:  # not moved yet (cannot happen: villages move first)
                return (self.report.village or {}).get("code") or "moved"
            self.tag = code
        return self.tag

    # -- deferred references --------------------------------------------------------------

    def _fill_deferred(self, ref: Reference) -> None:
        """Set a cyclic reference left empty at insert, now that its target rows exist. Idempotent."""
        plan = self.by_name[ref.table]
        table, pk = plan.table, plan.pk[0]
        rows = self.src.execute(select(table.c[pk], table.c[ref.column]).where(table.c[ref.column].is_not(None))
                                .order_by(table.c[pk])).all()
        rows = [(old_pk, old_ref) for old_pk, old_ref in rows if str(old_pk) not in self.adopted[ref.table]]
        for start in range(0, len(rows), self.batch):
            with self._tx():
                for old_pk, old_ref in rows[start:start + self.batch]:
                    new_pk, new_ref = self.new_id(ref.table, old_pk), self.new_id(ref.target, old_ref)
                    if new_pk is None or new_ref is None:
                        raise MoveError(f"{ref.table}.{ref.column}: {old_pk} → {old_ref} has no moved counterpart")
                    self.conn.execute(update(table).where(table.c[pk] == new_pk,
                                                          table.c[ref.column].is_distinct_from(new_ref))
                                      .values({ref.column: new_ref}))

    # -- verification ---------------------------------------------------------------------

    def verify(self) -> dict:
        problems = []
        tables = {}
        with self._tx():
            for plan in self.plans:
                source = self.src.execute(select(func.count()).select_from(plan.table)).scalar_one()
                mapped = list(self.map[plan.name].values())
                present = 0
                if len(plan.pk) == 1:
                    column = plan.table.c[plan.pk[0]]
                    for start in range(0, len(mapped), 500):
                        chunk = [int(v) for v in mapped[start:start + 500]]
                        present += self.conn.execute(select(func.count()).select_from(plan.table)
                                                     .where(column.in_(chunk))).scalar_one()
                else:
                    present = len(mapped)
                tables[plan.name] = {"source": source, "mapped": len(mapped), "target": present}
                if not source == len(mapped) == present:
                    problems.append(f"{plan.name}: source {source}, mapped {len(mapped)}, in target {present}")
            village_id = self.new_id(VILLAGE_TABLE, self.village_old_id)
            figures = {"source": village_figures(self.src, self.village_old_id),
                       "target": village_figures(self.conn, village_id) if village_id else {}}
            for name, value in figures["source"].items():
                if figures["target"].get(name) != value:
                    problems.append(f"{name}: source {value}, target {figures['target'].get(name)}")
            integrity = check_integrity(self.conn, village_id) if village_id else None
        if integrity is not None:
            problems += integrity.problems()
        return {"ok": not problems, "problems": problems, "tables": tables, "figures": figures,
                "village_id": village_id,
                "balances_checked": integrity.households if integrity else 0,
                "grievances_checked": integrity.grievances if integrity else 0}

    def _finish(self, state: str) -> None:
        if self.run_id is None or self.dry_run:
            return
        with self._tx():
            self.conn.execute(update(datamove_runs).where(datamove_runs.c.id == self.run_id).values(
                state=state, finished_at=utcnow(),
                report=json.dumps(self.report.as_dict(), ensure_ascii=False, default=str)))


def village_figures(conn: Connection, village_id: int) -> dict:
    """Totals that must survive a move unchanged."""
    from bot.grievances import OPEN_STATES
    from bot.models import Grievance, Household, OutboxMessage, PointsBalance, PointsEntry, Redemption, User

    households = select(Household.id).where(Household.village_id == village_id)
    users = select(User.id).where(User.village_id == village_id)
    one = lambda query: conn.execute(query).scalar_one()  # noqa: E731
    return {
        "households": one(select(func.count()).select_from(Household).where(Household.village_id == village_id)),
        "balance_total": int(one(select(func.coalesce(func.sum(PointsBalance.balance), 0))
                                 .where(PointsBalance.household_id.in_(households)))),
        "ledger_total": int(one(select(func.coalesce(func.sum(PointsEntry.delta), 0))
                                .where(PointsEntry.village_id == village_id))),
        "ledger_entries": one(select(func.count()).select_from(PointsEntry).where(PointsEntry.village_id == village_id)),
        "open_grievances": one(select(func.count()).select_from(Grievance).where(
            Grievance.village_id == village_id, Grievance.state.in_(OPEN_STATES))),
        "pickups_waiting": one(select(func.count()).select_from(Redemption).where(
            Redemption.village_id == village_id, Redemption.picked_up_at.is_(None))),
        "outbox_pending": one(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.delivered_at.is_(None),
            (OutboxMessage.user_id.in_(users)) | (OutboxMessage.household_id.in_(households)))),
    }


def _renamed(value: str, tag: str, attempt: int, length: int) -> str:
    """A deterministic replacement for a value another village already uses."""
    seed = hashlib.sha256(f"{tag}\0{value}\0{attempt}".encode()).hexdigest()
    if value.isdigit():
        digits = len(value) + attempt // 50  # crowded: one more digit
        if digits > length:
            digits = length
        low = 10 ** (digits - 1)
        return str(low + int(seed, 16) % (9 * low))
    suffix = f"@{tag}" + (f"{attempt}" if attempt else "")
    if len(value) + len(suffix) <= length:
        return value + suffix
    keep = max(1, length - len(suffix) - 9)
    return f"{value[:keep]}~{seed[:8]}{suffix}"[:length]


def migrate_data(source_url: str, target_url: str, settings: Settings, dry_run: bool = False,
                 batch: int | None = None, pause: float | None = None,
                 log: Callable[[str], None] = print) -> MoveReport:
    """Move the village in ``source_url`` into ``target_url``; returns the report (``.ok``)."""
    if make_url(source_url).get_backend_name() == make_url(target_url).get_backend_name() and \
            make_url(source_url).database == make_url(target_url).database and \
            make_url(source_url).host == make_url(target_url).host:
        raise MoveError("源和目标是同一个数据库 / source and target are the same database")
    return Mover(source_url, target_url, settings, dry_run, batch, pause, log).run()
