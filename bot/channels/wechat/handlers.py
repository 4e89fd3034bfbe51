"""What the Official Account answers to each kind of message: small typed functions from a
wechatpy message to the texts to send back (the callback server decides whether they go in the
callback's own response or as customer-service messages).

Every turn goes to the Rasa server's REST channel through :class:`AsyncRasaClient` as the sender
``wechat:<openid>`` (so the turn pipeline — input limits, the emergency override — runs as for
every channel). Database work goes through :class:`~.accounts.Accounts` in a worker thread.

Menu buttons (自定义菜单, type ``click``) the account may configure, by key:
``POINTS`` (查积分), ``GRIEVANCES`` (我反映的事), ``HELP`` (怎么用), ``LINK`` (绑定身份),
``QUEUE`` (我的待办, for staff), ``VOICE`` (语音回复 on/off).

Text commands in place of Telegram's slash commands (:func:`.accounts.command_of`): the slash
form or Chinese words — ``/myqueue`` 我的待办, ``/voice`` 语音回复 (打开/关掉语音回复),
``/points`` 查积分, ``/mygrievances`` 我反映的事, ``/help`` 帮助, ``/link 123456`` 绑定 123456.

Spoken replies: when a linked user switched them on, Rasa's answers of a turn also go out as one
voice message (synthesised with speech/, MP3 by ffmpeg, uploaded as temporary media and sent
as a customer-service message) after the text (:func:`speak`).

The staff's WeCom app (:mod:`.wecom`) uses the same handlers as ``wecom:<UserID>``; the button
on its alert cards arrives as a ``template_card_event`` (:func:`on_card_button`).
"""
from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.channels import turn
from bot.channels.rasa_client import AsyncRasaClient, RasaError
from bot.channels.wechat import texts
from bot.channels.wechat.accounts import Accounts, command_of, is_phone_link, link_code
from bot.channels.wechat.api import WeChatAPI, WeChatAPIError
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.limits import RateLimiter
from bot.channels.wechat.protocol import UNSUPPORTED_CONTENT
from bot.channels.wechat.render import Choices, reply_texts
from bot.models import utcnow

logger = logging.getLogger(__name__)

MENU = {"POINTS": texts.ASK_POINTS, "GRIEVANCES": texts.ASK_GRIEVANCES}
MENU_COMMANDS = {"QUEUE": "queue", "VOICE": "voice"}
GREETING_EVENTS = ("subscribe", "subscribe_scan")
MAX_SPOKEN_SECONDS = 60  # WeChat plays a voice message of at most 60 s
VOICE_BITRATE = "32k"

# Rasa's answers in the turn being handled (what a spoken reply says); see answer().
_SPOKEN: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("wechat_spoken", default=None)


class Answer(list):
    """The texts answering one message, and what to do once they were sent (``after``: the
    spoken reply), which the callback server runs after the texts went out."""

    after: Callable[[], Any] | None = None


def wav_to_mp3(wav: bytes, timeout: float = 30.0, max_seconds: int = MAX_SPOKEN_SECONDS) -> bytes:
    """A WAV as mono MP3 of at most ``max_seconds`` (the voice format an Official Account
    accepts besides AMR, for which ffmpeg has no encoder here)."""
    from speech.audio import ffmpeg_binary

    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-t", str(max_seconds),
               "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", VOICE_BITRATE, "-f", "mp3", "pipe:1"]
    proc = subprocess.run(command, input=wav, capture_output=True, timeout=timeout, check=True)  # nosec B603 - ffmpeg, fixed arguments
    return proc.stdout


