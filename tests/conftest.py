"""What every tier shares: the tier markers, a private environment for the run, and seeded
databases. Importing this file changes nothing; everything happens in hooks and fixtures.

Tiers are folders (docs/architecture.md): unit, domain, actions and speech are the fast tier
(`make test-fast`, no model); e2e needs the trained model and real servers; scaleout needs
PostgreSQL and Redis. Each test is marked with its folder's name, and the tests of the fast
tiers also with ``fast`` unless they are marked ``slow`` (recognition with a real speech
model, many concurrent processes: `make test` runs them), so ``pytest -m fast`` is what
`make test-fast` runs and ``pytest -m "not scaleout"`` works too.
End-to-end fixtures (model, servers, conversations) live in tests/e2e/conftest.py.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.support.databases import (
    copy_database,
    postgres_copy,
    require_postgres,
    seed_postgres,
    seed_village,
    sqlite_url,
)

TESTS_DIR = Path(__file__).resolve().parent
FAST_TIERS = ("unit", "domain", "actions", "speech")
SERVER_TIERS = ("console", "e2e", "scaleout")
TIERS = FAST_TIERS + SERVER_TIERS

# Variables the developer's shell may set that tests keep: where trained models are, and the
# knobs of the test suite itself. Every other XIANGYIN_* variable is removed for the run, so a
# developer's Telegram token, cluster mode or database never reaches a test.
KEPT_VARIABLES = ("XIANGYIN_MODELS_DIR", "XIANGYIN_MODEL")
KEPT_PREFIXES = ("XIANGYIN_TEST_", "XIANGYIN_CRASH_")


def tier_of(path: Path) -> str | None:
    try:
        parts = Path(path).resolve().relative_to(TESTS_DIR).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Marks each test with its tier (the folder it is in), and the fast tiers' tests that are
    not ``slow`` with ``fast``. Each server tier (console, e2e, scaleout) is also an
    ``xdist_group`` of its own: under ``-n … --dist loadgroup`` (`make test`) one worker runs a
    tier's tests in order, its package-scoped servers started once, while the other workers run
    the other tiers (they share no server, database or port) and the fast tiers' tests."""
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            continue
        item.add_marker(tier)
        if tier in FAST_TIERS and item.get_closest_marker("slow") is None:
            item.add_marker("fast")
        if tier in SERVER_TIERS:
            item.add_marker(pytest.mark.xdist_group(tier))


@pytest.fixture(scope="session", autouse=True)
def test_environment(tmp_path_factory) -> dict[str, str]:
    """The run's own var folder and database, in this process's environment for the whole
    session (restored afterwards), so that code reading the default settings never touches
    the developer's var/xiangyin.db. Returns the variables it set."""
    run_dir = tmp_path_factory.mktemp("run")
    values = {
        "XIANGYIN_VAR_DIR": str(run_dir),
        "XIANGYIN_DATABASE_URL": sqlite_url(run_dir / "xiangyin.db"),
        # No Chinese Vosk model in the run's folder: recognition is a test double or absent.
        "XIANGYIN_VOSK_MODEL": str(run_dir / "models" / "no-vosk-model"),
        # The run's server secret: servers started by tests inherit it, and the tests mint the
        # same credentials (tokens, device keys, Rasa's API token) from it.
        "XIANGYIN_SECRET_KEY": secrets.token_hex(32),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if (name.startswith("XIANGYIN_") and name not in KEPT_VARIABLES
                    and not name.startswith(KEPT_PREFIXES)):
                mp.delenv(name)
        for name, value in {"TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}.items():
            if name not in os.environ:
                mp.setenv(name, value)
        for name, value in values.items():
            mp.setenv(name, value)
        yield values


@pytest.fixture(scope="session")
def settings(test_environment):
    """The settings every test process runs with (bot.config.load_settings on the run's
    environment)."""
    from bot.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """The demo village, migrated and seeded once per run; tests get copies (fresh_db)."""
    path = tmp_path_factory.mktemp("village") / "template.db"
    seed_village(path)
    return path


@pytest.fixture()
def fresh_db(seeded_template, tmp_path) -> str:
    """A private, freshly seeded SQLite database for one test; returns its URL."""
    from bot.db import get_engine

    path = tmp_path / "fresh.db"
    copy_database(seeded_template, path)
    url = sqlite_url(path)
    yield url
    get_engine(url).dispose()


@pytest.fixture()
def scratch_pg_url(settings):
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    from bot.ops.databases import scratch_postgres

    require_postgres()
    with scratch_postgres("xiangyin_test", admin_url=settings.test.postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def seeded_pg_template(settings):
    """The demo village seeded once per run into a scratch PostgreSQL database (dropped at the
    end), the template of every seeded_pg_url. Skips (fails under CI=true) without PostgreSQL."""
    from bot.ops.databases import scratch_postgres

    require_postgres()
    with scratch_postgres("xiangyin_template", admin_url=settings.test.postgres_url) as url:
        yield seed_postgres(url)


@pytest.fixture()
def seeded_pg_url(seeded_pg_template, settings):
    """A private, freshly seeded PostgreSQL database for one test (a copy of the template)."""
    with postgres_copy(seeded_pg_template, settings.test.postgres_url) as url:
        yield url

