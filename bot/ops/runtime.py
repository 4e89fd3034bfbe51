"""Training (only when data or config changed) and the server processes.

The model's file name carries a fingerprint of everything that shapes it, so
``train_if_needed`` is a no-op when an up-to-date model exists.

Servers (each binds ``settings.security.bind``, loopback unless ``XIANGYIN_BIND`` says otherwise):

* the action server, ``python -m bot.ops.action_server --port P`` (rasa_sdk behind a token check);
* the Rasa server, ``python -m bot.ops.rasa_server ...`` (``rasa run -i <bind>``; its HTTP API
  only with ``--auth-token``, or off), with ``XIANGYIN_ACTION_TOKEN`` in its environment for the
  ``token:`` of endpoints.yml;
* the staff web console ``python -m bot.console`` when that package exists;
* the speech recogniser, ``python -m speech.server <var_dir>/run/asr.sock`` (a Unix socket, no
  port), when :func:`asr_process_address` says so; the Rasa server then gets
  ``XIANGYIN_ASR_SERVER`` and holds no Vosk model itself.

Started through a :class:`bot.ops.processes.ProcessGroup` (one process group, a pid file, ports
checked before and owners verified after: see that module), or on their own (``group=None``,
each in its own session, stopped with :func:`stop`) by callers that own them otherwise.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from bot.config import PROJECT_ROOT, Settings, child_environment, load_settings
from bot.ops.processes import ProcessGroup, local_host, pid_file_path

TRAINING_INPUTS = ["config.yml", "domain.yml", "nlu_data", "bot/nlu/pinyin_featurizer.py", "bot/ops/rasa_patches.py"]


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
                    settings: Settings | None = None, validated: bool = False) -> Path:
    """Train a model unless one with the same fingerprint exists; returns its path.
    ``validated``: the caller has just run ``rasa data validate`` on the same files (``make
    test``), so ``rasa train`` skips its own copy of that check (about 20 s, most of it the
    story-conflict analysis)."""
    settings = settings or load_settings()
    target = model_path(settings, config)
    if target.exists() and not force:
        if not quiet:
            print(f"==> Model up to date: {target.name}")
        return target
    print(f"==> Training the Rasa model ({config}); this takes a few minutes on 2 cores ...", flush=True)
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bot.ops.rasa_train", "--config", str(PROJECT_ROOT / config),
           "--domain", str(PROJECT_ROOT / "domain.yml"), "--data", str(PROJECT_ROOT / "nlu_data"),
           "--out", str(target.parent), "--fixed-model-name", target.name[: -len(".tar.gz")],
           *(["--skip-validation"] if validated else [])]
    subprocess.run(cmd, check=True, cwd=PROJECT_ROOT, env=child_environment(settings=settings))  # nosec B603 - this interpreter, fixed arguments, no shell
    print(f"==> Trained {target.name} in {time.monotonic() - started:.0f} s", flush=True)
    return target


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers with any status below 500 (a 401 or 404 is an answer: the server is
    up); RuntimeError when ``proc`` exits first, TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # nosec B310 - http URLs of our own servers, built by the callers
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            time.sleep(0.5)
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def child_settings(env: dict | None = None) -> Settings:
    """The settings a child started with ``env`` on top of this process's environment reads."""
    return load_settings(child_environment(env))


def server_url(settings: Settings, port: int) -> str:
    """Where this machine reaches a server of ours on ``port`` (bound to settings.security.bind)."""
    return f"http://{local_host(settings.security.bind)}:{port}"


def _start(cmd: list[str], name: str, port: int, log_path: Path | None, env: dict | None,
           group: ProcessGroup | None) -> subprocess.Popen:
    if group is None:
        return spawn(cmd, log_path, env)
    return group.spawn(name, cmd, log_path, env, ports=(port,) if port else ()).proc


def start_action_server(port: int, log_path: Path | None = None, env: dict | None = None,
                        group: ProcessGroup | None = None, name: str = "actions") -> subprocess.Popen:
    """rasa_sdk's server behind our launcher: binds settings.security.bind, requires Rasa's token."""
    cmd = [sys.executable, "-m", "bot.ops.action_server", "--port", str(port)]
    return _start(cmd, name, port, log_path, env, group)


def start_rasa_server(model: Path, port: int, action_url: str, log_path: Path | None = None,
                      endpoints: str = "endpoints.yml", credentials: str = "credentials.yml",
                      env: dict | None = None, group: ProcessGroup | None = None,
                      name: str = "rasa") -> subprocess.Popen:
    """Rasa on settings.security.bind, its HTTP API on only with the token derived from the
    server secret (or off: XIANGYIN_RASA_API=0), both added by :mod:`bot.ops.rasa_server`; the
    action server's token in its environment for endpoints.yml."""
    from bot.security.keys import action_server_token

    settings = child_settings(env)
    cmd = [sys.executable, "-m", "bot.ops.rasa_server", "--model", str(model), "--port", str(port),
           "--endpoints", str(PROJECT_ROOT / endpoints), "--credentials", str(PROJECT_ROOT / credentials)]
    return _start(cmd, name, port, log_path,
                  {"XIANGYIN_ACTION_URL": action_url, "XIANGYIN_ACTION_TOKEN": action_server_token(settings),
                   **(env or {})}, group)


def asr_process_address(settings: Settings) -> str | None:
    """Where the recogniser process a run starts listens: ``<var_dir>/run/asr.sock``; None when
    the run starts none (XIANGYIN_ASR_PROCESS=0, a recogniser factory such as the tests' double,
    or XIANGYIN_ASR_SERVER naming a recogniser run otherwise)."""
    speech = settings.speech
    if not speech.asr_process or speech.asr_factory or speech.asr_server:
        return None
    from speech.server import default_address

    return default_address(settings)


