"""Runtime configuration, read from environment variables with sane defaults.

Every setting has one name here; the README's configuration table lists them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SecretError(ValueError):
    pass


def secret(name: str, env=None) -> str | None:
    """A secret from the environment: ``NAME``, else the contents of the file named by
    ``NAME_FILE``, which must lie outside the repository. Never logged by callers."""
    env = os.environ if env is None else env
    value = (env.get(name) or "").strip()
    if value:
        return value
    path = (env.get(f"{name}_FILE") or "").strip()
    if not path:
        return None
    resolved = Path(path).resolve()
    if resolved == PROJECT_ROOT or PROJECT_ROOT in resolved.parents:
        raise SecretError(f"{name}_FILE must be outside the repository (it holds a secret)")
    try:
        return resolved.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise SecretError(f"cannot read {name}_FILE: {exc.strerror}") from None


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    knowledge_dir: Path
    database_url: str
    models_dir: Path
    model_path: str | None
    rasa_port: int
    action_port: int
    action_url: str
    rasa_url: str
    tracker_store_url: str | None
    lock_store_url: str | None
    timezone: str
    demo_user: str

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    var_dir = Path(_env("XIANGYIN_VAR_DIR", str(PROJECT_ROOT / "var"))).resolve()
    rasa_port = int(_env("XIANGYIN_RASA_PORT", "5005"))
    action_port = int(_env("XIANGYIN_ACTION_PORT", "5055"))
    return Settings(
        var_dir=var_dir,
        knowledge_dir=Path(_env("XIANGYIN_KNOWLEDGE_DIR", str(PROJECT_ROOT / "knowledge"))).resolve(),
        database_url=secret("XIANGYIN_DATABASE_URL") or f"sqlite:///{var_dir / 'xiangyin.db'}",
        models_dir=Path(_env("XIANGYIN_MODELS_DIR", str(PROJECT_ROOT / "models"))).resolve(),
        model_path=os.environ.get("XIANGYIN_MODEL") or None,
        rasa_port=rasa_port,
        action_port=action_port,
        action_url=_env("XIANGYIN_ACTION_URL", f"http://127.0.0.1:{action_port}/webhook"),
        rasa_url=_env("XIANGYIN_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        tracker_store_url=os.environ.get("XIANGYIN_TRACKER_STORE_URL") or None,
        lock_store_url=os.environ.get("XIANGYIN_LOCK_STORE_URL") or None,
        timezone=_env("XIANGYIN_TIMEZONE", "Asia/Shanghai"),
        demo_user=_env("XIANGYIN_DEMO_USER", "wangjianguo"),
    )