@dataclass
class Services:
    """What the handlers need besides the message: built once by the channel."""

    config: WeChatConfig
    rasa: AsyncRasaClient
    accounts: Accounts
    limiter: RateLimiter
    api: WeChatAPI | None = None  # media downloads (voice messages WeChat did not transcribe)
    load_recognizer: Callable[[], Any] | None = None  # raises when speech recognition is not installed
    load_synthesizer: Callable[[], Any] | None = None  # the TTS for spoken replies (speech.tts)
    choices: Choices = field(default_factory=Choices)
    pending_photos: dict[str, list[tuple[str, dt.datetime]]] = field(default_factory=dict)  # while a form is open
    locks: dict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    _recognizer: Any = None
    _synthesizer: Any = None

    def synthesizer(self) -> Any:
        """The TTS engine (blocking on first use); raises when none is installed."""
        if self._synthesizer is None:
            if self.load_synthesizer is None:
                raise RuntimeError("no synthesiser configured")
            self._synthesizer = self.load_synthesizer()
        return self._synthesizer

    def recognizer(self) -> Any | None:
        """The ASR recogniser (the same Vosk one as the device and Telegram), or None when speech
        recognition is not installed. Blocking on first use: call it in a worker thread."""
        if self._recognizer is None and self.load_recognizer is not None:
            try:
                self._recognizer = self.load_recognizer()
            except (ImportError, OSError, RuntimeError) as exc:  # ModelNotFoundError is an OSError
                logger.info("speech recognition unavailable: %s", exc)
        return self._recognizer


async def converse(services: Services, openid: str, text: str) -> list[str]:
    """One turn through Rasa; its answers as texts. Never raises: a failed turn is :data:`turn.BUSY`."""
    text = text.strip()
    problem = turn.refusal(text, services.config.max_chars)
    if problem is not None:
        return [problem]
    sender = services.accounts.sender(openid)
    async with services.locks[sender]:
        try:
            replies = await services.rasa.send(sender, services.choices.message_for(sender, text))
        except RasaError as exc:
            logger.warning("rasa request failed for %s: %s", sender, exc)
            return [exc.message or turn.BUSY]
        services.choices.remember(sender, replies)
        said = reply_texts(replies)
        spoken = _SPOKEN.get()
        if spoken is not None:
            spoken.extend(said)
        if services.pending_photos.get(openid):
            said += await _attach_pending_photos(services, openid)
        return said


async def _form_active(services: Services, openid: str) -> bool:
    try:
        return bool(await services.rasa.active_loop(services.accounts.sender(openid)))
    except RasaError:
        return False


async def _attach_pending_photos(services: Services, openid: str) -> list[str]:
    """After a turn: once the form is closed, the photos join the grievance it filed."""
    if await _form_active(services, openid):
        return []
    accounts = services.accounts
    pending = services.pending_photos.pop(openid, [])
    paths = [path for path, _ in pending]
    grievance_id = await asyncio.to_thread(accounts.recent_grievance, openid, min(at for _, at in pending))
    if grievance_id is None:  # the form was cancelled: nothing to attach the photos to
        await asyncio.to_thread(accounts.discard_uploads, paths)
        return []
    return [await asyncio.to_thread(accounts.attach_photos, openid, grievance_id, paths)]


async def on_image(services: Services, openid: str, media_id: str) -> list[str]:
    """A photo counts only while a grievance is being filed (or was filed just now)."""
    accounts = services.accounts
    filing = await _form_active(services, openid)
    recent = None if filing else await asyncio.to_thread(accounts.recent_grievance, openid)
    if not filing and recent is None:
        return [texts.PHOTO_NOT_NEEDED]
    if services.api is None or not services.api.can_send:
        return [texts.PHOTO_UNREADABLE]
    try:
        data = await services.api.media(media_id)
    except WeChatAPIError as exc:
        logger.warning("photo download failed: %s", exc)
        return [texts.PHOTO_UNREADABLE]
    path = await asyncio.to_thread(accounts.save_upload, openid, data)
    if filing:
        services.pending_photos.setdefault(openid, []).append((path, utcnow()))
        return [texts.PHOTO_SAVED]
    return [await asyncio.to_thread(accounts.attach_photos, openid, recent, [path])]


async def greet(services: Services, openid: str) -> list[str]:
    """A new follower (or one who asked how it works): greeting, and how to link when not linked."""
    name = await asyncio.to_thread(services.accounts.display_name, openid)
    if name is None:
        return [f"{texts.WELCOME}\n{texts.HOW_TO_LINK}"]
    return [texts.GREETING.format(name=name, welcome=texts.WELCOME, help=texts.HELP)]


