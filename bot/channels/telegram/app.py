"""The Telegram channel: python-telegram-bot v22 in front of the Rasa server's REST channel.

    python -m bot telegram         # polling; webhook mode when XIANGYIN_TELEGRAM_WEBHOOK_URL is set

This module builds and runs the PTB :class:`~telegram.ext.Application`; the pieces are

* :mod:`.handlers` — the update handlers (one turn: ``POST {rasa_url}/webhooks/rest/webhook``
  with the sender ``telegram:<Telegram user id>``; buttons as inline keyboards; voice notes
  transcribed with the offline ASR; photos joined to the grievance being filed);
* :mod:`.accounts` — the domain calls (linking, settings, staff queue, photos);
* :mod:`.delivery` — the outbox delivery adapter, run here as a repeating JobQueue job;
* :mod:`.keyboards`, :mod:`.texts`, :mod:`.config`.

Library features do the plumbing: PTB's webhook server checks Telegram's ``secret_token``
header (a random one when none is configured), *arbitrary callback data* keeps button payloads
on our side (so a client cannot forge ``/intent{...}`` messages; with ``buttons_file`` they
survive a restart), and the JobQueue runs outbox delivery (``app.stop()`` waits for a run in
flight, so a message Telegram accepted is marked delivered before we exit).

Configuration: the ``settings.telegram`` section of :mod:`bot.config` (token, API URL,
webhook URL/secret/listen/port, rate limit) and ``settings.servers.rasa_url``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
import time
from typing import Any, Callable

from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ContextTypes, PersistenceInput, PicklePersistence

from bot import outbox
from bot.channels.rasa_client import AsyncRasaClient
from bot.channels.recognition import recognizer_factory
from bot.channels.telegram import handlers, texts
from bot.channels.telegram.accounts import Accounts
from bot.channels.telegram.config import ConfigError, TelegramConfig
from bot.channels.telegram.delivery import TelegramDelivery
from bot.config import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)


class RedactingFormatter(logging.Formatter):
    """Log formatter that never prints the bot token (httpx and PTB put it in URLs)."""

    def __init__(self, token: str, fmt: str | None = None):
        super().__init__(fmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(self.token, "<token>")


class TelegramChannel:
    """One bot: the PTB application, its services and the outbox delivery.

    ``recognizer`` / ``synthesizer`` (optional) replace the speech engines (a recogniser has
    ``transcribe(pcm, is_pcm=True) -> Transcript``); by default they are built from ``settings``
    on first use. ``clock`` drives rate limiting and the retry backoff."""

    BACKOFF_BASE = outbox.BACKOFF_BASE

    def __init__(self, config: TelegramConfig, *, recognizer: Any = None, synthesizer: Any = None,
                 clock: Callable[[], float] = time.monotonic, settings: Settings | None = None):
        self.config, self.clock, self.settings = config, clock, settings
        self._recognizer, self._synthesizer = recognizer, synthesizer
        self.delivery = TelegramDelivery()
        self.deliverer = outbox.Deliverer(self.delivery, config.db_url, clock)
        self.app: Application | None = None

    # ---------------------------------------------------------------- outbox

    def claim_outbox(self) -> list[outbox.Claim]:
        """Claims the due outbox rows for users (or households) with a Telegram account."""
        return self.deliverer.claim_due()

    async def deliver_outbox_once(self) -> int:
        """Pushes due notifications; returns how many were delivered (see :mod:`bot.outbox`)."""
        return await self.deliverer.deliver_once()

    async def _outbox_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.deliver_outbox_once()

    # ---------------------------------------------------------------- application

    def _services(self, rasa: AsyncRasaClient) -> handlers.Services:
        settings = self.settings
        var_dir = self.config.var_dir or (settings or load_settings()).paths.var_dir

        def synthesizer():
            from speech.tts import get_synthesizer

            return get_synthesizer(settings=settings)

        return handlers.Services(
            config=self.config, rasa=rasa, accounts=Accounts(var_dir, self.config.db_url),
            limiter=handlers.RateLimiter(self.config.rate_limit, self.config.rate_window, self.clock),
            load_recognizer=(lambda: self._recognizer) if self._recognizer is not None
            else recognizer_factory(None, settings),
            load_synthesizer=(lambda: self._synthesizer) if self._synthesizer is not None else synthesizer)

    def build_application(self, rasa: AsyncRasaClient) -> Application:
        api, config = self.config.api_url, self.config
        builder = (Application.builder().token(config.token)
                   .base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
                   .concurrent_updates(config.concurrent_updates)
                   .get_updates_read_timeout(config.poll_timeout + 10)
                   .arbitrary_callback_data(config.buttons_cached)
                   .context_types(ContextTypes(context=handlers.Context)))
        if config.buttons_file is not None:
            builder = builder.persistence(PicklePersistence(
                config.buttons_file, store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=False)))
        app = builder.build()
        app.bot_data["services"] = self._services(rasa)
        handlers.register(app)
        self.delivery.bot = app.bot
        self.app = app
        return app

    @contextlib.asynccontextmanager
    async def running(self):
        """Start the bot (polling or webhook) and the outbox job; stop them on exit."""
        config = self.config
        from bot.security.tokens import trusted_client_credentials

        credentials = trusted_client_credentials(self.settings or load_settings())  # sender = the verified Telegram user
        async with AsyncRasaClient(config.rasa_url, config.rasa_timeout, **credentials) as rasa:
            app = self.build_application(rasa)
            async with app:
                if config.webhook_url:
                    await app.updater.start_webhook(
                        listen=config.webhook_listen, port=config.webhook_port, url_path=config.webhook_path,
                        webhook_url=config.webhook_url, secret_token=config.webhook_secret or secrets.token_urlsafe(32),
                        allowed_updates=Update.ALL_TYPES)
                    logger.info("webhook listening on %s:%s%s", config.webhook_listen, config.webhook_port,
                                config.webhook_path)
                else:
                    await app.updater.start_polling(timeout=config.poll_timeout, allowed_updates=Update.ALL_TYPES)
                await app.start()
                job = None
                if config.outbox_interval:
                    job = app.job_queue.run_repeating(self._outbox_job, interval=config.outbox_interval, first=0,
                                                      name="outbox")
                try:
                    yield app
                finally:
                    if job is not None:
                        job.schedule_removal()  # no new run; app.stop() waits for the one in flight
                    if app.updater.running:
                        await app.updater.stop()
                    await app.stop()


# --------------------------------------------------------------------------- entry point


async def _serve(channel: TelegramChannel) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with channel.running():
        mode = "webhook" if channel.config.webhook_url else "polling"
        print(texts.RUNNING.format(mode=mode, rasa_url=channel.config.rasa_url), flush=True)
        await stop.wait()


def _configure_logging(token: str) -> None:
    logging.basicConfig(level=logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(token, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(settings: Settings | None = None) -> int:
    """``python -m bot telegram``: 0 after a clean stop (or when no token is configured)."""
    try:
        settings = settings or load_settings()
        config = TelegramConfig.from_settings(settings)
    except (SettingsError, ConfigError) as exc:
        print(texts.CONFIG_ERROR.format(error=exc), file=sys.stderr)
        return 2
    if config is None:
        print(texts.NO_TOKEN_HELP)
        return 0
    _configure_logging(config.token)
    try:
        asyncio.run(_serve(TelegramChannel(config, settings=settings)))
    except KeyboardInterrupt:
        pass
    except InvalidToken:
        print(texts.BAD_TOKEN, file=sys.stderr)
        return 1
    except NetworkError as exc:
        print(texts.API_UNREACHABLE.format(url=config.api_url, error=str(exc).replace(config.token, "<token>")),
              file=sys.stderr)
        return 1
    return 0
