"""bot.config: one frozen Settings object, read from a mapping (the environment by default)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, SecretError, Settings, SettingsError, child_environment, load_settings


def test_defaults_are_todays_behaviour():
    s = load_settings({})
    assert s.var_dir == PROJECT_ROOT / "var" and s.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'xiangyin.db'}"
    assert (s.rasa_port, s.action_port) == (5005, 5055)
    assert s.rasa_url == "http://127.0.0.1:5005" and s.action_url == "http://127.0.0.1:5055/webhook"
    assert s.lock_store_url == "redis://127.0.0.1:6379/0" and s.tracker_store_url is None
    assert (s.cluster.port, s.cluster.rasa_base_port, s.cluster.rasa_replicas) == (5080, 5101, 2)
    assert s.speech.vosk_model == PROJECT_ROOT / "var" / "models" / "vosk-model-small-cn-0.22"
    assert (s.speech.asr_grammar, s.speech.asr_snap, s.speech.tts_engine, s.speech.tts_rate) == (False, True, "pyttsx3", 130)
    assert (s.telegram.token, s.telegram.rate_limit, s.emergency.ack_minutes) == (None, 20, 5)
    assert s.bench.load_levels == (20, 50, 100) and s.demo_user == "wangjianguo" and not s.is_cluster
    assert s == Settings(), "the dataclass defaults and load_settings({}) agree"


def test_values_derive_from_each_other(tmp_path):
    s = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path), "XIANGYIN_RASA_PORT": "6005", "XIANGYIN_MODE": "Cluster"})
    assert s.database_url == f"sqlite:///{tmp_path / 'xiangyin.db'}" and s.is_sqlite
    assert s.speech.vosk_model == tmp_path / "models" / "vosk-model-small-cn-0.22"
    assert s.rasa_url == "http://127.0.0.1:6005" and s.is_cluster


def test_old_name_is_an_alias():
    assert load_settings({"XIANGYIN_TEST_PG_URL": "postgresql://a@h/x"}).test.postgres_url == "postgresql://a@h/x"
    both = {"XIANGYIN_TEST_PG_URL": "postgresql://old@h/x", "XIANGYIN_TEST_POSTGRES_URL": "postgresql://new@h/x"}
    assert load_settings(both).test.postgres_url == "postgresql://new@h/x"


def test_bad_values_are_refused_or_fall_back():
    with pytest.raises(SettingsError, match="XIANGYIN_CLUSTER_PORT"):
        load_settings({"XIANGYIN_CLUSTER_PORT": "eighty"})
    assert load_settings({"XIANGYIN_TTS_RATE": "fast"}).speech.tts_rate == 130
    with pytest.raises(SecretError):
        load_settings({"XIANGYIN_DATABASE_URL_FILE": str(PROJECT_ROOT / "README.md")})


def test_secrets_stay_out_of_repr(tmp_path):
    token = tmp_path / "token"
    token.write_text("123:SECRET\n")
    s = load_settings({"XIANGYIN_TELEGRAM_TOKEN_FILE": str(token),
                       "XIANGYIN_DATABASE_URL": "postgresql://u:hunter2@h/db"})
    assert s.telegram.token == "123:SECRET"
    assert "SECRET" not in repr(s) and "hunter2" not in repr(s)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings({}).paths.var_dir = Path("/")


def test_child_environment(monkeypatch):
    monkeypatch.delenv("XIANGYIN_ACTION_URL", raising=False)
    env = child_environment({"EXTRA": "1"}, load_settings({"XIANGYIN_ACTION_PORT": "6055"}))
    assert env["EXTRA"] == "1" and env["TF_CPP_MIN_LOG_LEVEL"]
    assert env["XIANGYIN_ACTION_URL"] == "http://127.0.0.1:6055/webhook"
    assert env["PYTHONPATH"].split(":")[0] == str(PROJECT_ROOT)


def test_every_variable_the_code_names_is_a_setting():
    """A XIANGYIN_* name written anywhere in the code is read by load_settings (or is written
    for child processes only)."""
    config = (PROJECT_ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"(XIANGYIN_[A-Z_]+)"', config)) | {"XIANGYIN_DATABASE_URL_FILE", "XIANGYIN_TELEGRAM_TOKEN_FILE",
                                                              "XIANGYIN_SECRET_KEY_FILE"}
    written_only = {"XIANGYIN_TRACKER_STORE_PASSWORD", "XIANGYIN_LOCK_STORE_PASSWORD",
                    "XIANGYIN_ACTION_TOKEN"}  # endpoints.yml's action-server token, set for Rasa
    named = set()
    for package in ("bot", "actions", "speech", "knowledge", "bench"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            named |= set(re.findall(r"XIANGYIN_[A-Z][A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    assert sorted(named - read - written_only) == []