async def run_command(services: Services, openid: str, command: str) -> list[str]:
    """One of the text commands (:func:`.accounts.command_of`)."""
    accounts = services.accounts
    if command == "queue":
        return [await asyncio.to_thread(accounts.staff_queue, openid)]
    if command in ("voice", "voice_on", "voice_off"):
        if not getattr(services.api, "VOICE_FORMAT", None):
            return [texts.VOICE_NOT_HERE]
        on = {"voice": None, "voice_on": True, "voice_off": False}[command]
        return [await asyncio.to_thread(accounts.set_voice_replies, openid, on)]
    if command == "points":
        return await converse(services, openid, texts.ASK_POINTS)
    if command == "grievances":
        return await converse(services, openid, texts.ASK_GRIEVANCES)
    return await greet(services, openid)  # help, start


async def on_text(services: Services, openid: str, content: str) -> list[str]:
    if content.strip() == UNSUPPORTED_CONTENT:  # a sticker, or anything else WeChat cannot show us
        return [texts.NOT_SUPPORTED]
    if is_phone_link(content):
        return [texts.PHONE_LINK_UNAVAILABLE]
    code = link_code(content)
    if code is not None:
        return [await asyncio.to_thread(services.accounts.link_with_code, openid, code)]
    command = command_of(content)
    if command is not None:
        return await run_command(services, openid, command)
    return await converse(services, openid, content)


def transcribe(recognizer: Any, data: bytes) -> str | None:
    """The words in a voice message ("" for none), or None when the audio cannot be decoded
    (AMR or Speex: ffmpeg turns it into 16 kHz PCM first)."""
    from speech.audio import AudioError, normalise

    try:
        return recognizer.transcribe(normalise(data), is_pcm=True).text.strip()
    except AudioError as exc:
        logger.info("unreadable voice message: %s", exc)
        return None


async def _recognised(services: Services, message: Any) -> tuple[str | None, str | None]:
    """(words, None) for a voice message, or (None, what to say instead)."""
    recognition = (getattr(message, "recognition", None) or "").strip().rstrip("。")
    if recognition:
        logger.info("voice message from %s: using WeChat's own recognition", services.accounts.sender(message.source))
        return recognition, None
    recognizer = await asyncio.to_thread(services.recognizer)
    if recognizer is None or services.api is None or not services.api.can_send:
        return None, texts.VOICE_UNAVAILABLE
    try:
        data = await services.api.media(message.media_id)
    except WeChatAPIError as exc:
        logger.warning("voice message download failed: %s", exc)
        return None, texts.VOICE_UNREADABLE
    words = await asyncio.to_thread(transcribe, recognizer, data)
    if words is None:
        return None, texts.VOICE_UNREADABLE
    return (words, None) if words else (None, texts.VOICE_EMPTY)


async def on_voice(services: Services, openid: str, message: Any) -> list[str]:
    """A voice message: WeChat's own transcript when the account has 语音识别 switched on, else
    the media downloaded and recognised here; the user sees what was heard, then the answer."""
    words, instead = await _recognised(services, message)
    if words is None:
        return [instead]
    return [texts.HEARD.format(text=words), *await converse(services, openid, words)]


async def on_click(services: Services, openid: str, key: str) -> list[str]:
    if key in MENU:
        return await converse(services, openid, MENU[key])
    if key in MENU_COMMANDS:
        return await run_command(services, openid, MENU_COMMANDS[key])
    if key == "LINK":
        return [texts.HOW_TO_LINK]
    return await greet(services, openid)  # HELP, or a key this version does not know


ACK_KEY = re.compile(r"^ack-emergency:(\d{1,12})$")  # the WeCom alert card's button (see .wecom)


def message_type(message: Any) -> str:
    """``text``, ``voice``, ``event``, ...: the message's ``MsgType``, also for messages wechatpy
    has no class for (whose ``type`` is ``unknown``)."""
    raw = getattr(message, "_data", {}) or {}
    return str(raw.get("MsgType") or message.type or "").lower()


