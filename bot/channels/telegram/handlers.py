"""The Telegram bot's update handlers: small typed functions, wired in :func:`register`.

Every turn goes to the Rasa server's REST channel through :class:`AsyncRasaClient` (so the turn
pipeline — input limits, the emergency override — runs for typed text and voice notes alike);
Rasa's answers come back as text, its buttons as inline keyboards. Database work goes through
:class:`~bot.channels.telegram.accounts.Accounts` in a worker thread.

Handlers reach the bot's services as ``context.services`` (:class:`Context`); per-user state
(photos waiting for the grievance being filed) lives in PTB's ``context.user_data``.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    InvalidCallbackData,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.channels import turn
from bot.channels.limits import RateLimiter
from bot.channels.rasa_client import AsyncRasaClient, RasaError
from bot.channels.telegram import texts
from bot.channels.telegram.accounts import Accounts, sender_id
from bot.channels.telegram.config import TelegramConfig
from bot.channels.telegram.delivery import seconds
from bot.channels.telegram.keyboards import acknowledged_emergency, keyboard, typed_answer
from bot.models import utcnow

logger = logging.getLogger(__name__)

MAX_VOICE_SECONDS = 60
MAX_DOWNLOAD_BYTES = 10 * 1024 * 1024
PENDING_PHOTOS = "pending_photos"  # user_data key: [(path, received at)] while a form is open


def wav_to_ogg_opus(wav: bytes, timeout: float = 30.0) -> bytes:
    """Telegram plays voice messages only as OGG/Opus."""
    from speech.audio import ffmpeg_binary

    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
               "-c:a", "libopus", "-b:a", "24k", "-f", "ogg", "pipe:1"]
    proc = subprocess.run(command, input=wav, capture_output=True, timeout=timeout, check=True)  # nosec B603 - ffmpeg, fixed arguments
    return proc.stdout


@dataclass
class Services:
    """What the handlers need besides the update: built once by the application."""

    config: TelegramConfig
    rasa: AsyncRasaClient
    accounts: Accounts
    limiter: RateLimiter
    load_recognizer: Callable[[], Any]  # raises when speech recognition is not installed
    load_synthesizer: Callable[[], Any]
    locks: dict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    _recognizer: Any = None
    _synthesizer: Any = None

    def recognizer(self) -> Any | None:
        """The ASR recogniser, or None when speech recognition is not installed."""
        if self._recognizer is None:
            try:
                self._recognizer = self.load_recognizer()
            except (ImportError, OSError, RuntimeError) as exc:  # ModelNotFoundError is an OSError
                logger.info("speech recognition unavailable: %s", exc)
        return self._recognizer

    def synthesizer(self) -> Any:
        if self._synthesizer is None:
            self._synthesizer = self.load_synthesizer()
        return self._synthesizer


class Context(CallbackContext[ExtBot, dict, dict, dict]):
    """PTB's callback context with the bot's :class:`Services`."""

    @property
    def services(self) -> Services:
        return self.bot_data["services"]


# --------------------------------------------------------------------------- guard, errors


async def guard(update: Update, context: Context) -> None:
    """Group -1: private chats only, no edits, and the per-user rate limit."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or user.is_bot or update.edited_message is not None:
        raise ApplicationHandlerStop
    if chat is not None and chat.type != ChatType.PRIVATE:
        raise ApplicationHandlerStop
    limiter = context.services.limiter
    if not limiter.allow(user.id):
        if update.callback_query is not None:
            await update.callback_query.answer(texts.RATE_LIMITED)
        elif limiter.should_warn(user.id) and chat is not None:
            await context.bot.send_message(chat.id, texts.RATE_LIMITED)
        raise ApplicationHandlerStop


