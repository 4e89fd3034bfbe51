"""Scratch databases for tests, benchmarks and load tests: a PostgreSQL database created and
dropped around a block, or a SQLite file in a temporary folder."""
from __future__ import annotations

import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.config import Settings, load_settings
from bot.db import get_engine


def postgres_admin_url(settings: Settings | None = None) -> str:
    """A URL to the server's maintenance database (``postgres``), used to create scratch databases:
    ``settings.test.postgres_url`` (XIANGYIN_TEST_POSTGRES_URL)."""
    return (settings or load_settings()).test.postgres_url


def postgres_reachable(admin_url: str | None = None) -> bool:
    engine = create_engine(admin_url or postgres_admin_url(), poolclass=NullPool,
                           connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_postgres(prefix: str = "xiangyin_test", admin_url: str | None = None,
                     template_url: str | None = None) -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random> (a copy of the database at ``template_url`` when
    given), yield its URL, DROP it afterwards."""
    admin_url = admin_url or postgres_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    template = f' TEMPLATE "{make_url(template_url).database}"' if template_url else ""
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="xiangyin-points-") as folder:
        url = f"sqlite:///{Path(folder) / 'points.db'}"
        try:
            yield url
        finally:
            get_engine(url).dispose()
