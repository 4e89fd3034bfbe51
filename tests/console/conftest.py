"""The console tier: the staff web console (bot/console/) served by uvicorn on a free port, on a
private copy of the seeded demo village (SQLite, or PostgreSQL for the tests that ask for it),
driven by Debian's Chromium through Playwright (its own browser download does not work offline;
`make install` installs the chromium package).

Each test gets its own database and its own console (a uvicorn server in a thread of the test
process, started in a fraction of a second), and a fresh browser context (no cookies); the
browser is started once per run. What the villager sees is checked through the domain's own
query functions on the same database (the villager's channel is the chat, not the console).
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
START_SECONDS = 30


@dataclass
class Console:
    url: str
    database_url: str
    settings: object
    knowledge_dir: Path

    def session(self, write: bool = True):
        from bot.db import session_scope

        return session_scope(write=write, url=self.database_url)


def _serve(settings, started_within: float = START_SECONDS):
    """A console server for ``settings`` in a thread; returns (url, stop)."""
    import uvicorn

    from bot.console.app import create_app
    from bot.ops.runtime import free_ports

    port = free_ports(1)[0]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="none",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"console-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + started_within
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the console did not start on port {port}")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=started_within)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture()
def make_console(tmp_path, test_environment):
    """make_console(database_url) → a running :class:`Console` on that (seeded) database, with its
    own var folder and copy of knowledge/ (publishing a notice writes an entry and an index)."""
    from bot.config import load_settings
    from bot.db import get_engine

    stops, urls = [], []

    def make(database_url: str) -> Console:
        folder = tmp_path / f"console-{len(stops)}"
        knowledge = folder / "knowledge"
        shutil.copytree(PROJECT_ROOT / "knowledge", knowledge,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc", "eval"))
        settings = load_settings({**test_environment, "XIANGYIN_VAR_DIR": str(folder),
                                  "XIANGYIN_DATABASE_URL": database_url, "XIANGYIN_KNOWLEDGE_DIR": str(knowledge)})
        url, stop = _serve(settings)
        stops.append(stop)
        urls.append(database_url)
        return Console(url=url, database_url=database_url, settings=settings, knowledge_dir=knowledge)

    yield make
    for stop in stops:
        stop()
    for database_url in urls:
        get_engine(database_url).dispose()


@pytest.fixture()
def console(make_console, fresh_db) -> Console:
    """The console on a fresh SQLite copy of the demo village."""
    return make_console(fresh_db)


@pytest.fixture(scope="package")
def browser():
    """Debian's Chromium, started once for the tier and stopped with it: Playwright's sync API
    keeps an event loop running in the main thread, so it must not outlive the console tests
    (later tiers call asyncio.run). Without Chromium the tier is skipped (a failure under
    CI=true): `apt-get install chromium`, which `make install` does as root."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (make install does it as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture()
def new_page(browser):
    """new_page() → a page in a fresh browser context (its own cookies: one person at a desk)."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai", accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture()
def page(new_page):
    return new_page()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_console(request, make_console) -> Console:
    """The console on a fresh copy of the demo village in SQLite, and again in PostgreSQL."""
    url = request.getfixturevalue("fresh_db" if request.param == "sqlite" else "seeded_pg_url")
    return make_console(url)
