"""End-to-end fixtures: the trained model, the real action server and the real Rasa server
(started once for the whole tier, as `python -m bot serve` starts them), the demo village
restored before every test, and conversations through the REST channel. Nothing is mocked
except the speech recogniser at the ASR boundary (tests/support/asr_double.py).

The servers get their settings the way production processes do: from the environment they
are started with (:func:`e2e_environment`), read once by bot.config.load_settings."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from tests.support import asr_double
from tests.support.conversation import Conversation
from tests.support.databases import copy_database, seed_village, sqlite_path, sqlite_url

SERVER_START_SECONDS = {"actions": 120, "rasa": 400}


@pytest.fixture(scope="package", autouse=True)
def e2e_environment(test_environment, tmp_path_factory) -> dict[str, str]:
    """The tier's own var folder, database, copy of knowledge/ (ingestion writes to it) and
    recogniser double; set in this process for the tier and passed to every server."""
    var_dir = tmp_path_factory.mktemp("e2e")
    knowledge = var_dir / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))
    values = {
        **test_environment,
        "XIANGYIN_VAR_DIR": str(var_dir),
        "XIANGYIN_DATABASE_URL": sqlite_url(var_dir / "village.db"),
        "XIANGYIN_KNOWLEDGE_DIR": str(knowledge),
        **asr_double.server_environment(var_dir / "transcripts.json"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield values


@pytest.fixture(scope="package")
def settings(e2e_environment):
    from bot.config import load_settings

    return load_settings()


@dataclass(frozen=True)
class Village:
    url: str
    path: Path
    pristine: Path

    def restore(self) -> None:
        """Back to the state right after seeding, in place: the servers keep their connections."""
        copy_database(self.pristine, self.path)


@pytest.fixture(scope="package")
def village(e2e_environment) -> Village:
    """The tier's database: the demo village, seeded once, with a pristine copy to restore."""
    path = sqlite_path(e2e_environment["XIANGYIN_DATABASE_URL"])
    seed_village(path)
    pristine = path.with_name("pristine.db")
    copy_database(path, pristine)
    return Village(sqlite_url(path), path, pristine)


@pytest.fixture(autouse=True)
def fresh_village(village) -> None:
    """Every end-to-end test starts from the freshly seeded village, whatever earlier tests
    filed, redeemed or linked: no test depends on the order tests run in."""
    village.restore()


@pytest.fixture(scope="package")
def seeded_db(village) -> str:
    """The URL of the database the servers use (restored before each test)."""
    return village.url


@pytest.fixture(scope="package")
def trained_model() -> Path:
    from bot.ops.runtime import train_if_needed

    return train_if_needed(quiet=True)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(url: str, timeout: float, proc, log: Path) -> None:
    from bot.ops.runtime import wait_for_http

    try:
        wait_for_http(url, timeout, proc)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{exc}; last lines of {log}:\n{_tail(log)}") from None


@pytest.fixture(scope="package")
def servers(trained_model, village, e2e_environment):
    """The action server and the Rasa server (REST and voice channels, HTTP API enabled), both
    started at once and stopped when the tier is done. Yields {"actions": Server, "rasa": Server}."""
    from bot.ops.runtime import free_ports, start_action_server, start_rasa_server, stop

    logs = Path(e2e_environment["XIANGYIN_VAR_DIR"]) / "logs"
    logs.mkdir(exist_ok=True)
    action_port, rasa_port = free_ports(2)
    action_url = f"http://127.0.0.1:{action_port}/webhook"
    actions = start_action_server(action_port, logs / "actions.log", env=e2e_environment)
    rasa = start_rasa_server(trained_model, rasa_port, action_url, logs / "rasa.log", env=e2e_environment)
    try:
        _wait(f"http://127.0.0.1:{action_port}/health", SERVER_START_SECONDS["actions"], actions, logs / "actions.log")
        _wait(f"http://127.0.0.1:{rasa_port}/status", SERVER_START_SECONDS["rasa"], rasa, logs / "rasa.log")
        base = f"http://127.0.0.1:{rasa_port}"
        # The first turn of a cold stack is slow (graph warm-up, first action call): take it here.
        warm_up = Conversation(base, "cli:wangjianguo").restart()
        warm_up.say("你好")
        warm_up.restart().close()
        yield {"actions": Server(action_url, actions.pid, logs / "actions.log"),
               "rasa": Server(base, rasa.pid, logs / "rasa.log")}
    finally:
        stop(rasa, actions)


@pytest.fixture(scope="package")
def action_server(servers) -> str:
    """The action server's webhook URL."""
    return servers["actions"].url


@pytest.fixture(scope="package")
def rasa_server(servers) -> str:
    """The Rasa server's base URL."""
    return servers["rasa"].url


@pytest.fixture()
def talk(rasa_server):
    """talk('cli:wangjianguo') → a new Conversation for that user, started afresh."""
    started: list[Conversation] = []

    def start(sender: str) -> Conversation:
        conversation = Conversation(rasa_server, sender).restart()
        started.append(conversation)
        return conversation

    yield start
    for conversation in started:
        conversation.close()
