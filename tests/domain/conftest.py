"""Domain-tier fixtures. The seeded databases they build on (fresh_db, seeded_pg_url,
scratch_pg_url) are in tests/conftest.py."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.config import load_settings


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def cli(capsys, tmp_path):
    """cli(*args, url=...) runs one command of `python -m bot` in this process, through
    bot.cli.main.main with the settings passed in as the entry point passes them (a subprocess
    per command would cost a second of imports each), and returns its exit code and output."""
    from bot.cli.main import main

    def run(*args: str, url: str) -> Result:
        settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": url})
        capsys.readouterr()
        message = ""
        try:
            code = main(list(args), settings)
        except SystemExit as exc:  # a command that refuses with a message, as `python -m bot` would
            code, message = (exc.code, "") if isinstance(exc.code, int) else (1, f"{exc.code}\n")
        out, err = capsys.readouterr()
        return Result(code, out, err + message)

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request):
    """The seeded village on SQLite (a fresh copy) and on PostgreSQL (a fresh copy)."""
    if request.param == "sqlite":
        return request.getfixturevalue("fresh_db")
    return request.getfixturevalue("seeded_pg_url")
