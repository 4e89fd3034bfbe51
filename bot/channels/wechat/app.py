"""The WeChat channel as a process: the callback server (uvicorn) in front of the Rasa server.

    python -m bot.channels.wechat      # see __main__.py: this channel and/or the WeCom one

:class:`WeChatChannel` wires the pieces — the Rasa client with our own credentials (the REST
channel takes the sender from a signed token, see :mod:`bot.security.tokens`; the sender is the
openid WeChat vouched for with its signature), the WeChat API client, the handlers and the
:class:`~.server.Responder` — and serves the Starlette app on ``settings.security.bind`` and
``settings.wechat.port``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any, Callable

from bot import outbox
from bot.channels.rasa_client import AsyncRasaClient
from bot.channels.recognition import recognizer_factory
from bot.channels.wechat import handlers, texts
from bot.channels.wechat.accounts import Accounts
from bot.channels.wechat.api import WeChatAPI
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.delivery import Template, WeChatDelivery
from bot.channels.wechat.limits import DurableSeenMessages, RateLimiter
from bot.channels.wechat.protocol import Keys, OfficialAccount
from bot.channels.wechat.server import Responder, create_app
from bot.config import Settings, load_settings

logger = logging.getLogger(__name__)
START_SECONDS = 30.0
SEEN_SECONDS = 600.0  # message keys are remembered at least this long (WeChat retries within ~15 s)


class WeChatChannel:
    """One Official Account: the callback server and its services. ``clock`` drives rate limits.
    (:class:`~.wecom.WeComChannel` is the same for the staff's WeCom app, through the hooks below.)"""

    CHANNEL = "wechat"

    def __init__(self, config: WeChatConfig, *, settings: Settings | None = None, recognizer: Any = None,
                 synthesizer: Any = None, clock: Callable[[], float] = time.monotonic):
        self.config, self.settings, self.clock = config, settings, clock
        self._recognizer = recognizer  # a recogniser with transcribe(pcm, is_pcm=True); None: from settings
        self._synthesizer = synthesizer  # a TTS with synthesize_many(texts) -> WAV; None: from settings
        self.delivery = self._delivery()
        self.deliverer = outbox.Deliverer(self.delivery, config.db_url, clock)
        self.responder: Responder | None = None
        self.url = ""  # http://host:port<path> once running
        self._serving: asyncio.Task | None = None

    def _protocol(self):
        config = self.config
        return OfficialAccount(Keys.of(config.token, config.app_id, config.aes_key))

    def _api(self) -> WeChatAPI:
        config = self.config
        return WeChatAPI(config.api_url, config.app_id, config.app_secret, config.api_timeout)

    def _delivery(self) -> outbox.DeliveryAdapter:
        config = self.config
        template = Template(config.template_id, config.template_text_field, config.template_text_chars,
                            config.template_time_field) if config.template_id else None
        return WeChatDelivery(template=template)

    async def deliver_outbox_once(self) -> int:
        """Pushes due notifications; returns how many were delivered (see :mod:`bot.outbox`)."""
        return await self.deliverer.deliver_once()

    async def _deliver_every(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.deliver_outbox_once()
            except Exception:  # noqa: BLE001 - the next run tries again
                logger.exception("outbox delivery failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    @contextlib.asynccontextmanager
    async def running(self):
        """Serve callbacks until the block ends (or uvicorn is told to stop); then let the answers
        still in flight go out."""
        import uvicorn

        from bot.security.tokens import trusted_client_credentials

        config, settings = self.config, self.settings or load_settings()
        credentials = trusted_client_credentials(settings)  # sender = the verified openid
        async with AsyncRasaClient(config.rasa_url, config.rasa_timeout, **credentials) as rasa, \
                self._api() as api:
            self.delivery.api = api
            recognizer = self._recognizer
            accounts = Accounts(config.var_dir or settings.paths.var_dir, config.db_url, self.CHANNEL)

            def synthesizer():
                from speech.tts import get_synthesizer

                return get_synthesizer(settings=settings)

            services = handlers.Services(
                config=config, rasa=rasa, accounts=accounts, api=api,
                limiter=RateLimiter(config.rate_limit, config.rate_window, self.clock),
                load_recognizer=(lambda: recognizer) if recognizer is not None
                else recognizer_factory(None, settings),
                load_synthesizer=(lambda: self._synthesizer) if self._synthesizer is not None else synthesizer)
            seen = DurableSeenMessages(config.db_url, f"#{self.CHANNEL}", config.app_id,
                                       ttl=max(2 * config.replay_seconds, SEEN_SECONDS))
            self.responder = Responder(self._protocol(), lambda message: handlers.answer(services, message), api,
                                       config.passive_seconds, seen=seen)
            app = create_app(self.responder, config.path, config.replay_seconds)
            server = uvicorn.Server(uvicorn.Config(
                app, host=config.listen, port=config.port, log_level="warning", ws="none", lifespan="off",
                proxy_headers=False, server_header=False, access_log=False))
            serving = self._serving = asyncio.create_task(server.serve())
            deadline = time.monotonic() + START_SECONDS
            while not server.started:
                if serving.done() or time.monotonic() > deadline:
                    serving.cancel()
                    raise RuntimeError(f"the WeChat callback server did not start on {config.listen}:{config.port}")
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            self.url = f"http://{config.listen}:{port}{config.path}"
            stop = asyncio.Event()
            delivering = None
            if config.outbox_interval and api.can_send:
                delivering = asyncio.create_task(self._deliver_every(config.outbox_interval, stop))
            try:
                yield self
            finally:
                stop.set()  # a delivery run in flight finishes: what WeChat accepted is marked delivered
                server.should_exit = True
                await serving
                await self.responder.drain()
                if delivering is not None:
                    await delivering

    async def serve_forever(self) -> None:
        """Until SIGINT/SIGTERM: uvicorn's own handlers end the server while it runs; ours (set
        first) absorb the signal uvicorn raises again on its way out, so the answers in flight
        are still sent before the process ends."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, lambda: None)
        async with self.running():
            print(texts.RUNNING.format(listen=self.config.listen, port=self.config.port, path=self.config.path,
                                       rasa_url=self.config.rasa_url), flush=True)
            await self._serving
