"""What a database must satisfy after a backup is restored, an upgrade ran or a village moved,
and the schema facts the operations tools share.

* :func:`check_integrity` — every household's ``points_balances`` row equals the sum of its
  ledger (the :mod:`bot.points` invariant: ``balance_of`` reads the row, ``ledger_sum`` the
  entries), and every grievance's ``state`` equals the ``to_state`` of its last state-changing
  event (notes and photos carry no state). Optionally for one village only.
* :func:`sqlite_file_check` — SQLite's own check of a database file (``PRAGMA
  integrity_check``), for a snapshot before it is kept and a backup before it is restored.
* :func:`row_counts` — rows per table, in insert order; tables the models do not know (an older
  or newer schema) are counted too.
* :func:`schema_revision`, :func:`known_revisions`, :func:`head_revision` — Alembic's view.
* :func:`insert_order` — the models' tables parents first, derived from
  ``bot.models.Base.metadata`` (never a hand-written list, so new tables take their place by
  themselves), and the nullable foreign keys that must be filled in afterwards because the
  references form a cycle (users → residents → households → users).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.engine import Connection

from bot.db import MIGRATIONS_DIR
from bot.models import Base, Grievance, GrievanceEvent, Household, PointsBalance, PointsEntry

# --- schema facts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One single-column foreign key: ``table.column`` → ``target`` (its primary key)."""

    table: str
    column: str
    target: str
    nullable: bool
    use_alter: bool = False


def references(metadata=Base.metadata) -> list[Reference]:
    found = []
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            if len(fk.columns) != 1:
                raise NotImplementedError(f"{table.name}: composite foreign key {fk.name} (not supported yet)")
            column = list(fk.columns)[0]
            found.append(Reference(table.name, column.name, fk.referred_table.name, bool(column.nullable),
                                   bool(fk.use_alter)))
    return found


def insert_order(metadata=Base.metadata, extra: dict[str, set[str]] | None = None
                 ) -> tuple[list[Table], list[Reference]]:
    """The tables in an order where every row's parents are inserted before it, and the
    references left out of that order (inserted as NULL, filled in afterwards).

    NOT NULL references must form no cycle. Nullable references are added one by one (those
    marked ``use_alter`` last) unless they would close a cycle; those are the deferred ones.
    ``extra`` adds ordering wishes (table → tables it should follow: ids kept in text or JSON),
    dropped when they would close a cycle. Self-references are not ordering constraints: rows of
    one table are ordered among themselves by the caller."""
    tables = list(metadata.tables)
    position = {name: n for n, name in enumerate(tables)}
    parents: dict[str, set[str]] = {name: set() for name in tables}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(parents[node])
        return False

    refs = [r for r in references(metadata) if r.table != r.target]
    for r in refs:
        if not r.nullable:
            if reaches(r.target, r.table):
                raise RuntimeError(f"NOT NULL foreign keys form a cycle through {r.table}.{r.column}")
            parents[r.table].add(r.target)
    deferred = []
    for r in sorted((r for r in refs if r.nullable), key=lambda r: (r.use_alter, position[r.table], r.column)):
        if r.target in parents[r.table]:
            continue
        if reaches(r.target, r.table):
            deferred.append(r)
        else:
            parents[r.table].add(r.target)
    for table, wishes in (extra or {}).items():
        for wish in sorted(wishes, key=lambda name: position.get(name, 0)):
            if table in parents and wish in parents and wish != table and not reaches(wish, table):
                parents[table].add(wish)
    ordered: list[str] = []
    remaining = dict(parents)
    while remaining:
        ready = sorted((name for name, deps in remaining.items() if deps <= set(ordered)), key=position.get)
        if not ready:  # cannot happen: every added edge was checked
            raise RuntimeError(f"cannot order tables {sorted(remaining)}")
        ordered.append(ready[0])
        del remaining[ready[0]]
    return [metadata.tables[name] for name in ordered], deferred