def start_asr_server(address: str, log_path: Path | None = None, env: dict | None = None,
                     group: ProcessGroup | None = None) -> subprocess.Popen:
    """``python -m speech.server ADDRESS``: it binds at once and loads the Vosk model in the
    background; :func:`wait_for_asr` says when the model is in."""
    return _start([sys.executable, "-m", "speech.server", address], "asr", 0, log_path, env, group)


def wait_for_asr(address: str, timeout: float, proc: subprocess.Popen | None = None) -> dict:
    """Until the recogniser at ``address`` has loaded its model or found none: its ``info``
    (``state`` ready or no-model, and the ``problem``); RuntimeError when ``proc`` exits first,
    TimeoutError after ``timeout`` seconds."""
    from speech.remote import RecognizerUnavailable, RemoteRecognizer

    recognizer = RemoteRecognizer(address, timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the recogniser process exited with code {proc.returncode}")
        try:
            info = recognizer.describe()
            if info.get("state") in ("ready", "no-model"):
                return info
        except RecognizerUnavailable:
            pass  # not listening yet
        time.sleep(0.3)
    raise TimeoutError(f"the recogniser at {address} did not load its model within {timeout:.0f} s")


CONSOLE_MAIN = PROJECT_ROOT / "bot" / "console" / "__main__.py"


def console_available() -> bool:
    """The staff web console is started when its package is there (``python -m bot.console``)."""
    return CONSOLE_MAIN.is_file()


def start_console(log_path: Path | None = None, env: dict | None = None, group: ProcessGroup | None = None,
                  port: int | None = None) -> subprocess.Popen:
    """``python -m bot.console``: settings.console.port on settings.security.bind."""
    settings = child_settings(env)
    return _start([sys.executable, "-m", "bot.console"], "console", port or settings.console.port, log_path,
                  env, group)


def rasa_status(base_url: str, token: str, timeout: float = 10) -> dict:
    """Rasa's ``GET /status`` (needs the API token): ``model_file``, ``model_id``, ..."""
    url = f"{base_url.rstrip('/')}/status?" + urllib.parse.urlencode({"token": token})
    with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310 - http URL of our own Rasa server
        return json.loads(response.read().decode("utf-8"))


def model_problems(base_url: str, settings: Settings, model: Path) -> list[str]:
    """Whether the Rasa server at ``base_url`` runs ``model`` (asked with the API token; with the
    API off there is nothing to ask, and the port's owner — our child, started with that model —
    is the proof)."""
    if not settings.security.rasa_api:
        return []
    from bot.security.keys import rasa_api_token

    try:
        status = rasa_status(base_url, rasa_api_token(settings))
    except (OSError, ValueError) as exc:
        return [f"the Rasa server at {base_url} does not say which model it runs ({exc})"]
    loaded = Path(str(status.get("model_file") or "")).name
    if loaded != model.name:
        return [f"the Rasa server at {base_url} runs model {loaded or '?'}, not {model.name}"]
    return []


def spawn(cmd: list[str], log_path: Path | None, env: dict | None = None) -> subprocess.Popen:
    """A child process in its own session (for callers that own it outside a ProcessGroup),
    stdin from /dev/null, logging to a file."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=child_environment(env), stdin=subprocess.DEVNULL,  # nosec B603 - our own commands as argument lists, no shell
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log_path:
            out.close()


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
    """1 action server + 1 Rasa server (+ the speech recogniser, as `serve` starts it) on a
    scratch, seeded SQLite database, in one process group; yields the Rasa base URL. The stack
    shares this process's server secret, so the caller mints tokens and device keys (and Rasa's
    API token) from its own settings. ``pids``, when given, receives the servers' process ids
    (``rasa``, ``actions``, and ``asr`` when there is one: for memory figures) and the database URL."""
    from bot.db import migrate
    from bot.security.keys import master_key
    from bot.seed import seed_demo_village

    scratch = Path(tempfile.mkdtemp(prefix="xiangyin-stack-"))
    url = f"sqlite:///{scratch / 'stack.db'}"
    migrate(url)
    seed_demo_village(url)
    env = {"XIANGYIN_DATABASE_URL": url, "XIANGYIN_VAR_DIR": str(scratch),
           "XIANGYIN_SECRET_KEY": master_key(load_settings()).decode(), **(env_extra or {})}
    settings = child_settings(env)
    action_port, rasa_port = free_ports(2)
    group = ProcessGroup(pid_file_path(scratch), label="stack", log=lambda line: None)
    finished = False
    try:
        asr_address = asr_process_address(settings)
        if asr_address:
            asr = start_asr_server(asr_address, scratch / "asr.log", env=env, group=group)
            env = {**env, "XIANGYIN_ASR_SERVER": asr_address}
            if pids is not None:
                pids.update(asr=asr.pid)
        actions = start_action_server(action_port, scratch / "actions.log", env=env, group=group)
        rasa = start_rasa_server(model_path(settings), rasa_port, f"{server_url(settings, action_port)}/webhook",
                                 scratch / "rasa.log", env=env, group=group)
        if pids is not None:
            pids.update(rasa=rasa.pid, actions=actions.pid, database_url=url)
        wait_for_http(f"{server_url(settings, action_port)}/health", 120, actions)
        wait_for_http(f"{server_url(settings, rasa_port)}/", 400, rasa)
        if asr_address:
            wait_for_asr(asr_address, 120, asr)
        yield server_url(settings, rasa_port)
        finished = True
    finally:
        group.stop()
        if finished:  # a stack that failed keeps its folder: the servers' logs say why
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"stack folder kept for its logs: {scratch}", file=sys.stderr)
