"""The Telegram channel: python-telegram-bot v22 in front of the Rasa server's REST channel.

    python -m bot telegram         # polling; webhook mode when XIANGYIN_TELEGRAM_WEBHOOK_URL is set

Every message becomes ``POST {rasa_url}/webhooks/rest/webhook`` with the sender
``telegram:<Telegram user id>``; Rasa's answers come back as text, its buttons as inline
keyboards (pressing one posts the button's payload as the user's next message), and
questions that name their answers (“对”/“不对”, “要”/“不要”, ...) get quick-reply buttons.
Voice notes are transcribed with the project's offline ASR and answered; photos sent while
a grievance is being filed are stored under ``<var>/uploads/`` and recorded on the
grievance as a ``photo`` event. Notifications in the outbox are pushed by
:meth:`TelegramChannel.deliver_outbox_once` (see its docstring for the delivery guarantees).

Configuration (environment):

    XIANGYIN_TELEGRAM_TOKEN / XIANGYIN_TELEGRAM_TOKEN_FILE   bot token (never logged)
    XIANGYIN_TELEGRAM_API_URL        Bot API root, default https://api.telegram.org
    XIANGYIN_TELEGRAM_WEBHOOK_URL    public HTTPS URL → webhook mode (else polling)
    XIANGYIN_TELEGRAM_WEBHOOK_SECRET secret-token header Telegram must send (random if unset)
    XIANGYIN_TELEGRAM_WEBHOOK_LISTEN / _PORT   local address of the webhook server (127.0.0.1:8443)
    XIANGYIN_TELEGRAM_RATE_LIMIT     messages per user per minute (20)
    XIANGYIN_RASA_URL                the Rasa server (bot.config)
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hmac
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict, deque
from typing import Any, Callable
from urllib.parse import quote, urlparse

import httpx
from sqlalchemy import select, update
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import SecretError, load_settings, secret
from bot.db import session_scope
from bot.identity import resolve_actor
from bot.models import ChannelIdentity, Grievance, GrievanceEvent, OutboxMessage, utcnow

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
DEFAULT_API_URL = "https://api.telegram.org"

# --------------------------------------------------------------------------- words

WELCOME = "您好，我是乡音村务助手。查积分、反映问题、问政策，直接打字或者发语音就行。"
HOW_TO_LINK = ("先绑定身份：点下面的“分享我的手机号”按钮；"
               "或者找村委会要个绑定码，发“/link 绑定码”。")
HELP = ("您可以直接打字或者发语音问我，比如“我家有多少积分”“村口路灯坏了”。\n"
        "/points 查积分\n/mygrievances 我反映的事\n/voice 打开或关掉语音回复\n"
        "/link 绑定码 绑定身份\n/myqueue 网格员待办")
SHARE_PHONE = "分享我的手机号"
LINK_USAGE = "请在 /link 后面加上绑定码，比如：/link 123456"
LINKED = "绑定好了，{name}！现在可以直接问我，比如“我家有多少积分”。"
NOT_OWN_CONTACT = "只能用您自己的手机号绑定，请点下面的“分享我的手机号”按钮。"
PHONE_NOT_FOUND = "登记册里没找到这个手机号。请找村委会要个绑定码，发“/link 绑定码”。"
NEED_LINK = "请先绑定身份。" + HOW_TO_LINK
STAFF_ONLY = "这个命令是给网格员用的。"
QUEUE_EMPTY = "您手上没有待办的诉求。"
VOICE_ON = "好的，以后我会同时发语音。再发 /voice 就关掉。"
VOICE_OFF = "好的，语音回复关掉了。"
RATE_LIMITED = "您发得太快了，请歇一分钟再发。"
TOO_LONG = "您说的太长了，请分几次说，每次不超过{limit}个字。"
BUSY = "系统有点忙，请稍后再说一遍。"
ASR_UNAVAILABLE = "不好意思，现在还听不了语音，请打字跟我说。"
VOICE_TOO_LONG = "语音太长了，请说短一点，一分钟以内。"
VOICE_UNREADABLE = "这段语音我打不开，请再录一次，或者打字。"
VOICE_EMPTY = "没听清，请再说一遍，或者打字。"
HEARD = "我听到的是：{text}"
PHOTO_SAVED = "照片收到了，这件事记下来以后会一起存上。"
PHOTO_ATTACHED = "照片已经加到{ticket}号诉求里了。"
PHOTO_NOT_NEEDED = "照片我看不懂。要反映问题的话，先打字或发语音说说是什么事，再发照片。"
BUTTON_EXPIRED = "这个按钮已经过期了，请重新问一遍。"
NOT_SUPPORTED = "我只能看懂文字和语音。有事请直接打字或者发语音。"
NO_TOKEN_HELP = """\
电报（Telegram）机器人还没有启用：没有设置机器人令牌。
启用方法：在 Telegram 里找 @BotFather 创建机器人，拿到令牌后设置环境变量
XIANGYIN_TELEGRAM_TOKEN（或把令牌放进文件，用 XIANGYIN_TELEGRAM_TOKEN_FILE 指向它），
再运行 python -m bot telegram。

