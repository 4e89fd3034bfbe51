"""The Telegram adapter's configuration: the ``settings.telegram`` section of
:class:`bot.config.Settings` plus the adapter's own tuning knobs."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlparse

from bot.channels import turn
from bot.config import Settings, TelegramSettings

SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # the alphabet Telegram allows for secret_token


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class TelegramConfig:
    token: str = dataclasses.field(repr=False)
    rasa_url: str
    api_url: str = TelegramSettings.api_url
    webhook_url: str | None = None
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    webhook_listen: str = TelegramSettings.webhook_listen
    webhook_port: int = TelegramSettings.webhook_port
    rate_limit: int = TelegramSettings.rate_limit  # messages per user per rate_window seconds
    rate_window: float = 60.0
    max_chars: int = 500  # a longer message is refused politely (turn.TOO_LONG)
    poll_timeout: float = 30.0  # getUpdates long-poll seconds
    outbox_interval: float | None = 10.0  # seconds between outbox runs (a JobQueue job); None: no job
    rasa_timeout: float = 60.0
    concurrent_updates: int = 16  # updates handled at once (one user's messages stay in order)
    var_dir: Path | None = None  # photos go to <var_dir>/uploads/; None: the configured var folder
    db_url: str | None = dataclasses.field(default=None, repr=False)  # None: the configured database
    buttons_file: Path | None = None  # button payloads kept across restarts; None: in memory only
    buttons_cached: int = 5000  # keyboards whose payloads are remembered (least recently used go)

    def __post_init__(self):
        if self.webhook_secret and not SECRET_TOKEN.fullmatch(self.webhook_secret):
            raise ConfigError("XIANGYIN_TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and - (1-256 chars)")
        if self.max_chars > turn.MAX_CHARS:
            raise ConfigError(f"max_chars may not exceed the REST channel's limit ({turn.MAX_CHARS})")

    @property
    def webhook_path(self) -> str:
        return urlparse(self.webhook_url or "").path or "/telegram"

    @classmethod
    def from_settings(cls, settings: Settings) -> "TelegramConfig | None":
        """The configuration for these settings; None when no bot token is configured."""
        tg = settings.telegram
        if not tg.token:
            return None
        return cls(token=tg.token, rasa_url=settings.servers.rasa_url.rstrip("/"), api_url=tg.api_url.rstrip("/"),
                   webhook_url=tg.webhook_url, webhook_secret=tg.webhook_secret, webhook_listen=tg.webhook_listen,
                   webhook_port=tg.webhook_port, rate_limit=tg.rate_limit, var_dir=settings.paths.var_dir,
                   db_url=settings.database.url, buttons_file=settings.paths.var_dir / "telegram-buttons.pickle")
