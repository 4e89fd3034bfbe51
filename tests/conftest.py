"""Shared fixtures: a seeded database, the trained model, the real action server and a
Rasa Agent that talks to it. Everything is real; nothing is mocked."""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

import pytest

# Tests never touch the developer's var/xiangyin.db: one seeded SQLite file per run.
_RUN_DIR = Path(tempfile.mkdtemp(prefix="xiangyin-test-"))
os.environ["XIANGYIN_VAR_DIR"] = str(_RUN_DIR)
os.environ["XIANGYIN_DATABASE_URL"] = f"sqlite:///{_RUN_DIR / 'xiangyin.db'}"
# ... nor the shipped knowledge/ folder: ingestion tests work on a copy.
os.environ["XIANGYIN_KNOWLEDGE_DIR"] = str(_RUN_DIR / "knowledge")
# The voice channel recognises speech through a test double at the ASR boundary only.
os.environ["XIANGYIN_ASR_FACTORY"] = "tests.support.asr_double:KnownTranscripts"
os.environ["XIANGYIN_TEST_TRANSCRIPTS"] = str(_RUN_DIR / "transcripts.json")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
shutil.copytree(PROJECT_ROOT / "knowledge", _RUN_DIR / "knowledge",
                ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))


def free_port() -> int:
    from bot.ops.runtime import free_ports

    return free_ports(1)[0]


@pytest.fixture(scope="session")
def seeded_db() -> str:
    """The run's shared database, migrated and seeded once."""
    from bot.db import migrate
    from bot.seed import seed_demo_village

    url = os.environ["XIANGYIN_DATABASE_URL"]
    migrate(url)
    seed_demo_village(url)
    return url


@pytest.fixture()
def fresh_db(tmp_path) -> str:
    """A private, freshly seeded SQLite database for tests that change shared state."""
    from bot.db import migrate
    from bot.seed import seed_demo_village

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url)
    seed_demo_village(url)
    return url


@pytest.fixture(scope="session")
def trained_model() -> Path:
    from bot.ops.runtime import train_if_needed

    return train_if_needed(quiet=True)


@pytest.fixture(scope="session")
def action_server(seeded_db):
    """The real rasa_sdk action server, in its own process, on the run's database."""
    from bot.ops.runtime import start_action_server, stop, wait_for_http

    port = free_port()
    proc = start_action_server(port, _RUN_DIR / "actions.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", 120, proc)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def event_loop_session():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def agent(trained_model, action_server, event_loop_session):
    from rasa.utils.endpoints import EndpointConfig

    return event_loop_session.run_until_complete(
        _load_agent(str(trained_model), EndpointConfig(url=action_server)))


async def _load_agent(model, endpoint):
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints

    return await load_agent(model_path=model, endpoints=AvailableEndpoints(action=endpoint))


class Conversation:
    """One user's conversation with the assistant through the real dialogue stack."""

    def __init__(self, agent, loop, sender_id: str):
        self.agent, self.loop, self.sender_id = agent, loop, sender_id
        self.replies: list[dict] = []

    def say(self, text: str) -> str:
        self.replies = self.loop.run_until_complete(self.agent.handle_text(text, sender_id=self.sender_id)) or []
        return "\n".join(r.get("text", "") for r in self.replies)

    def tracker(self):
        return self.loop.run_until_complete(self.agent.tracker_store.retrieve(self.sender_id))

    def slot(self, name: str):
        return self.tracker().get_slot(name)


@pytest.fixture()
def talk(agent, event_loop_session):
    """talk('cli:wangjianguo') → a new Conversation for that demo user (fresh tracker)."""

    def start(sender: str) -> Conversation:
        # Trackers are per sender id (channel:id, mapped to a user by the database);
        # each test starts that user's conversation afresh.
        store = agent.tracker_store
        getattr(store, "_tracker_store", store).store.pop(sender, None)
        return Conversation(agent, event_loop_session, sender)

    return start


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def rasa_server(trained_model, action_server):
    """The real Rasa HTTP server (REST channel enabled) on the run's database; yields its base URL."""
    from bot.ops.runtime import start_rasa_server, stop, wait_for_http

    port = free_port()
    proc = start_rasa_server(trained_model, port, action_server, _RUN_DIR / "rasa.log",
                             env={"XIANGYIN_DATABASE_URL": os.environ["XIANGYIN_DATABASE_URL"]})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/status", 300, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def require_postgres() -> None:
    """Skip when PostgreSQL is unreachable, except under CI=true, where that is a failure."""
    from bot.ops.databases import postgres_admin_url, postgres_reachable

    if postgres_reachable():
        return
    message = f"PostgreSQL is not reachable at {postgres_admin_url()}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; with CI=true the PostgreSQL tests must run")
    pytest.skip(message)


@pytest.fixture()
def scratch_pg_url():
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    from bot.ops.databases import scratch_postgres

    require_postgres()
    with scratch_postgres("xiangyin_test") as url:
        yield url
