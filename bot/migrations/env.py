"""Alembic environment: runs migrations with the project's engine settings.

On PostgreSQL an advisory lock makes concurrent ``migrate()`` calls (several replicas
starting at once) run the upgrade exactly once; the others wait and find nothing to do.
"""
from alembic import context
from sqlalchemy import text

from bot.db import get_engine
from bot.models import Base

MIGRATION_LOCK_ID = 7_312_001


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = get_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()


run_migrations_online()
