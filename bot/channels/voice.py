"""Rasa input channel for the one-button device: ``POST /webhooks/voice/webhook``.

Request: ``multipart/form-data`` with a field ``audio`` (a file: WAV, OGG, MP3, … any rate and
channel count), or a raw audio body. Every request is signed by the device with its own key
(:mod:`bot.security.devices`: ``X-Xiangyin-Device``/``-Time``/``-Nonce``/``-Signature`` over the
exact body); the device — and so the household or person the turn speaks for — comes from that
signature only. Unsigned, forged, replayed, unknown or revoked requests get 401 and an audit row.
A ``device_id`` form field, if sent, must name the same device.

Response (200, ``application/json``)::

    {"transcript": "我有多少积分", "texts": ["您家现在有120分。"],
     "audio_wav_base64": "<one WAV speaking every reply>", "rate": "normal"}

With ``Accept: audio/wav`` the body is the WAV itself and the texts travel in the
``X-Transcript`` / ``X-Texts`` headers (URL-encoded JSON). Empty or unintelligible audio
is answered with a spoken "没听清，请再说一遍", never an error; malformed requests get a 4xx
with a Chinese message. Recognition and synthesis run in a thread pool, off the event loop.

Configure in ``credentials.yml``::

    bot.channels.voice.VoiceInput:
      recognizer: null      # "module:factory"; null: settings.speech.asr_factory (env
                            # XIANGYIN_ASR_FACTORY), else Vosk (settings.speech.vosk_model)
      max_upload_mb: 10

Rasa builds the channel with :meth:`VoiceInput.from_credentials`, which reads the settings
(:func:`bot.config.load_settings`) once; the database, recogniser and synthesiser come from them.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.parse
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels import turn
from bot.channels.recognition import recognizer_factory
from bot.config import Settings, load_settings
from bot.text import number_to_chinese

log = logging.getLogger(__name__)

NOT_HEARD = "没听清，请再说一遍。"
ASR_DOWN = "我现在听不了语音，请稍后再试，或者找网格员帮忙。"
CHANNEL = "voice"
UNAUTHORIZED = "这台设备还没有登记，请找村里帮忙设置。"
MAX_UPLOAD_MB = 10.0


def spoken_texts(messages: list[dict]) -> list[str]:
    """Bot messages as things to say: buttons become numbered options, read three at a time."""
    texts: list[str] = []
    for message in messages:
        if message.get("text"):
            texts.append(message["text"])
        buttons = message.get("buttons") or []
        if buttons:
            options = [f"第{number_to_chinese(n)}个，{b.get('title', '')}" for n, b in enumerate(buttons, start=1)]
            texts.append("；".join(options[:turn.LIST_CHUNK]) + "。")
            if len(options) > turn.LIST_CHUNK:
                texts.append("还有别的选项，要听就说“还要听”。")
    return texts


def device_rate(device_id: str, db_url: str | None = None) -> str:
    """'slow' once the user said 慢一点 on this device (stored by action_slow_down)."""
    from bot.db import session_scope
    from bot.identity import identity_settings

    with session_scope(url=db_url) as s:
        return identity_settings(s, CHANNEL, device_id).get("speech_rate", "normal")


def authenticated_device(settings: Settings, method: str, path: str, headers: dict, body: bytes) -> str | None:
    """The device id a signed request comes from, else None (the refusal is logged and audited)."""
    from bot.db import session_scope
    from bot.security.devices import DeviceAuthError, authenticate

    with session_scope(write=True, url=settings.database.url) as s:
        try:
            return authenticate(s, settings, method, path, headers, body).external_id
        except DeviceAuthError as exc:  # committed with its audit row
            log.warning("voice request refused (%s): %s", exc.device_id or "?", exc.reason)
            return None


class VoiceOutput(CollectingOutputChannel):
    """Collects the turn's replies. Named "voice" because Rasa picks a response's variant by
    the output channel's name: domain.yml's ``channel: voice`` variants are what devices say."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL


class VoiceInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "VoiceInput":
        credentials, settings = credentials or {}, load_settings()
        return cls(credentials.get("recognizer") or settings.speech.asr_factory,
                   float(credentials.get("max_upload_mb") or MAX_UPLOAD_MB), settings)

    def __init__(self, recognizer: Optional[str] = None, max_upload_mb: float = MAX_UPLOAD_MB,
                 settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._factory = recognizer_factory(recognizer, self.settings)
        self._recognizer = None
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)

    def recognizer(self):
        if self._recognizer is None:
            self._recognizer = self._factory()
        return self._recognizer

    def _transcribe(self, audio_bytes: bytes) -> str:
        from speech.audio import AudioError

        try:
            transcript = self.recognizer().transcribe(audio_bytes)
        except AudioError as exc:
            log.info("unusable audio: %s", exc)
            return ""
        return (transcript.text or "").strip()

    def _synthesize(self, texts: list[str], rate: str) -> bytes:
        from speech.tts import get_synthesizer

        return get_synthesizer(settings=self.settings).synthesize_many(texts, rate=rate)

    async def _reply(self, request: Request, transcript: str, texts: list[str], rate: str):
        loop = asyncio.get_running_loop()
        try:
            wav = await loop.run_in_executor(None, self._synthesize, texts, rate)
        except Exception:  # noqa: BLE001 - the texts still reach the device
            log.exception("speech synthesis failed")
            wav = b""
        if "audio/wav" in (request.headers.get("accept") or "") and wav:
            quote = lambda value: urllib.parse.quote(json.dumps(value, ensure_ascii=False))  # noqa: E731
            return response.raw(wav, content_type="audio/wav",
                                headers={"X-Transcript": quote(transcript), "X-Texts": quote(texts)})
        return response.json({"transcript": transcript, "texts": texts, "rate": rate,
                              "audio_wav_base64": base64.b64encode(wav).decode("ascii")})

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        voice = Blueprint("voice_webhook", __name__)
        handle = turn.pipeline(on_new_message)

        @voice.route("/", methods=["GET"])
        async def health(_: Request):
            return response.json({"status": "ok"})

        @voice.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            if len(request.body or b"") > self.max_upload_bytes:
                return response.json({"error": "录音太长了，请说短一点。"}, status=413)
            loop = asyncio.get_running_loop()
            device_id = await loop.run_in_executor(
                None, authenticated_device, self.settings, request.method, request.path,
                dict(request.headers), request.body or b"")
            if device_id is None:
                return response.json({"error": UNAUTHORIZED}, status=401)
            claimed, audio_bytes = self._parse(request)
            if claimed and claimed != device_id:
                log.warning("device %s sent device_id=%r; refused", device_id, claimed[:64])
                return response.json({"error": UNAUTHORIZED}, status=403)
            if not audio_bytes:
                return response.json({"error": "没有收到录音。"}, status=400)
            try:
                rate = await loop.run_in_executor(None, device_rate, device_id, self.settings.database.url)
            except Exception:  # noqa: BLE001
                log.exception("reading device settings failed")
                rate = "normal"
            try:
                text = await loop.run_in_executor(None, self._transcribe, audio_bytes)
            except Exception:  # noqa: BLE001 - model missing or broken: say so, politely
                log.exception("speech recognition unavailable")
                return await self._reply(request, "", [ASR_DOWN], rate)
            if not text:
                return await self._reply(request, "", [NOT_HEARD], rate)
            collector = VoiceOutput()
            try:  # the turn pipeline: input limits, then emergency words straight to the emergency action
                await handle(UserMessage(text, collector, sender_id=f"{CHANNEL}:{device_id}",
                                         input_channel=self.name(), metadata={"transcript": text}))
            except Exception:  # noqa: BLE001
                log.exception("dialogue failed for device %s", device_id)
                return await self._reply(request, text, [turn.BUSY], rate)
            texts = spoken_texts(collector.messages) or [turn.TURN_FAILED]  # the turn broke off
            return await self._reply(request, text, texts, rate)

        return voice

    @staticmethod
    def _parse(request: Request) -> tuple[str, bytes]:
        """(the device id the body claims, if any; the audio)."""
        content_type = request.headers.get("content-type") or ""
        if content_type.startswith("multipart/form-data"):
            try:
                form, files = request.form, request.files
            except Exception:  # noqa: BLE001 - malformed multipart body
                return "", b""
            device_id = (form.get("device_id") or "").strip()
            upload = files.get("audio") if files else None
            return device_id, (upload.body if upload else b"")
        return "", request.body or b""