def event_of(message: Any) -> tuple[str, str]:
    """(event, key) of an event message, also for events wechatpy has no class for (WeCom's
    ``template_card_event``)."""
    raw = getattr(message, "_data", {}) or {}
    event = getattr(message, "event", None) or str(raw.get("Event") or "")
    key = getattr(message, "key", None) or str(raw.get("EventKey") or "")
    return event.lower(), key


async def on_card_button(services: Services, user: str, key: str, response_code: str = "") -> list[str]:
    """A button on a card we sent (WeCom): "收到，我去处理" on an emergency alert. The button then
    turns into a label (the WeCom API's ``close_card``; any other API has none)."""
    found = ACK_KEY.match(key)
    if found is None:
        return []
    answer = await asyncio.to_thread(services.accounts.acknowledge_emergency, user, int(found.group(1)))
    close_card = getattr(services.api, "close_card", None)
    if close_card is not None and response_code:
        try:
            await close_card(user, response_code)
        except WeChatAPIError as exc:  # the answer matters more than the label
            logger.info("could not update the alert card: %s", exc)
    return [answer]


def _limited(services: Services, openid: str) -> list[str] | None:
    """None when the user may go on; else what to say (once per window, then nothing)."""
    limiter = services.limiter
    if limiter.allow(openid):
        return None
    return [texts.RATE_LIMITED] if limiter.should_warn(openid) else []


async def speak(services: Services, openid: str, said: list[str]) -> None:
    """Rasa's answers as one voice message, for a user who switched spoken replies on:
    synthesised (speech/), MP3, uploaded as temporary media, sent as a customer-service
    message. Never raises (the text went out already)."""
    api = services.api
    if api is None or not api.can_send or not getattr(api, "VOICE_FORMAT", None):
        return
    try:
        if not await asyncio.to_thread(services.accounts.wants_voice_replies, openid):
            return
        voice = await asyncio.to_thread(lambda: wav_to_mp3(services.synthesizer().synthesize_many(said)))
        await api.send_voice(openid, voice)
    except WeChatAPIError as exc:
        logger.info("voice reply to %s refused: %s", services.accounts.sender(openid), exc)
    except Exception as exc:  # noqa: BLE001 - no TTS, ffmpeg failed: the text answer was sent already
        logger.warning("voice reply failed: %s", exc)


async def answer(services: Services, message: Any) -> Answer:
    """The texts answering one verified message or event ([] for none), with the spoken reply
    to send after them when the user asked for one. Never raises."""
    spoken: list[str] = []
    token = _SPOKEN.set(spoken)
    try:
        result = Answer(await _answer(services, message))
    finally:
        _SPOKEN.reset(token)
    if spoken:
        result.after = lambda: speak(services, message.source, spoken)
    return result


async def _answer(services: Services, message: Any) -> list[str]:
    openid, kind = message.source, message_type(message)
    try:
        event, key = event_of(message) if kind == "event" else ("", "")
        if kind == "event":
            if event in GREETING_EVENTS:
                return await greet(services, openid)
            if event == "template_card_event":
                raw = getattr(message, "_data", {}) or {}
                return await on_card_button(services, openid, key, str(raw.get("ResponseCode") or ""))
            if event != "click":  # unsubscribe, menu links, location reports, job reports
                return []
        limited = _limited(services, openid)
        if limited is not None:
            return limited
        if kind == "event":
            return await on_click(services, openid, key)
        if kind == "text":
            return await on_text(services, openid, message.content or "")
        if kind == "voice":
            return await on_voice(services, openid, message)
        if kind == "image":
            return await on_image(services, openid, str(getattr(message, "media_id", "") or ""))
        if kind == "location":
            return [texts.LOCATION_NOT_KEPT]
        return [texts.NOT_SUPPORTED]
    except Exception:  # noqa: BLE001 - the user gets a polite answer, the log the trace
        logger.exception("wechat handler failed for %s (%s)", services.accounts.sender(openid), kind)
        return [turn.BUSY]