def existing_tables(conn: Connection) -> list[str]:
    """Tables present in the database, the models' ones in insert order, then any others."""
    present = set(inspect(conn).get_table_names())
    ordered, _ = insert_order()
    names = [t.name for t in ordered if t.name in present]
    return names + sorted(present - set(names) - {"alembic_version"})


def row_counts(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    return {name: conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one()  # nosec B608 - table names from the database's own catalogue, quoted by the dialect
            for name in existing_tables(conn)}


def schema_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at; None for a database without the version table."""
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    versions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(versions) or None


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def known_revisions() -> list[str]:
    """This code's migrations, oldest first."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def head_revision() -> str:
    return _scripts().get_current_head()


# --- invariants ---------------------------------------------------------------------------


def sqlite_file_check(path: Path | str) -> str:
    """SQLite's own check of a database file: "ok", or what is wrong with it (also when the
    file is not a database at all)."""
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


@dataclass
class IntegrityReport:
    households: int = 0
    grievances: int = 0
    balance_mismatches: list[dict] = field(default_factory=list)
    state_mismatches: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.balance_mismatches and not self.state_mismatches

    def problems(self) -> list[str]:
        lines = [f"household {m['number']} (id {m['household_id']}): balance {m['balance']} != ledger {m['ledger']}"
                 for m in self.balance_mismatches]
        lines += [f"grievance {m['ticket_no']} (id {m['grievance_id']}): state {m['state']} != last event "
                  f"{m['last_event']}" for m in self.state_mismatches]
        return lines

    def as_dict(self) -> dict:
        return {"ok": self.ok, "households": self.households, "grievances": self.grievances,
                "balance_mismatches": self.balance_mismatches, "state_mismatches": self.state_mismatches}


def check_integrity(conn: Connection, village_id: int | None = None) -> IntegrityReport:
    """Balances against ledgers and grievance states against their last events (one village,
    or all). Read-only; uses only columns present since the first migration."""
    report = IntegrityReport()
    ledger = (select(PointsEntry.household_id.label("household_id"), func.sum(PointsEntry.delta).label("total"))
              .group_by(PointsEntry.household_id).subquery())
    balance = func.coalesce(PointsBalance.balance, 0)
    total = func.coalesce(ledger.c.total, 0)
    households = (select(Household.id, Household.number, balance, total)
                  .outerjoin(PointsBalance, PointsBalance.household_id == Household.id)
                  .outerjoin(ledger, ledger.c.household_id == Household.id))
    # A ledger or balance row whose household is missing would escape the join: count them too.
    orphan_entries = select(func.count()).select_from(PointsEntry).where(
        PointsEntry.household_id.not_in(select(Household.id)))
    if village_id is not None:
        households = households.where(Household.village_id == village_id)
        orphan_entries = orphan_entries.where(PointsEntry.village_id == village_id)
    for household_id, number, bal, led in conn.execute(households):
        report.households += 1
        if bal != led:
            report.balance_mismatches.append({"household_id": household_id, "number": number,
                                              "balance": int(bal), "ledger": int(led)})
    orphans = conn.execute(orphan_entries).scalar_one()
    if orphans:
        report.balance_mismatches.append({"household_id": None, "number": None, "balance": 0, "ledger": orphans})

    last = (select(GrievanceEvent.grievance_id.label("grievance_id"), func.max(GrievanceEvent.id).label("last_id"))
            .where(GrievanceEvent.to_state.is_not(None)).group_by(GrievanceEvent.grievance_id).subquery())
    query = (select(Grievance.id, Grievance.ticket_no, Grievance.state, GrievanceEvent.to_state)
             .outerjoin(last, last.c.grievance_id == Grievance.id)
             .outerjoin(GrievanceEvent, GrievanceEvent.id == last.c.last_id))
    if village_id is not None:
        query = query.where(Grievance.village_id == village_id)
    for grievance_id, ticket_no, state, to_state in conn.execute(query):
        report.grievances += 1
        state_value = getattr(state, "value", state)
        if state_value != to_state:
            report.state_mismatches.append({"grievance_id": grievance_id, "ticket_no": ticket_no,
                                            "state": state_value, "last_event": to_state})
    return report
