"""Scale-out mode: PostgreSQL + Redis, several Rasa replicas and action servers behind nginx.

Switched on by configuration only (``XIANGYIN_MODE=cluster``; ``make run-cluster`` or
``python -m bot cluster``)::

    XIANGYIN_MODE=cluster
    XIANGYIN_DATABASE_URL        postgresql://user[:password]@host[:port]/db  (required)
    XIANGYIN_DATABASE_URL_FILE   ... or a file holding that URL, outside the repository
    XIANGYIN_TRACKER_STORE_URL   PostgreSQL URL for Rasa's SQL tracker store
                                 (default: the database URL; Rasa adds its ``events`` table)
    XIANGYIN_LOCK_STORE_URL      redis://[:password@]host:port/db   (default redis://127.0.0.1:6379/0)
    XIANGYIN_RASA_REPLICAS       Rasa servers (default 2)
    XIANGYIN_ACTION_REPLICAS     action servers (default 2)
    XIANGYIN_CLUSTER_PORT        the load balancer's port for clients (default 5080)
    XIANGYIN_CLUSTER_ACTION_PORT the load balancer's port for Rasa → action servers (default 5081)
    XIANGYIN_CLUSTER_RASA_BASE_PORT / _ACTION_BASE_PORT   first replica ports (5101 / 5201)
    XIANGYIN_LOCK_KEY_PREFIX     alphanumeric Redis key prefix for the lock store (optional)

Start-up order: the ports checked (a stale run of this folder stopped, see
:mod:`bot.ops.processes`), migrations once (``migrate()`` in this process, before any replica),
the demo village if the database is empty, M action servers, N Rasa servers (both bound to
127.0.0.1 whatever ``XIANGYIN_BIND`` says; Rasa's HTTP API only with its token), one scheduler
(``python -m bot jobs --loop``), then nginx: round robin over the Rasa replicas on one port and
over the action servers for Rasa's action endpoint. All of them are one process group recorded
in ``var/run/xiangyin.pid``; Ctrl-C, SIGTERM or SIGHUP stops every process, and so does the
scheduler or nginx exiting; a replica that exits is restarted (at most ``MAX_RESTARTS`` times).

Closed by default: nginx is the only listener on ``XIANGYIN_CLUSTER_LISTEN`` and forwards only
the channel webhooks (``/webhooks/rest/``, ``/webhooks/voice/``; ``/webhooks/health/`` from
this machine only). Rasa's HTTP API (trackers, events, model) is not forwarded: everything else
is 404. The action servers' balancer listens on 127.0.0.1 only, and Rasa sends the action
token through it (``XIANGYIN_ACTION_TOKEN``, bot/ops/action_server.py).

Generated files (``var/cluster/``): ``endpoints.yml`` (tracker store ``type: SQL``,
``dialect: postgresql``; lock store ``type: redis``) and ``nginx.conf``. Passwords never
reach these files or the logs: the endpoints file refers to ``${XIANGYIN_TRACKER_STORE_PASSWORD}``
and ``${XIANGYIN_LOCK_STORE_PASSWORD}``, which only the child processes' environment holds,
and every URL printed is masked (``postgresql://xiangyin:***@db/xiangyin``).

nginx never retries a POST that reached a replica (a turn is not idempotent), only one
whose connection was refused, so a replica that dies mid-turn costs that turn a 502
("请稍后再试" on the client), never a double write.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import unquote, urlsplit

from bot.config import PROJECT_ROOT, Settings, SettingsError, load_settings
from bot.ops.processes import (
    Child,
    Plan,
    ProcessGroup,
    Shutdown,
    StartError,
    claim_ports,
    descendants,
    died_message,
    owner_signals,
    ownership_problems,
    pid_file_path,
    say,
    supervise,
)

REST_MAX_BODY = "32k"  # nginx answers 413 above this on the REST webhook (voice uploads: 12m)
PASSWORD_ENV = {"tracker": "XIANGYIN_TRACKER_STORE_PASSWORD", "lock": "XIANGYIN_LOCK_STORE_PASSWORD"}
# The variable that carries the action token into the Rasa replicas' environment (endpoints.yml reads it).
ACTION_TOKEN_ENV = "XIANGYIN_ACTION_TOKEN"  # nosec B105 - the name of a variable, not a secret


class ClusterConfigError(ValueError):
    pass


# --- secrets and URLs ----------------------------------------------------------------

def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ***, safe to print."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "")
    return url.replace(parts.netloc, f"{user}:***@{netloc[-1]}", 1)


@dataclass(frozen=True)
class ClusterConfig:
    database_url: str
    tracker_store_url: str
    lock_store_url: str
    rasa_replicas: int = 2
    action_replicas: int = 2
    listen: str = "127.0.0.1"
    lb_port: int = 5080
    action_lb_port: int = 5081
    rasa_ports: tuple[int, ...] = ()
    action_ports: tuple[int, ...] = ()
    var_dir: Path = field(default_factory=lambda: load_settings().var_dir)
    lock_key_prefix: str | None = None
    jobs_interval: float = 60.0
    scheduler: bool = True

    def __post_init__(self):
        if not self.database_url.startswith("postgresql"):
            raise ClusterConfigError("cluster mode needs XIANGYIN_DATABASE_URL=postgresql://... "
                                     f"(got {mask_url(self.database_url)!r})")
        if not self.tracker_store_url.startswith("postgresql"):
            raise ClusterConfigError("XIANGYIN_TRACKER_STORE_URL must be a postgresql:// URL")
        if not self.lock_store_url.startswith(("redis://", "rediss://")):
            raise ClusterConfigError("XIANGYIN_LOCK_STORE_URL must be a redis:// URL")
        if self.rasa_replicas < 1 or self.action_replicas < 1:
            raise ClusterConfigError("replica counts must be at least 1")
        if len(self.rasa_ports) != self.rasa_replicas or len(self.action_ports) != self.action_replicas:
            raise ClusterConfigError("one port per replica")
        if self.lock_key_prefix and not self.lock_key_prefix.isalnum():
            raise ClusterConfigError("XIANGYIN_LOCK_KEY_PREFIX must be alphanumeric")

    @property
    def dir(self) -> Path:
        return self.var_dir / "cluster"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "logs"

    @property
    def lb_url(self) -> str:
        host = "127.0.0.1" if self.listen in ("0.0.0.0", "") else self.listen  # nosec B104 - a wildcard listen is reached on loopback; binds nothing
        return f"http://{host}:{self.lb_port}"

    @property
    def action_lb_url(self) -> str:
        return f"http://127.0.0.1:{self.action_lb_port}/webhook"

    def describe(self) -> str:
        return (f"database {mask_url(self.database_url)}, tracker store {mask_url(self.tracker_store_url)}, "
                f"lock store {mask_url(self.lock_store_url)}, {self.rasa_replicas} Rasa + "
                f"{self.action_replicas} action replicas, clients on {self.lb_url}")


def cluster_config(settings: Settings, **overrides) -> ClusterConfig:
    """The scale-out configuration from ``settings`` (sections ``cluster``, ``rasa``, ``database``,
    ``paths``), with ``overrides`` for any field (tests and the load test use scratch services)."""
    c = settings.cluster
    rasa_base, action_base = c.rasa_base_port, c.action_base_port
    database_url = overrides.get("database_url") or settings.database.url
    values = dict(
        database_url=database_url,
        tracker_store_url=settings.rasa.tracker_store_url or database_url,
        lock_store_url=settings.rasa.lock_store_url,
        rasa_replicas=c.rasa_replicas, action_replicas=c.action_replicas,
        listen=c.listen, lb_port=c.port, action_lb_port=c.action_port,
        rasa_ports=tuple(range(rasa_base, rasa_base + c.rasa_replicas)),
        action_ports=tuple(range(action_base, action_base + c.action_replicas)),
        var_dir=settings.paths.var_dir,
        lock_key_prefix=settings.rasa.lock_key_prefix,
        jobs_interval=c.jobs_interval,
    )
    values.update(overrides)
    if "rasa_replicas" in overrides and "rasa_ports" not in overrides:
        values["rasa_ports"] = tuple(range(rasa_base, rasa_base + values["rasa_replicas"]))
    if "action_replicas" in overrides and "action_ports" not in overrides:
        values["action_ports"] = tuple(range(action_base, action_base + values["action_replicas"]))
    return ClusterConfig(**values)


def load_cluster_config(env: Mapping[str, str] | None = None, **overrides) -> ClusterConfig:
    """:func:`cluster_config` for the settings read from ``env`` (a mapping of ``XIANGYIN_*``
    variables; default: this process's environment, see :func:`bot.config.load_settings`)."""
    try:
        settings = load_settings(env)
    except SettingsError as exc:  # a database URL file inside the repository, a port that is no number
        raise ClusterConfigError(str(exc)) from None
    return cluster_config(settings, **overrides)


# --- generated configuration ---------------------------------------------------------

def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def endpoints_yaml(cfg: ClusterConfig) -> tuple[str, dict]:
    """The Rasa endpoints file for cluster mode, and the secret environment it refers to."""
    secret_env: dict[str, str] = {}
    pg = urlsplit(cfg.tracker_store_url)
    db = unquote(pg.path.lstrip("/")) or "postgres"
    lines = [
        "# Generated by `python -m bot cluster` (bot/cluster.py) — do not edit; regenerated at start-up.",
        "action_endpoint:",
        f"  url: {_yaml_str(cfg.action_lb_url)}",
        # sent as ?token= on every action call; the action servers refuse calls without it
        f"  token: ${{{ACTION_TOKEN_ENV}}}",
        "  enable_selective_domain: true",  # as endpoints.yml: the domain only where send_domain
        "tracker_store:",
        "  type: SQL",
        "  dialect: postgresql",
        f"  url: {_yaml_str(pg.hostname or '127.0.0.1')}",
        f"  port: {pg.port or 5432}",
        f"  db: {_yaml_str(db)}",
    ]
    if pg.username:
        lines.append(f"  username: {_yaml_str(unquote(pg.username))}")
    if pg.password is not None:
        secret_env[PASSWORD_ENV["tracker"]] = unquote(pg.password)
        lines.append(f"  password: ${{{PASSWORD_ENV['tracker']}}}")
    if pg.query:
        lines.append("  query:")
        for pair in pg.query.split("&"):
            key, _, value = pair.partition("=")
            lines.append(f"    {key}: {_yaml_str(unquote(value))}")
    red = urlsplit(cfg.lock_store_url)
    lines += [
        "lock_store:",
        "  type: redis",
        f"  url: {_yaml_str(red.hostname or '127.0.0.1')}",
        f"  port: {red.port or 6379}",
        f"  db: {int(red.path.lstrip('/') or 0)}",
    ]
    if red.password is not None:
        secret_env[PASSWORD_ENV["lock"]] = unquote(red.password)
        lines.append(f"  password: ${{{PASSWORD_ENV['lock']}}}")
    if red.scheme == "rediss":
        lines.append("  use_ssl: true")
    if cfg.lock_key_prefix:
        lines.append(f"  key_prefix: {_yaml_str(cfg.lock_key_prefix)}")
    return "\n".join(lines) + "\n", secret_env


def nginx_conf(cfg: ClusterConfig) -> str:
    d = cfg.dir
    tmp = d / "tmp"  # nginx's buffers: a private folder under var/cluster, not the system's temp directory
    # max_fails=0: a replica that refused a connection is not set aside for a while. With
    # max_fails=1 fail_timeout=3s, a replica that refused once while it restarted was still set
    # aside when the other one died: "no live upstreams", and a turn failed although a replica
    # was up again (the crash-loop test saw it). A dead replica refuses at once on loopback, so
    # trying it costs nothing; proxy_next_upstream then goes on to the next one.
    rasa = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in cfg.rasa_ports)
    actions = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in cfg.action_ports)
    user = "user nobody nogroup;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    # proxy_next_upstream without non_idempotent: a POST is retried on the next replica only
    # when it never reached the first one (connection refused), never after it was sent.
    proxy = """      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 2s;
      proxy_send_timeout 300s;
      proxy_read_timeout 300s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 0;"""
    return f"""# Generated by `python -m bot cluster` (bot/cluster.py) — do not edit; regenerated at start-up.
{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {cfg.log_dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 12m;
  client_body_buffer_size 1m;
  server_tokens off;
  upstream xiangyin_rasa {{
{rasa}
  }}
  upstream xiangyin_actions {{
{actions}
  }}
  server {{
    listen {cfg.listen}:{cfg.lb_port};
    # Only the channel webhooks are forwarded; Rasa's HTTP API (/conversations, /model, /status)
    # is not reachable through the balancer at all.
    # A chat message is short; an unbounded one makes Rasa's featurizers allocate gigabytes.
    location /webhooks/rest/ {{
      client_max_body_size {REST_MAX_BODY};
      proxy_pass http://xiangyin_rasa;
{proxy}
    }}
    location /webhooks/voice/ {{
      proxy_pass http://xiangyin_rasa;
{proxy}
    }}
    # The health report (model, schema, outbox, disk) is for this machine's monitoring only.
    location /webhooks/health/ {{
      allow 127.0.0.1;
      allow ::1;
      deny all;
      proxy_pass http://xiangyin_rasa;
{proxy}
    }}
    location / {{
      return 404;
    }}
  }}
  server {{
    listen 127.0.0.1:{cfg.action_lb_port};
    location / {{
      proxy_pass http://xiangyin_actions;
{proxy}
    }}
  }}
}}
"""