The Telegram bot is not enabled: no bot token is configured.
To enable it, create a bot with @BotFather, then set XIANGYIN_TELEGRAM_TOKEN (or put the
token in a file named by XIANGYIN_TELEGRAM_TOKEN_FILE) and run `python -m bot telegram`.
Set XIANGYIN_TELEGRAM_WEBHOOK_URL (and XIANGYIN_TELEGRAM_WEBHOOK_SECRET) for webhook mode."""

# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class TelegramConfig:
    token: str = dataclasses.field(repr=False)
    rasa_url: str
    api_url: str = DEFAULT_API_URL
    webhook_url: str | None = None
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    rate_limit: int = 20  # messages per user per rate_window seconds
    rate_window: float = 60.0
    max_chars: int = 500
    poll_timeout: float = 30.0  # getUpdates long-poll seconds
    outbox_interval: float | None = 10.0  # seconds between outbox runs; None: no background job
    rasa_timeout: float = 60.0
    concurrent_updates: int = 16  # updates handled at once (one user's messages stay in order)

    @property
    def webhook_path(self) -> str:
        return urlparse(self.webhook_url or "").path or "/telegram"


class ConfigError(ValueError):
    pass


def read_token(env: dict | None = None) -> str | None:
    try:
        return secret("XIANGYIN_TELEGRAM_TOKEN", env)
    except SecretError as exc:
        raise ConfigError(str(exc)) from None


def load_config(env: dict | None = None) -> TelegramConfig | None:
    """The configuration from the environment; None when no token is configured."""
    env = os.environ if env is None else env
    token = read_token(env)
    if not token:
        return None
    secret = env.get("XIANGYIN_TELEGRAM_WEBHOOK_SECRET") or None
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise ConfigError("XIANGYIN_TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and - (1-256 chars)")
    return TelegramConfig(
        token=token,
        rasa_url=load_settings().rasa_url.rstrip("/"),
        api_url=(env.get("XIANGYIN_TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
        webhook_url=env.get("XIANGYIN_TELEGRAM_WEBHOOK_URL") or None,
        webhook_secret=secret,
        webhook_listen=env.get("XIANGYIN_TELEGRAM_WEBHOOK_LISTEN") or "127.0.0.1",
        webhook_port=int(env.get("XIANGYIN_TELEGRAM_WEBHOOK_PORT") or 8443),
        rate_limit=int(env.get("XIANGYIN_TELEGRAM_RATE_LIMIT") or 20),
    )


class RedactingFormatter(logging.Formatter):
    """Log formatter that never prints the bot token (httpx and PTB put it in URLs)."""

    def __init__(self, token: str, fmt: str | None = None):
        super().__init__(fmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(self.token, "<token>")


# --------------------------------------------------------------------------- small helpers


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (sliding window, in memory)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[Any, deque] = defaultdict(deque)
        self._warned: dict[Any, float] = {}

    def allow(self, key: Any) -> bool:
        now = self.clock()
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def should_warn(self, key: Any) -> bool:
        """True once per window for a key that is over its limit (we answer floods once)."""
        now = self.clock()
        if now - self._warned.get(key, -1e18) >= self.window:
            self._warned[key] = now
            return True
        return False


QUOTED_OPTION = re.compile(r"“([^”/]{1,6})”")
SATISFACTION = ("满意", "基本满意", "不满意")


def quick_replies(text: str) -> list[str]:
    """Answers a question names in quotes (“对”/“不对”, “要”/“不要”, “很急”/“不急”)."""
    if "满意、基本满意或不满意" in (text or ""):
        return list(SATISFACTION)
    options = list(dict.fromkeys(QUOTED_OPTION.findall(text or "")))
    if options == ["对"]:
        options = ["对", "不对"]
    return options if 2 <= len(options) <= 4 else []


def wav_to_ogg_opus(wav: bytes, timeout: float = 30.0) -> bytes:
    """Telegram plays voice messages only as OGG/Opus."""
    from speech.audio import ffmpeg_binary

    proc = subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
                           "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"],
                          input=wav, capture_output=True, timeout=timeout, check=True)
    return proc.stdout


@dataclasses.dataclass(frozen=True)
class Claim:
    outbox_id: int
    text: str
    chat_ids: tuple[int, ...]
    attempt: int


# --------------------------------------------------------------------------- the channel


class TelegramChannel:
    """One bot: handlers, the Rasa client, voice, photos and outbox delivery.

    ``recognizer`` (optional) replaces the ASR recogniser (anything with
    ``transcribe(pcm, is_pcm=True) -> Transcript``); by default ``speech.asr.Recognizer``
    is created from the environment on first use. ``clock`` drives rate limiting and retry
    backoff."""

    MAX_ATTEMPTS = 8
    BACKOFF_BASE = 5.0  # seconds; doubled per failed attempt
    BACKOFF_MAX = 3600.0
    OUTBOX_BATCH = 50
    MAX_VOICE_SECONDS = 60
    MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024
    CALLBACK_LIMIT = 64  # bytes of callback data Telegram keeps
    MAX_REMEMBERED_BUTTONS = 10000

    def __init__(self, config: TelegramConfig, *, recognizer: Any = None, synthesizer: Any = None,
                 clock: Callable[[], float] = time.monotonic, db_url: str | None = None):
        self.config = config
        self.clock = clock
        self.db_url = db_url
        self.limiter = RateLimiter(config.rate_limit, config.rate_window, clock)
        self._recognizer = recognizer
        self._synthesizer = synthesizer
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._payloads: dict[str, str] = {}  # long button payloads behind short callback keys
        self._pending_photos: dict[str, list[tuple[str, dt.datetime]]] = {}
        self._next_try: dict[int, float] = {}  # outbox id → earliest clock() for the next attempt
        self._inflight: set[int] = set()
        self.http: httpx.AsyncClient | None = None
        self.app: Application | None = None

    # ---------------------------------------------------------------- application

    def build_application(self) -> Application:
        api = self.config.api_url
        app = (Application.builder().token(self.config.token)
               .base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
               .concurrent_updates(self.config.concurrent_updates)
               .get_updates_read_timeout(self.config.poll_timeout + 10)
               .job_queue(None)  # our own outbox loop; no APScheduler
               .build())
        app.add_handler(TypeHandler(Update, self.guard), group=-1)
        commands = {"start": self.cmd_start, "help": self.cmd_help, "link": self.cmd_link,
                    "points": self.cmd_points, "mygrievances": self.cmd_mygrievances,
                    "myqueue": self.cmd_myqueue, "voice": self.cmd_voice}
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback))
        app.add_handler(MessageHandler(filters.CONTACT, self.on_contact))
        app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO, self.on_voice))
        app.add_handler(MessageHandler(filters.PHOTO, self.on_photo))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(filters.COMMAND, self.cmd_help))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.ALL, self.on_other))
        app.add_error_handler(self.on_error)
        self.app = app
        return app

    @contextlib.asynccontextmanager
    async def running(self):
        """Start the bot (polling or webhook) and the outbox job; stop them on exit."""
        app = self.build_application()
        async with httpx.AsyncClient(timeout=self.config.rasa_timeout) as self.http, app:
            site = None
            if self.config.webhook_url:
                site = await self._start_webhook(app)
            else:
                await app.updater.start_polling(timeout=self.config.poll_timeout,
                                                allowed_updates=Update.ALL_TYPES)
            await app.start()
            stopping = asyncio.Event()
            job = asyncio.create_task(self._outbox_loop(stopping)) if self.config.outbox_interval else None
            try:
                yield app
            finally:
                if job is not None:  # let a send in flight be marked delivered before we go
                    stopping.set()
                    await job
                if site is not None:
                    await site.stop()
                if app.updater.running:
                    await app.updater.stop()
                await app.stop()

    async def _start_webhook(self, app: Application):
        """An aiohttp endpoint that accepts updates only with Telegram's secret-token header."""
        from aiohttp import web

        secret = self.config.webhook_secret or secrets.token_urlsafe(32)

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=403, text="forbidden")
            try:
                update = Update.de_json(await request.json(), app.bot)
            except Exception:  # noqa: BLE001 - malformed body
                return web.Response(status=400, text="bad update")
            await app.update_queue.put(update)
            return web.Response(text="ok")

        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post(self.config.webhook_path, receive)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.webhook_listen, self.config.webhook_port)
        await site.start()
        await app.bot.set_webhook(self.config.webhook_url, secret_token=secret,
                                  allowed_updates=Update.ALL_TYPES)
        logger.info("webhook listening on %s:%s%s", self.config.webhook_listen, self.config.webhook_port,
                    self.config.webhook_path)

        class _Site:
            async def stop(self_inner):
                await runner.cleanup()

        return _Site()

    # ---------------------------------------------------------------- guard, errors

    async def guard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -1: private chats only, no edits, and the per-user rate limit."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or user.is_bot or update.edited_message is not None:
            raise ApplicationHandlerStop
        if chat is not None and chat.type != ChatType.PRIVATE:
            raise ApplicationHandlerStop
        if not self.limiter.allow(user.id):
            if update.callback_query is not None:
                await update.callback_query.answer(RATE_LIMITED)
            elif self.limiter.should_warn(user.id) and chat is not None:
                await context.bot.send_message(chat.id, RATE_LIMITED)
            raise ApplicationHandlerStop

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("telegram handler failed: %s", type(context.error).__name__, exc_info=context.error)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None:
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(chat.id, BUSY)

    # ---------------------------------------------------------------- database helpers

    def _db(self, write: bool = False):
        return session_scope(write=write, url=self.db_url)

    def _actor(self, user_id: int):
        with self._db() as s:
            return resolve_actor(s, f"{CHANNEL}:{user_id}")

    def _identity_settings(self, user_id: int) -> dict | None:
        with self._db() as s:
            ident = s.execute(select(ChannelIdentity).where(
                ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == str(user_id))).scalar_one_or_none()
            return dict(ident.settings or {}) if ident is not None and ident.user_id is not None else None

    # ---------------------------------------------------------------- talking to Rasa

    async def ask_rasa(self, sender: str, text: str) -> list[dict]:
        try:
            response = await self.http.post(f"{self.config.rasa_url}/webhooks/rest/webhook",
                                            json={"sender": sender, "message": text})
            response.raise_for_status()
            return response.json() or []
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("rasa request failed for %s: %s", sender, type(exc).__name__)
            return [{"text": BUSY}]

    async def _form_active(self, sender: str) -> bool:
        try:
            response = await self.http.get(
                f"{self.config.rasa_url}/conversations/{quote(sender, safe=':')}/tracker",
                params={"include_events": "NONE"})
            response.raise_for_status()
            return bool(((response.json() or {}).get("active_loop") or {}).get("name"))
        except (httpx.HTTPError, ValueError):
            return False

    def _callback_data(self, payload: str) -> str:
        """Callback data for a Rasa button. Payloads are remembered: a pressed button is
        honoured only if we showed it, so a client cannot forge ``/intent{...}`` messages."""
        key = payload if len(payload.encode()) <= self.CALLBACK_LIMIT else \
            "k:" + uuid.uuid5(uuid.NAMESPACE_URL, payload).hex[:20]
        self._payloads.pop(key, None)
        self._payloads[key] = payload
        while len(self._payloads) > self.MAX_REMEMBERED_BUTTONS:
            self._payloads.pop(next(iter(self._payloads)))
        return key

    def _keyboard(self, reply: dict) -> InlineKeyboardMarkup | None:
        buttons = [InlineKeyboardButton(b.get("title") or b.get("payload"), callback_data=self._callback_data(b["payload"]))
                   for b in reply.get("buttons") or [] if b.get("payload")]
        if buttons:
            return InlineKeyboardMarkup([[b] for b in buttons])
        options = quick_replies(reply.get("text") or "")
        if options:
            return InlineKeyboardMarkup([[InlineKeyboardButton(o, callback_data=o) for o in options]])
        return None

    async def send_text(self, chat_id: int, text: str, **kwargs) -> None:
        await self.app.bot.send_message(chat_id, text, **kwargs)

    async def converse(self, chat_id: int, user_id: int, text: str) -> None:
        """One turn: Rasa answers, we render, photos waiting for a grievance are attached."""
        sender = f"{CHANNEL}:{user_id}"
        async with self._locks[sender]:
            replies = await self.ask_rasa(sender, text)
            texts = []
            for reply in replies:
                body = reply.get("text") or ""
                if reply.get("image"):
                    body = f"{body}\n{reply['image']}".strip()
                if body:
                    texts.append(body)
                    await self.send_text(chat_id, body, reply_markup=self._keyboard(reply))
            if self._pending_photos.get(sender):
                await self._attach_pending_photos(chat_id, user_id, sender)
            if texts:
                await self._maybe_speak(chat_id, user_id, texts)

    # ---------------------------------------------------------------- commands

    async def cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        actor = await asyncio.to_thread(self._actor, update.effective_user.id)
        if actor.user_id is not None:
            await update.effective_message.reply_text(f"{actor.display_name}，您好！{WELCOME}\n{HELP}")
            return
        keyboard = ReplyKeyboardMarkup([[KeyboardButton(SHARE_PHONE, request_contact=True)]],
                                       resize_keyboard=True, one_time_keyboard=True)
        await update.effective_message.reply_text(f"{WELCOME}\n{HOW_TO_LINK}", reply_markup=keyboard)

    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(HELP)

    async def cmd_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bot.linking import LinkError, link_with_code

        code = "".join(context.args or [])
        if not code:
            await update.effective_message.reply_text(LINK_USAGE)
            return

        def link() -> str:
            with self._db(write=True) as s:
                try:  # inside the transaction, so a refused code is counted
                    user = link_with_code(s, CHANNEL, str(update.effective_user.id), code)
                except LinkError as exc:
                    return exc.message
                return LINKED.format(name=user.display_name)

        await update.effective_message.reply_text(await asyncio.to_thread(link), reply_markup=ReplyKeyboardRemove())

    async def cmd_points(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update.effective_chat.id, update.effective_user.id, "我有多少积分")

    async def cmd_mygrievances(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update.effective_chat.id, update.effective_user.id, "我反映的事办得怎么样了")

    async def cmd_myqueue(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bot.grievances import open_queue

        def queue() -> str:
            with self._db() as s:
                actor = resolve_actor(s, f"{CHANNEL}:{update.effective_user.id}")
                if not actor.is_staff:
                    return STAFF_ONLY
                views = open_queue(s, actor)
            if not views:
                return QUEUE_EMPTY
            lines = [f"{v.ticket_no}号 {v.state_name} {v.category} {v.place}：{v.description[:30]}" for v in views[:10]]
            return f"您有{len(views)}件待办：\n" + "\n".join(lines)

        await update.effective_message.reply_text(await asyncio.to_thread(queue))

    async def cmd_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        def toggle() -> str:
            with self._db(write=True) as s:
                ident = s.execute(select(ChannelIdentity).where(
                    ChannelIdentity.channel == CHANNEL,
                    ChannelIdentity.external_id == str(update.effective_user.id))).scalar_one_or_none()
                if ident is None or ident.user_id is None:
                    return NEED_LINK
                settings = dict(ident.settings or {})
                settings["voice_reply"] = not settings.get("voice_reply", False)
                ident.settings = settings  # a new dict, so the JSON column is saved
                return VOICE_ON if settings["voice_reply"] else VOICE_OFF

        await update.effective_message.reply_text(await asyncio.to_thread(toggle))

    # ---------------------------------------------------------------- messages

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = (update.effective_message.text or "").strip()
        if len(text) > self.config.max_chars:
            await update.effective_message.reply_text(TOO_LONG.format(limit=self.config.max_chars))
            return
        if text:
            await self.converse(update.effective_chat.id, update.effective_user.id, text)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        data = query.data or ""
        payload = self._payloads.get(data)
        if payload is None and not data.startswith(("/", "k:")):
            payload = data  # a quick reply: the same as typing it
        await query.answer()
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        if payload:
            await self.converse(chat_id, query.from_user.id, payload[: self.config.max_chars])
        else:
            await self.send_text(chat_id, BUTTON_EXPIRED)

    async def on_contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bot.linking import link_by_phone

        contact, user = update.effective_message.contact, update.effective_user
        if contact.user_id != user.id:
            await update.effective_message.reply_text(NOT_OWN_CONTACT)
            return

        def link() -> str:
            with self._db(write=True) as s:
                found = link_by_phone(s, CHANNEL, str(user.id), contact.phone_number)
                return LINKED.format(name=found.display_name) if found else PHONE_NOT_FOUND

        await update.effective_message.reply_text(await asyncio.to_thread(link), reply_markup=ReplyKeyboardRemove())

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(NOT_SUPPORTED)

    # ---------------------------------------------------------------- voice

    def _get_recognizer(self):
        """The ASR recogniser, or None when speech recognition is not installed."""
        if self._recognizer is not None:
            return self._recognizer
        try:
            from speech.asr import Recognizer

            self._recognizer = Recognizer.from_env()
        except (ImportError, OSError, RuntimeError) as exc:  # ModelNotFoundError is an OSError
            logger.info("speech recognition unavailable: %s", exc)
            return None
        return self._recognizer

    async def on_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        media = message.voice or message.audio
        if (media.duration and self._seconds(media.duration) > self.MAX_VOICE_SECONDS) or \
                (media.file_size or 0) > self.MAX_DOWNLOAD_BYTES:
            await message.reply_text(VOICE_TOO_LONG)
            return
        recognizer = await asyncio.to_thread(self._get_recognizer)
        if recognizer is None:
            await message.reply_text(ASR_UNAVAILABLE)
            return
        data = bytes(await (await media.get_file()).download_as_bytearray())

        def recognise() -> str | None:
            from speech.audio import AudioError, normalise

            try:
                pcm = normalise(data)
                return recognizer.transcribe(pcm, is_pcm=True).text.strip()
            except AudioError as exc:
                logger.info("unreadable voice note: %s", exc)
                return None

        text = await asyncio.to_thread(recognise)
        if text is None:
            await message.reply_text(VOICE_UNREADABLE)
        elif not text:
            await message.reply_text(VOICE_EMPTY)
        else:
            await message.reply_text(HEARD.format(text=text))
            await self.converse(update.effective_chat.id, update.effective_user.id, text[: self.config.max_chars])

    @staticmethod
    def _seconds(value) -> float:
        return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)

    async def _maybe_speak(self, chat_id: int, user_id: int, texts: list[str]) -> None:
        settings = await asyncio.to_thread(self._identity_settings, user_id)
        if not settings or not settings.get("voice_reply"):
            return

        def render() -> bytes:
            if self._synthesizer is None:
                from speech.tts import get_synthesizer

                self._synthesizer = get_synthesizer()
            return wav_to_ogg_opus(self._synthesizer.synthesize_many(texts))

        try:
            voice = await asyncio.to_thread(render)
        except Exception as exc:  # noqa: BLE001 - the text answer was sent already
            logger.warning("voice reply failed: %s", exc)
            return
        await self.app.bot.send_voice(chat_id, voice=voice)

    # ---------------------------------------------------------------- photos

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo counts only while a grievance is being filed (or was filed just now)."""
        message, user = update.effective_message, update.effective_user
        sender = f"{CHANNEL}:{user.id}"
        filing = await self._form_active(sender)
        recent = None if filing else await asyncio.to_thread(self._recent_grievance, user.id, None)
        if not filing and recent is None:
            await message.reply_text(PHOTO_NOT_NEEDED)
            return
        sizes = [p for p in message.photo if (p.file_size or 0) <= self.MAX_DOWNLOAD_BYTES] or message.photo[:1]
        photo = max(sizes, key=lambda p: p.width * p.height)
        data = bytes(await (await photo.get_file()).download_as_bytearray())
        relative = await asyncio.to_thread(self._save_upload, user.id, data)
        if filing:
            self._pending_photos.setdefault(sender, []).append((relative, utcnow()))
            await message.reply_text(PHOTO_SAVED)
        else:
            ticket = await asyncio.to_thread(self._record_photo, user.id, recent, [relative])
            await message.reply_text(PHOTO_ATTACHED.format(ticket=ticket))

    def _save_upload(self, user_id: int, data: bytes) -> str:
        """Stores the photo under <var>/uploads/; returns the path relative to <var>."""
        uploads = load_settings().var_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        name = f"telegram-{user_id}-{utcnow():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}.jpg"
        (uploads / name).write_bytes(data)
        return f"uploads/{name}"

    def _recent_grievance(self, user_id: int, since: dt.datetime | None) -> int | None:
        """The user's grievance filed since ``since`` (default: the last 30 minutes)."""
        since = since or utcnow() - dt.timedelta(minutes=30)
        with self._db() as s:
            actor = resolve_actor(s, f"{CHANNEL}:{user_id}")
            if actor.user_id is None:
                return None
            return s.execute(select(Grievance.id).where(Grievance.reporter_id == actor.user_id,
                                                        Grievance.created_at >= since)
                             .order_by(Grievance.id.desc()).limit(1)).scalar_one_or_none()

    def _record_photo(self, user_id: int, grievance_id: int, paths: list[str]) -> str:
        from bot.identity import audit

        with self._db(write=True) as s:
            actor = resolve_actor(s, f"{CHANNEL}:{user_id}")
            g = s.get(Grievance, grievance_id)
            for path in paths:
                s.add(GrievanceEvent(grievance_id=g.id, actor_id=actor.user_id, kind="photo", note=path))
            audit(s, actor, "write", "grievance", g.id, f"{len(paths)} photo(s)")
            return g.ticket_no

    async def _attach_pending_photos(self, chat_id: int, user_id: int, sender: str) -> None:
        if await self._form_active(sender):
            return
        pending = self._pending_photos.pop(sender, [])
        grievance_id = await asyncio.to_thread(self._recent_grievance, user_id, min(at for _, at in pending))
        if grievance_id is None:  # the form was cancelled: nothing to attach the photos to
            for path, _ in pending:
                with contextlib.suppress(OSError):
                    (load_settings().var_dir / path).unlink()
            return
        ticket = await asyncio.to_thread(self._record_photo, user_id, grievance_id, [p for p, _ in pending])
        await self.send_text(chat_id, PHOTO_ATTACHED.format(ticket=ticket))

    # ---------------------------------------------------------------- notifications

    async def _outbox_loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.deliver_outbox_once()
            except Exception:  # noqa: BLE001 - keep the job alive
                logger.exception("outbox delivery failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.config.outbox_interval)

    def claim_outbox(self) -> list[Claim]:
        """Claims due outbox rows for users (or households) with a Telegram identity.

        A claim increments ``attempts`` with a compare-and-set on the value we read, in its
        own committed transaction, before anything is sent."""
        now = self.clock()
        claims: list[Claim] = []
        with self._db(write=True) as s:
            by_user: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
            by_household: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
            idents = s.execute(select(ChannelIdentity).where(ChannelIdentity.channel == CHANNEL,
                                                             ChannelIdentity.user_id.is_not(None))).scalars()
            for ident in idents:
                if not ident.external_id.lstrip("-").isdigit():
                    continue
                target = (int(ident.external_id), ident.created_at)
                by_user[ident.user_id].append(target)
                household_id = ident.household_id or (ident.user.resident.household_id if ident.user.resident else None)
                if household_id:
                    by_household[household_id].append(target)
            if not by_user:
                return []
            rows = s.execute(
                select(OutboxMessage).where(
                    OutboxMessage.delivered_at.is_(None), OutboxMessage.attempts < self.MAX_ATTEMPTS,
                    OutboxMessage.user_id.in_(list(by_user)) | (OutboxMessage.user_id.is_(None)
                                                          & OutboxMessage.household_id.in_(list(by_household) or [-1])))
                .order_by(OutboxMessage.id).limit(self.OUTBOX_BATCH)
            ).scalars().all()
            for row in rows:
                if row.id in self._inflight or self._next_try.get(row.id, 0) > now:
                    continue
                targets = by_user[row.user_id] if row.user_id is not None else by_household[row.household_id]
                # Only what happened after the account was linked is pushed.
                chats = tuple(dict.fromkeys(chat for chat, since in targets if since <= row.created_at))
                if not chats:
                    continue
                won = s.execute(update(OutboxMessage)
                                .where(OutboxMessage.id == row.id, OutboxMessage.delivered_at.is_(None),
                                       OutboxMessage.attempts == row.attempts)
                                .values(attempts=row.attempts + 1)
                                .execution_options(synchronize_session=False)).rowcount
                if won == 1:
                    claims.append(Claim(row.id, row.text, chats, row.attempts + 1))
        self._inflight.update(c.outbox_id for c in claims)
        return claims

    def _finish(self, outbox_id: int, delivered: bool, give_up: bool = False) -> None:
        with self._db(write=True) as s:
            values = {"delivered_at": utcnow()} if delivered else {"attempts": self.MAX_ATTEMPTS}
            if delivered or give_up:
                s.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id,
                                                      OutboxMessage.delivered_at.is_(None))
                          .values(**values).execution_options(synchronize_session=False))

    async def deliver_outbox_once(self) -> int:
        """Pushes due outbox notifications; returns how many were delivered.

        Guarantees: at-least-once delivery, and no duplicates after a restart for every row
        whose delivery finished. A row is *claimed* (``attempts + 1``, committed) before it
        is sent and *marked* (``delivered_at``, committed) right after Telegram accepted it;
        delivered rows are never selected again. A claimed row that was never marked —
        the process died, or sending failed — is sent again on a later run, after an
        exponential backoff (in memory: a restart retries at once). Permanent refusals
        (the user blocked the bot, the chat is gone) stop retries by setting ``attempts``
        to :attr:`MAX_ATTEMPTS`; so do too many failures.

        The remaining edge: if the process dies (or the database write fails, or the HTTP
        response is lost after Telegram delivered) in the short window between Telegram
        accepting the message and the ``delivered_at`` commit, that one notification is
        sent once more after the restart. Telegram's sendMessage has no idempotency key, so
        this cannot be closed from our side; it is the price of never losing a message.
        Run one delivery worker per database: the compare-and-set on ``attempts`` stops two
        workers from claiming the same attempt, but a second worker would treat a row that
        is in flight elsewhere as failed and retry it. A row for a user with several linked
        Telegram accounts counts as delivered when at least one of them received it."""
        delivered = 0
        for claim in await asyncio.to_thread(self.claim_outbox):
            try:
                outcome = await self._push(claim)
            finally:
                self._inflight.discard(claim.outbox_id)
            if outcome == "stop":
                break
            delivered += outcome == "delivered"
        return delivered

    async def _push(self, claim: Claim) -> str:
        sent, permanent, transient, flood = 0, 0, None, False
        markup = None
        options = quick_replies(claim.text)
        if options:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(o, callback_data=o) for o in options]])
        for chat_id in claim.chat_ids:
            try:
                await self.app.bot.send_message(chat_id, claim.text, reply_markup=markup)
                sent += 1
            except RetryAfter as exc:
                transient, flood = self._seconds(exc.retry_after), True
                break
            except (Forbidden, BadRequest) as exc:
                logger.info("outbox %s: chat refused (%s)", claim.outbox_id, type(exc).__name__)
                permanent += 1
            except TelegramError as exc:
                logger.info("outbox %s: attempt %s failed (%s)", claim.outbox_id, claim.attempt, type(exc).__name__)
                transient = min(self.BACKOFF_BASE * 2 ** (claim.attempt - 1), self.BACKOFF_MAX)
        if sent:
            await asyncio.to_thread(self._finish, claim.outbox_id, True)
            self._next_try.pop(claim.outbox_id, None)
            return "delivered"
        if permanent == len(claim.chat_ids):
            await asyncio.to_thread(self._finish, claim.outbox_id, False, True)
            return "gave_up"
        self._next_try[claim.outbox_id] = self.clock() + (transient or self.BACKOFF_BASE)
        return "stop" if flood else "retry"  # flood control: wait before sending anything else


# --------------------------------------------------------------------------- entry point


async def _serve(channel: TelegramChannel) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with channel.running():
        mode = "webhook" if channel.config.webhook_url else "polling"
        print(f"==> Telegram bot running ({mode}); Rasa at {channel.config.rasa_url}. Ctrl-C to stop.", flush=True)
        await stop.wait()


def _configure_logging(token: str) -> None:
    logging.basicConfig(level=logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(token, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # httpx logs every request URL, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"配置有误 / configuration error: {exc}", file=sys.stderr)
        return 2
    if config is None:
        print(NO_TOKEN_HELP)
        return 0
    _configure_logging(config.token)
    try:
        asyncio.run(_serve(TelegramChannel(config)))
    except KeyboardInterrupt:
        pass
    except InvalidToken:
        print("机器人令牌无效 / the bot token was rejected by Telegram.", file=sys.stderr)
        return 1
    except NetworkError as exc:
        print(f"连不上 Telegram 服务器 / cannot reach the Telegram Bot API at {config.api_url}: "
              f"{str(exc).replace(config.token, '<token>')}", file=sys.stderr)
        return 1
    return 0
