"""Training (only when data or config changed) and the server processes.

The model's file name carries a fingerprint of everything that shapes it, so
``train_if_needed`` is a no-op when an up-to-date model exists.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from bot.config import PROJECT_ROOT, Settings, child_environment, load_settings

TRAINING_INPUTS = ["config.yml", "domain.yml", "nlu_data", "bot/nlu/pinyin_featurizer.py"]


def fingerprint(root: Path = PROJECT_ROOT, inputs: list[str] | None = None) -> str:
    digest = hashlib.sha256()
    for name in inputs or TRAINING_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def model_path(settings: Settings | None = None, config: str = "config.yml") -> Path:
    settings = settings or load_settings()
    if settings.model_path:
        return Path(settings.model_path)
    stem = Path(config).stem
    name = "xiangyin" if stem == "config" else f"xiangyin-{stem}"
    inputs = [config, *TRAINING_INPUTS[1:]]
    return settings.models_dir / f"{name}-{fingerprint(inputs=inputs)}.tar.gz"


def train_if_needed(config: str = "config.yml", force: bool = False, quiet: bool = False,
                    settings: Settings | None = None) -> Path:
    """Train a model unless one with the same fingerprint exists; returns its path."""
    settings = settings or load_settings()
    target = model_path(settings, config)
    if target.exists() and not force:
        if not quiet:
            print(f"==> Model up to date: {target.name}")
        return target
    print(f"==> Training the Rasa model ({config}); this takes a few minutes on 2 cores ...", flush=True)
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "rasa", "train", "--config", str(PROJECT_ROOT / config),
           "--domain", str(PROJECT_ROOT / "domain.yml"), "--data", str(PROJECT_ROOT / "nlu_data"),
           "--out", str(target.parent), "--fixed-model-name", target.name[: -len(".tar.gz")]]
    subprocess.run(cmd, check=True, cwd=PROJECT_ROOT, env=child_environment(settings=settings))
    print(f"==> Trained {target.name} in {time.monotonic() - started:.0f} s", flush=True)
    return target


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def start_action_server(port: int, log_path: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
    return spawn(cmd, log_path, env)


def start_rasa_server(model: Path, port: int, action_url: str, log_path: Path | None = None,
                      endpoints: str = "endpoints.yml", credentials: str = "credentials.yml",
                      env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rasa", "run", "--enable-api", "--model", str(model), "--port", str(port),
           "--endpoints", str(PROJECT_ROOT / endpoints), "--credentials", str(PROJECT_ROOT / credentials)]
    return spawn(cmd, log_path, {"XIANGYIN_ACTION_URL": action_url, **(env or {})})


def spawn(cmd: list[str], log_path: Path | None, env: dict | None = None) -> subprocess.Popen:
    """A child process in its own session (Ctrl-C in the terminal reaches only us), logging to a file."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=child_environment(env), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(*procs: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM each process group, then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on the loopback interface."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def embedded_stack(env_extra: dict | None = None, pids: dict | None = None) -> Iterator[str]:
    """1 action server + 1 Rasa server on a scratch, seeded SQLite database; yields the Rasa
    base URL. ``pids``, when given, receives the two servers' process ids (for memory figures)."""
    from bot.db import migrate
    from bot.seed import seed_demo_village

    scratch = Path(tempfile.mkdtemp(prefix="xiangyin-stack-"))
    url = f"sqlite:///{scratch / 'stack.db'}"
    migrate(url)
    seed_demo_village(url)
    env = {"XIANGYIN_DATABASE_URL": url, "XIANGYIN_VAR_DIR": str(scratch), **(env_extra or {})}
    action_port, rasa_port = free_ports(2)
    actions = start_action_server(action_port, scratch / "actions.log", env=env)
    rasa = start_rasa_server(model_path(), rasa_port, f"http://127.0.0.1:{action_port}/webhook",
                             scratch / "rasa.log", env=env)
    if pids is not None:
        pids.update(rasa=rasa.pid, actions=actions.pid, database_url=url)
    try:
        wait_for_http(f"http://127.0.0.1:{action_port}/health", 120, actions)
        wait_for_http(f"http://127.0.0.1:{rasa_port}/status", 400, rasa)
        yield f"http://127.0.0.1:{rasa_port}"
    finally:
        stop(rasa, actions)