async def on_error(update: object, context: Context) -> None:
    logger.error("telegram handler failed: %s", type(context.error).__name__, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(chat.id, turn.BUSY)


# --------------------------------------------------------------------------- one turn


async def converse(context: Context, chat_id: int, user_id: int, text: str) -> None:
    """One turn: Rasa answers, we render; photos waiting for a grievance are attached."""
    services, sender = context.services, sender_id(user_id)
    async with services.locks[sender]:
        try:
            replies = await services.rasa.send(sender, text)
        except RasaError as exc:
            logger.warning("rasa request failed for %s: %s", sender, exc)
            replies = [{"text": exc.message or turn.BUSY}]
        said = []
        for reply in replies:
            body = "\n".join(filter(None, [reply.get("text"), reply.get("image")]))
            if body:
                said.append(body)
                await context.bot.send_message(chat_id, body, reply_markup=keyboard(reply))
        if context.user_data.get(PENDING_PHOTOS):
            await _attach_pending_photos(context, chat_id, user_id)
        if said:
            await _maybe_speak(context, chat_id, user_id, said)


async def _form_active(context: Context, user_id: int) -> bool:
    try:
        return bool(await context.services.rasa.active_loop(sender_id(user_id)))
    except RasaError:
        return False


async def _maybe_speak(context: Context, chat_id: int, user_id: int, said: list[str]) -> None:
    services = context.services
    if not await asyncio.to_thread(services.accounts.wants_voice_replies, user_id):
        return
    try:
        voice = await asyncio.to_thread(lambda: wav_to_ogg_opus(services.synthesizer().synthesize_many(said)))
    except Exception as exc:  # noqa: BLE001 - the text answer was sent already
        logger.warning("voice reply failed: %s", exc)
        return
    await context.bot.send_voice(chat_id, voice=voice)


# --------------------------------------------------------------------------- commands


async def cmd_start(update: Update, context: Context) -> None:
    actor = await asyncio.to_thread(context.services.accounts.actor, update.effective_user.id)
    if actor.user_id is not None:
        await update.effective_message.reply_text(
            texts.GREETING.format(name=actor.display_name, welcome=texts.WELCOME, help=texts.HELP))
        return
    share = ReplyKeyboardMarkup([[KeyboardButton(texts.SHARE_PHONE, request_contact=True)]],
                                resize_keyboard=True, one_time_keyboard=True)
    await update.effective_message.reply_text(f"{texts.WELCOME}\n{texts.HOW_TO_LINK}", reply_markup=share)


async def cmd_help(update: Update, context: Context) -> None:
    await update.effective_message.reply_text(texts.HELP)


async def cmd_link(update: Update, context: Context) -> None:
    code = "".join(context.args or [])
    if not code:
        await update.effective_message.reply_text(texts.LINK_USAGE)
        return
    answer = await asyncio.to_thread(context.services.accounts.link_with_code, update.effective_user.id, code)
    await update.effective_message.reply_text(answer, reply_markup=ReplyKeyboardRemove())


async def cmd_points(update: Update, context: Context) -> None:
    await converse(context, update.effective_chat.id, update.effective_user.id, texts.ASK_POINTS)


async def cmd_mygrievances(update: Update, context: Context) -> None:
    await converse(context, update.effective_chat.id, update.effective_user.id, texts.ASK_GRIEVANCES)


async def cmd_myqueue(update: Update, context: Context) -> None:
    answer = await asyncio.to_thread(context.services.accounts.staff_queue, update.effective_user.id)
    await update.effective_message.reply_text(answer)


async def cmd_voice(update: Update, context: Context) -> None:
    answer = await asyncio.to_thread(context.services.accounts.toggle_voice_replies, update.effective_user.id)
    await update.effective_message.reply_text(answer)


# --------------------------------------------------------------------------- messages


async def on_text(update: Update, context: Context) -> None:
    text = update.effective_message.text or ""
    problem = turn.refusal(text, context.services.config.max_chars)
    if problem is not None:
        await update.effective_message.reply_text(problem)
        return
    await converse(context, update.effective_chat.id, update.effective_user.id, text.strip())


async def on_button(update: Update, context: Context) -> None:
    """A button we showed: its payload (a Rasa command or a quick reply) is the next message."""
    query = update.callback_query
    await query.answer()
    await converse(context, _chat_of(query), query.from_user.id, query.data[: context.services.config.max_chars])


async def on_unknown_button(update: Update, context: Context) -> None:
    """A button PTB has no payload for: a plain quick-reply word counts as typed, anything else
    (an expired key, a forged ``/intent{...}``) is refused."""
    query = update.callback_query
    await query.answer()
    answer = typed_answer(query.data.callback_data if isinstance(query.data, InvalidCallbackData) else None)
    if answer is None:
        await context.bot.send_message(_chat_of(query), texts.BUTTON_EXPIRED)
    else:
        await converse(context, _chat_of(query), query.from_user.id, answer)


async def on_ack_button(update: Update, context: Context) -> None:
    """"收到，我去处理" on an emergency alert: the presser takes charge through the domain, and
    the answer says whether they did (or who was quicker). The button goes away once pressed."""
    query = update.callback_query
    await query.answer()
    emergency_id = acknowledged_emergency(query.data)
    answer = await asyncio.to_thread(context.services.accounts.acknowledge_emergency, query.from_user.id,
                                     emergency_id)
    if query.message is not None:
        with contextlib.suppress(TelegramError):
            await query.edit_message_reply_markup(reply_markup=None)
    await context.bot.send_message(_chat_of(query), answer)


def is_ack_button(data: object) -> bool:
    return acknowledged_emergency(data) is not None


def _chat_of(query) -> int:
    return query.message.chat.id if query.message is not None else query.from_user.id


async def on_contact(update: Update, context: Context) -> None:
    contact, user = update.effective_message.contact, update.effective_user
    if contact.user_id != user.id:
        await update.effective_message.reply_text(texts.NOT_OWN_CONTACT)
        return
    answer = await asyncio.to_thread(context.services.accounts.link_by_phone, user.id, contact.phone_number)
    await update.effective_message.reply_text(answer, reply_markup=ReplyKeyboardRemove())


async def on_other(update: Update, context: Context) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.NOT_SUPPORTED)