def write_generated(cfg: ClusterConfig) -> tuple[Path, Path, dict]:
    cfg.dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (cfg.dir / "tmp" / name).mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # nginx workers run as nobody
        import pwd

        nobody = pwd.getpwnam("nobody")
        for path in [cfg.dir / "tmp", *(cfg.dir / "tmp").iterdir()]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    text, secret_env = endpoints_yaml(cfg)
    endpoints = cfg.dir / "endpoints.yml"
    endpoints.write_text(text, encoding="utf-8")
    conf = cfg.dir / "nginx.conf"
    conf.write_text(nginx_conf(cfg), encoding="utf-8")
    return endpoints, conf, secret_env


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if Path(p).exists()), None)
    if not found:
        raise ClusterConfigError("nginx is not installed: apt-get install nginx-light")
    return found


# --- processes -----------------------------------------------------------------------

@dataclass
class Member:
    kind: str  # rasa | actions | scheduler | nginx
    index: int
    port: int | None
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index + 1}" if self.kind in ("rasa", "actions") else self.kind


class Cluster:
    """The processes of the scale-out mode, one process group (:class:`ProcessGroup`); used by
    ``python -m bot cluster``, the scale-out tests and the load test. Use as a context manager,
    or start()/stop()."""

    def __init__(self, cfg: ClusterConfig, model: Path | None = None, log: Callable[[str], None] = print,
                 extra_env: dict | None = None, seed: bool = True):
        from bot.ops.runtime import asr_process_address, child_settings, model_path
        from bot.security.keys import master_key

        self.cfg, self.log, self.seed = cfg, log, seed
        self.model = Path(model) if model else model_path()
        self.extra_env = dict(extra_env or {})
        self.rasa = [Member("rasa", i, p) for i, p in enumerate(cfg.rasa_ports)]
        self.actions = [Member("actions", i, p) for i, p in enumerate(cfg.action_ports)]
        self.scheduler = Member("scheduler", 0, None)
        self.nginx = Member("nginx", 0, cfg.lb_port)
        self.group = ProcessGroup(pid_file_path(cfg.var_dir), label="cluster", log=log)
        self.endpoints: Path | None = None
        self._secret_env: dict = {}
        self.asr: subprocess.Popen | None = None  # the speech recogniser the replicas share
        # Where it listens (var/run/asr.sock), as `serve` runs one; None when recognition is
        # configured otherwise (a factory such as the tests' double, XIANGYIN_ASR_PROCESS=0, or
        # XIANGYIN_ASR_SERVER naming one run elsewhere, which the replicas then use).
        self.asr_address = asr_process_address(child_settings({"XIANGYIN_VAR_DIR": str(cfg.var_dir),
                                                                **self.extra_env}))
        # The replicas share this process's server secret (the operator's; a test's or a
        # benchmark's), so tokens minted here are accepted there.
        self._secret = master_key(load_settings()).decode()

    def api_settings(self) -> Settings:
        """The settings the replicas read (their secret, loopback, the API switch)."""
        from bot.ops.runtime import child_settings

        return child_settings(self.child_env())

    # environment shared by every child: the resolved database URL (never on disk), the
    # store passwords the endpoints file refers to, loopback-only servers, the shared secret
    # and the action server's token.
    def child_env(self) -> dict:
        env = {
            "XIANGYIN_MODE": "cluster",
            "XIANGYIN_DATABASE_URL": self.cfg.database_url,
            "XIANGYIN_TRACKER_STORE_URL": self.cfg.tracker_store_url,
            "XIANGYIN_LOCK_STORE_URL": self.cfg.lock_store_url,
            "XIANGYIN_ACTION_URL": self.cfg.action_lb_url,
            "XIANGYIN_VAR_DIR": str(self.cfg.var_dir),
            "XIANGYIN_BIND": "127.0.0.1",
            "XIANGYIN_SECRET_KEY": self._secret,
        }
        env.update(self._secret_env)
        env.update(self.extra_env)
        if self.asr_address:
            env["XIANGYIN_ASR_SERVER"] = self.asr_address  # every replica's voice channel recognises there
        return env

    def start_recogniser(self, wait: bool = True) -> None:
        """The one speech recogniser of the cluster (its model loaded once, not per replica); it
        stops with the cluster's process group."""
        from bot.ops.runtime import start_asr_server, wait_for_asr

        if not self.asr_address:  # recognition configured otherwise
            return
        self.log(f"==> Speech recogniser on {self.asr_address} (log: {self.cfg.log_dir / 'asr.log'})")
        self.asr = start_asr_server(self.asr_address, self.cfg.log_dir / "asr.log", env=self.child_env(),
                                    group=self.group)
        if wait:
            wait_for_asr(self.asr_address, 120, self.asr)

    def plan(self) -> Plan:
        plan = Plan()
        plan.add(self.cfg.lb_port, "load balancer (clients)")
        plan.add(self.cfg.action_lb_port, "load balancer (action servers)")
        for m in self.rasa + self.actions:
            plan.add(m.port, m.name)
        return plan

    def prepare(self) -> None:
        """Ports free (a stale run of this folder stopped), migrations once, before any replica;
        the demo village if empty; generated files."""
        from bot.db import migrate

        if not self.model.exists():
            raise ClusterConfigError(f"no trained model at {self.model}; run `make train` first")
        claim_ports(self.plan(), self.group.pid_file, "127.0.0.1", self.log)
        self.log(f"==> Cluster: {self.cfg.describe()}")
        self.log("==> Database schema (alembic upgrade head, once, before the replicas start)")
        migrate(self.cfg.database_url)
        if self.seed:
            from bot.seed import seed_demo_village

            created = seed_demo_village(self.cfg.database_url)
            self.log(f"==> Demo village {'created' if created else 'already present'}")
        self.endpoints, self.nginx_conf, self._secret_env = write_generated(self.cfg)
        self.log(f"==> Generated {self.endpoints} and {self.nginx_conf}")

    def start_member(self, m: Member) -> subprocess.Popen:
        from bot.security.keys import action_server_token

        env = self.child_env()
        log = self.cfg.log_dir / f"{m.name}.log"
        if m.kind == "actions":
            cmd = [sys.executable, "-m", "bot.ops.action_server", "--port", str(m.port)]
        elif m.kind == "rasa":
            cmd = [sys.executable, "-m", "bot.ops.rasa_server", "--model", str(self.model), "--port", str(m.port),
                   "--endpoints", str(self.endpoints), "--credentials", str(PROJECT_ROOT / "credentials.yml")]
            env[ACTION_TOKEN_ENV] = action_server_token(self.api_settings())
        elif m.kind == "scheduler":
            cmd = [sys.executable, "-m", "bot", "jobs", "--loop", "--interval", str(self.cfg.jobs_interval)]
        else:
            cmd = [nginx_binary(), "-e", str(self.cfg.log_dir / "nginx-error.log"), "-p", str(self.cfg.dir),
                   "-c", str(self.nginx_conf)]
            log = self.cfg.log_dir / "nginx.log"
        ports = (m.port,) if m.port else ()
        if m.kind == "nginx":
            ports = (self.cfg.lb_port, self.cfg.action_lb_port)
        m.proc = self.group.spawn(m.name, cmd, log, env, ports).proc
        m.starts += 1
        return m.proc

    def url(self, m: Member) -> str:
        return f"http://127.0.0.1:{m.port}"

    def health_url(self, m: Member) -> str:
        # Rasa binds its port only once the model is loaded: its open root route answers then.
        return f"{self.url(m)}/health" if m.kind == "actions" else f"{self.url(m)}/"

    def wait(self, m: Member, timeout: float = 300) -> None:
        from bot.ops.runtime import wait_for_http

        wait_for_http(self.health_url(m), timeout, m.proc)

    def verify(self) -> list[str]:
        """Every member alive and owning its port(s), every Rasa replica on this model."""
        from bot.ops.runtime import model_problems

        problems = ownership_problems(self.group, self.plan().ports)
        for m in self.rasa:
            problems += model_problems(self.url(m), self.api_settings(), self.model)
        return problems

    def start(self, wait: bool = True) -> "Cluster":
        from bot.ops.runtime import wait_for_http

        try:
            if self.endpoints is None:
                self.prepare()
            self.start_recogniser(wait=False)  # its model loads while the replicas load theirs
            for m in self.actions:
                self.start_member(m)
            self.log(f"==> {len(self.actions)} action server(s) on ports {', '.join(str(m.port) for m in self.actions)}")
            for m in self.rasa:
                self.start_member(m)
            self.log(f"==> {len(self.rasa)} Rasa server(s) on ports {', '.join(str(m.port) for m in self.rasa)}"
                     f" (loading the model, 20-60 s; logs in {self.cfg.log_dir})")
            if self.cfg.scheduler:
                self.start_member(self.scheduler)
            self.start_member(self.nginx)
            if wait:
                for m in self.actions + self.rasa:
                    self.wait(m)
                wait_for_http(f"{self.cfg.lb_url}/webhooks/rest/", 60, self.nginx.proc)
                problems = self.verify()
                if problems:
                    raise StartError("Not ready: the servers that answer are not the ones just started:\n"
                                     + "\n".join(f"  - {p}" for p in problems))
                self.log(f"==> Processes: {self.group.pid_file}")
                self.log(f"==> Ready: clients use {self.cfg.lb_url}/webhooks/rest/webhook "
                         f"(only /webhooks/rest/ and /webhooks/voice/ are forwarded)")
        except BaseException:
            self.stop()
            raise
        return self

    def members(self) -> list[Member]:
        return [*self.rasa, *self.actions, self.scheduler, self.nginx]

    def member(self, child: Child) -> Member | None:
        return next((m for m in self.members() if m.name == child.name), None)

    def kill(self, m: Member) -> None:
        """kill -9 the member and what it started (a crash, no clean-up); the rest of the group
        keeps running."""
        if m.proc is not None and m.proc.poll() is None:
            for pid in [m.proc.pid, *descendants(m.proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            m.proc.wait()

    def restart(self, m: Member, wait: bool = True, timeout: float = 300) -> None:
        self.kill(m)
        self.start_member(m)
        if wait:
            self.wait(m, timeout)

    def dead(self) -> list[Member]:
        return [m for m in self.members() if m.proc is not None and m.proc.poll() is not None]

    def stop(self) -> None:
        self.group.stop(timeout=20)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


MAX_RESTARTS = 5  # per member, over the cluster's lifetime


def run_cluster(settings: Settings | None = None) -> int:
    """``python -m bot cluster``: start everything, supervise, stop on Ctrl-C / SIGTERM / SIGHUP,
    when the scheduler or nginx exits, or when a replica keeps exiting."""
    try:
        cfg = cluster_config(settings) if settings is not None else load_cluster_config()
    except ClusterConfigError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 2
    cluster = Cluster(cfg, log=say)

    def replica(child: Child) -> bool:
        m = cluster.member(child)
        return m is not None and m.kind in ("rasa", "actions")

    def fatal(child: Child) -> bool:  # during start-up everything is; later a replica is restarted
        m = cluster.member(child)
        return not (ready and replica(child)) or (m is not None and m.starts > MAX_RESTARTS)

    def restart(child: Child) -> None:
        m = cluster.member(child)
        say(f"cluster: {died_message(child)}; restarting it ({m.starts} of {MAX_RESTARTS} restarts)", sys.stderr)
        cluster.start_member(m)

    ready = False
    with owner_signals(cluster.group, fatal):
        try:
            cluster.start()
            ready = True
            say("    Ctrl-C stops every process. A replica that dies is restarted.")
            supervise(cluster.group, fatal, restart)
        except KeyboardInterrupt:
            say("\n==> Stopping the cluster ...")
            return 0
        except Shutdown as exc:
            if exc.child is not None:
                say(f"cluster: {exc.reason}. Stopping everything.", sys.stderr)
                return 1
            say(f"\n==> {exc.reason[:1].upper()}{exc.reason[1:]}: stopping the cluster ...")
            return 0
        except (ClusterConfigError, StartError, RuntimeError, TimeoutError) as exc:
            say(f"cluster: {exc}", sys.stderr)
            return 1
        finally:
            cluster.stop()
            say("==> Stopped.")


def random_suffix() -> str:
    return secrets.token_hex(4)
