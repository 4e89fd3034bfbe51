"""Engine, sessions and migrations.

``session_scope()`` is the only way the domain layer talks to the database:
it commits on success, rolls back on error, and for SQLite takes the write lock
up front (``BEGIN IMMEDIATE``) when ``write=True`` so that concurrent writers queue
instead of failing half-way. PostgreSQL writers lock rows explicitly (FOR UPDATE).

Connections are pooled for every database. A SQLite file used to get SQLAlchemy 1.4's default
for it, ``NullPool``: a new connection for every session, with four PRAGMAs and SQLite reading
the schema again (17% of the action server's CPU per turn in an earlier py-spy profile). Nothing in the history chose
it on purpose (the engine never named a pool class). Now a SQLite file has a ``QueuePool`` (as
in SQLAlchemy 2.0) and each engine one session factory per kind: an action's actor lookup plus a
points balance (two sessions) cost 12.6 ms of CPU before, 8.7 ms now; an empty session 1.35 ms
before, 0.3 ms now (README "Measured"). The PRAGMAs run once per connection (the ``connect``
event), and a pooled connection is checked at every checkout and replaced (never used) when

* the process is not the one that opened it (a fork: SQLite and libpq connections must not be
  shared across processes; SQLAlchemy's recipe for pools and ``os.fork()``), or
* the database file is no longer the one it opened (deleted or replaced by another file: a
  connection keeps the old inode open and would go on reading it).

Several processes on one SQLite file stay safe as before: WAL mode, ``busy_timeout`` and
``BEGIN IMMEDIATE`` for writers; an idle pooled connection holds no lock (the pool rolls back
on return). An in-memory SQLite database keeps SQLAlchemy's default (one connection per thread).
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.config import load_settings

_engines: dict[str, Engine] = {}
_factories: dict[tuple[int, bool], tuple[Engine, sessionmaker]] = {}
_lock = threading.Lock()
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: A SQLite file's pool: a few connections kept open, more opened (and closed again) under load.
SQLITE_POOL = {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30}


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _guard_pool(engine: Engine, sqlite_file: str | None) -> None:
    """Pooled connections are used only by the process that opened them and, for a SQLite file,
    only while the file is the one they opened; otherwise the pool opens a fresh one."""

    @event.listens_for(engine, "connect")
    def _remember(dbapi_connection, record):  # pragma: no cover - driver hook
        record.info["pid"] = os.getpid()
        if sqlite_file:
            record.info["file"] = _file_identity(sqlite_file)

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, record, proxy):  # pragma: no cover - driver hook
        if record.info.get("pid") != os.getpid():
            # Opened by the parent before a fork: leave it to the parent, open our own.
            record.dbapi_connection = proxy.dbapi_connection = None
            raise DisconnectionError("connection opened by another process")
        if sqlite_file and record.info.get("file") != _file_identity(sqlite_file):
            raise DisconnectionError(f"{sqlite_file} was deleted or replaced")


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        database = make_url(url).database
        memory = not database or database == ":memory:" or "mode=memory" in url
        pool = {} if memory else {"poolclass": QueuePool, **SQLITE_POOL}
        engine = create_engine(url, future=True, connect_args={"timeout": 30, "check_same_thread": False}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # pragma: no cover - driver hook
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - driver hook
            immediate = conn.get_execution_options().get("sqlite_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        if not memory:
            _guard_pool(engine, path)
        return engine
    engine = create_engine(url, future=True, pool_pre_ping=True, pool_size=10, max_overflow=20)
    _guard_pool(engine, None)
    return engine


def get_engine(url: str | None = None) -> Engine:
    url = url or load_settings().database_url
    with _lock:
        if url not in _engines:
            _engines[url] = _make_engine(url)
        return _engines[url]


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()


def _session_factory(engine: Engine, write: bool) -> sessionmaker:
    """One session factory per engine and kind (a writer's takes SQLite's write lock up front),
    made once: a sessionmaker and an engine with options are new classes and objects each time."""
    key = (id(engine), write and engine.dialect.name == "sqlite")
    found = _factories.get(key)
    if found is None or found[0] is not engine:
        bind = engine.execution_options(sqlite_immediate=True) if key[1] else engine
        found = (engine, sessionmaker(bind=bind, future=True, expire_on_commit=False))
        _factories[key] = found
    return found[1]


@contextlib.contextmanager
def session_scope(write: bool = False, url: str | None = None) -> Iterator[Session]:
    session = _session_factory(get_engine(url), write)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or load_settings().database_url).replace("%", "%%"))
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
