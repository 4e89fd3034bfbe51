"""Fixtures of the actions tier: domain.yml as the action server receives it, settings that
point at a private copy of the seeded demo village, and a runner for actions (harness.py)."""
from __future__ import annotations

from typing import Any, Dict

import pytest
import yaml

from bot.config import Settings, load_settings
from tests.actions.harness import DOMAIN_FILE, Runner


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    """domain.yml as the action server receives it (slots, forms, responses)."""
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))


@pytest.fixture()
def action_settings(fresh_db, tmp_path) -> Settings:
    """Settings for one test: its own copy of the seeded village (fresh_db), its own var folder."""
    return load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db})


@pytest.fixture()
def runner(action_settings, domain) -> Runner:
    return Runner(action_settings, domain)