# --------------------------------------------------------------------------- voice notes


def _transcribe(recognizer: Any, data: bytes) -> str | None:
    """The words in a voice note ("" for none), or None when the audio cannot be decoded."""
    from speech.audio import AudioError, normalise

    try:
        return recognizer.transcribe(normalise(data), is_pcm=True).text.strip()
    except AudioError as exc:
        logger.info("unreadable voice note: %s", exc)
        return None


async def on_voice(update: Update, context: Context) -> None:
    message, services = update.effective_message, context.services
    media = message.voice or message.audio
    if (media.duration and seconds(media.duration) > MAX_VOICE_SECONDS) or (media.file_size or 0) > MAX_DOWNLOAD_BYTES:
        await message.reply_text(texts.VOICE_TOO_LONG)
        return
    recognizer = await asyncio.to_thread(services.recognizer)
    if recognizer is None:
        await message.reply_text(texts.ASR_UNAVAILABLE)
        return
    data = bytes(await (await media.get_file()).download_as_bytearray())
    text = await asyncio.to_thread(_transcribe, recognizer, data)
    if text is None:
        await message.reply_text(texts.VOICE_UNREADABLE)
    elif not text:
        await message.reply_text(texts.VOICE_EMPTY)
    else:
        await message.reply_text(texts.HEARD.format(text=text))
        await converse(context, update.effective_chat.id, update.effective_user.id, text[: services.config.max_chars])


# --------------------------------------------------------------------------- photos


async def on_photo(update: Update, context: Context) -> None:
    """A photo counts only while a grievance is being filed (or was filed just now)."""
    message, user, accounts = update.effective_message, update.effective_user, context.services.accounts
    filing = await _form_active(context, user.id)
    recent = None if filing else await asyncio.to_thread(accounts.recent_grievance, user.id)
    if not filing and recent is None:
        await message.reply_text(texts.PHOTO_NOT_NEEDED)
        return
    sizes = [p for p in message.photo if (p.file_size or 0) <= MAX_DOWNLOAD_BYTES] or message.photo[:1]
    photo = max(sizes, key=lambda p: p.width * p.height)
    data = bytes(await (await photo.get_file()).download_as_bytearray())
    path = await asyncio.to_thread(accounts.save_upload, user.id, data)
    if filing:
        context.user_data.setdefault(PENDING_PHOTOS, []).append((path, utcnow()))
        await message.reply_text(texts.PHOTO_SAVED)
    else:
        await message.reply_text(await asyncio.to_thread(accounts.attach_photos, user.id, recent, [path]))


async def _attach_pending_photos(context: Context, chat_id: int, user_id: int) -> None:
    """After a turn: once the form is closed, the photos join the grievance it filed."""
    if await _form_active(context, user_id):
        return
    accounts = context.services.accounts
    pending: list[tuple[str, dt.datetime]] = context.user_data.pop(PENDING_PHOTOS, [])
    paths = [path for path, _ in pending]
    grievance_id = await asyncio.to_thread(accounts.recent_grievance, user_id, min(at for _, at in pending))
    if grievance_id is None:  # the form was cancelled: nothing to attach the photos to
        await asyncio.to_thread(accounts.discard_uploads, paths)
        return
    await context.bot.send_message(chat_id, await asyncio.to_thread(accounts.attach_photos, user_id, grievance_id, paths))


# --------------------------------------------------------------------------- wiring


def register(app: Application) -> None:
    """All handlers, in the order PTB tries them."""
    app.add_handler(TypeHandler(Update, guard), group=-1)
    commands = {"start": cmd_start, "help": cmd_help, "link": cmd_link, "points": cmd_points,
                "mygrievances": cmd_mygrievances, "myqueue": cmd_myqueue, "voice": cmd_voice}
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(MessageHandler(filters.CONTACT, on_contact))
    app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO, on_voice))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(filters.COMMAND, cmd_help))
    app.add_handler(CallbackQueryHandler(on_ack_button, pattern=is_ack_button))  # also with an expired cache
    app.add_handler(CallbackQueryHandler(on_button, pattern=str))
    app.add_handler(CallbackQueryHandler(on_unknown_button))
    app.add_handler(MessageHandler(filters.ALL, on_other))
    app.add_error_handler(on_error)
