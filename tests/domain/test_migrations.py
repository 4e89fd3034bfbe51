"""Alembic migrations match the models and run up, down and up again on both databases."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db import alembic_config, get_engine, migrate
from bot.models import Base


def _assert_round_trip(url: str) -> None:
    migrate(url)
    with get_engine(url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    command.downgrade(alembic_config(url), "base")
    with get_engine(url).connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate(url)
    migrate(url)  # idempotent
    with get_engine(url).connect() as connection:
        assert "audit_log" in inspect(connection).get_table_names()


def test_sqlite_round_trip(tmp_path):
    _assert_round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_round_trip(scratch_pg_url):
    _assert_round_trip(scratch_pg_url)
