"""Databases for tests: the demo village seeded once and copied per test, restored in place
between end-to-end tests, and the PostgreSQL server that the PostgreSQL tests need.

SQLite copies go through SQLite's backup API, which copies a consistent snapshot even while
the source is in WAL mode, and which may write into a database that other processes (the
action server, the Rasa server) hold open: they see the restored content on their next
transaction. PostgreSQL copies are ``CREATE DATABASE ... TEMPLATE`` of a database seeded once
per run (a file copy on the server: a fraction of migrating and seeding again)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url[len("sqlite:///"):])


def seed_village(path: Path) -> str:
    """Migrate and seed the demo village 青山镇杏花村 into a new SQLite file; returns its URL."""
    from bot.db import get_engine, migrate
    from bot.seed import seed_demo_village

    url = sqlite_url(path)
    migrate(url)
    seed_demo_village(url)
    get_engine(url).dispose()
    return url


def seed_postgres(url: str) -> str:
    """Migrate and seed the demo village into the (empty) PostgreSQL database at ``url``."""
    from bot.db import get_engine, migrate
    from bot.seed import seed_demo_village

    migrate(url)
    seed_demo_village(url)
    get_engine(url).dispose()  # a template database must have no open connections
    return url


def postgres_copy(template_url: str, admin_url: str, prefix: str = "xiangyin_test"):
    """A new PostgreSQL database copied from the one at ``template_url``; dropped afterwards."""
    from bot.ops.databases import scratch_postgres

    return scratch_postgres(prefix, admin_url, template_url=template_url)


def copy_database(source: Path, target: Path) -> None:
    """Make ``target`` an exact copy of the SQLite database ``source`` (created or overwritten
    in place; connections other processes hold to ``target`` stay valid)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target, timeout=60) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def require_postgres() -> None:
    """Skip when PostgreSQL is unreachable, except under CI=true, where that is a failure."""
    from bot.config import load_settings
    from bot.ops.databases import postgres_reachable

    admin_url = load_settings().test.postgres_url
    if postgres_reachable(admin_url):
        return
    from sqlalchemy.engine import make_url

    message = f"PostgreSQL is not reachable at {make_url(admin_url).render_as_string(hide_password=True)}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message}; with CI=true the PostgreSQL tests must run")
    pytest.skip(message)
