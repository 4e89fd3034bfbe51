"""Rasa input channel for the one-button device: a one-shot upload
(``POST /webhooks/voice/webhook``, every device) and a streamed utterance
(``POST /webhooks/voice/stream/...``, devices that record and upload at once).

Every request is signed by the device with its own key (:mod:`bot.security.devices`:
``X-Xiangyin-Device``/``-Time``/``-Nonce``/``-Signature`` over method, path, device, time, nonce
and the exact body); the device — and so the household or person the turn speaks for — comes
from that signature only. Unsigned, forged, replayed, unknown or revoked requests get 401 and an
audit row.

One-shot upload
---------------
Request: ``multipart/form-data`` with a field ``audio`` (a file: WAV, OGG, MP3, … any rate and
channel count), or a raw audio body. A ``device_id`` form field, if sent, must name the same
device. Response (200, ``application/json``)::

    {"transcript": "我有多少积分", "texts": ["您家现在有120分。"],
     "audio_wav_base64": "<one WAV speaking every reply>", "rate": "normal"}

With ``Accept: audio/wav`` the body is the WAV itself and the texts travel in the
``X-Transcript`` / ``X-Texts`` headers (URL-encoded JSON).

Streamed utterance (recognition while the user speaks, speech while the rest is synthesised)
-----------------------------------------------------------------------------------------------
Each of these requests is signed exactly like the upload (its own nonce; the piece number is
part of the signed path)::

    POST /webhooks/voice/stream/start            body: empty, or {"format": "s16le", "rate": 16000}
      200 {"utterance": "<32 hex>", "format": "s16le", "rate": 16000,
           "max_seconds": 30, "idle_seconds": 15, "max_piece_bytes": 320000}
    POST /webhooks/voice/stream/<utterance>/chunk/<n>   body: the n-th piece (n = 0, 1, 2 …) of
      200 {"next": n + 1}                              raw 16 kHz mono s16le PCM, even length
    POST /webhooks/voice/stream/<utterance>/end/<n>     n = pieces sent before; body: the last
      200 the answer, framed (below)                   piece (may be empty)

Send a piece every 0.25–1 s while recording; each is recognised on the server as it arrives, so
at the end only the last piece is left. The answer to ``end`` is
``application/x-xiangyin-voice-frames``, sent as it is produced: a sequence of frames, each a
4-byte big-endian length followed by that many bytes:

1. frame 1: UTF-8 JSON ``{"transcript": …, "texts": […], "rate": "normal"}`` (as the upload's);
2. frames 2 …: one WAV (16-bit mono) each — the first reply sentence as soon as it is rendered,
   then the following sentences (each starts with the pause between sentences): play them back
   to back as they arrive;
3. a frame of length 0: the end.

A device plays frame 2 while the rest is still being rendered. Refusals are JSON with a spoken
Chinese ``error``: 401 (signature), 403 (the utterance was opened by another device), 404
(unknown utterance), 409 (a piece out of order, or after the end), 410 (dropped: idle for
``idle_seconds`` or too old), 413 (more than ``max_seconds`` of audio, or a piece too big: the
utterance is dropped), 429 (this device already has ``stream_max_open_per_device`` utterances
open), 503 (too many open in all, or no recogniser). A device that gets 404 from ``start`` talks
to an older server: it sends the one-shot upload instead, as it does when anything goes wrong
before ``end``.

Empty or unintelligible audio is answered with a spoken "没听清，请再说一遍", never an error;
malformed requests get a 4xx with a Chinese message. Recognition and synthesis run in thread
pools, off the event loop; a streamed utterance is fed to its recogniser
(:mod:`bot.channels.recognition`: Vosk's ``KaldiRecognizer`` accepts audio incrementally, here or
in the recogniser process) on a small pool of its own, one piece after the other
(:mod:`bot.channels.voice_stream`). A recogniser that cannot be reached or has no model is
answered with the spoken ``ASR_DOWN``, never an error page.

Configure in ``credentials.yml``::

    bot.channels.voice.VoiceInput:
      recognizer: null      # "module:factory"; null: settings.speech.asr_factory (env
                            # XIANGYIN_ASR_FACTORY), else the recogniser process at
                            # XIANGYIN_ASR_SERVER (`make run` starts one: speech/server.py),
                            # else Vosk in this process (settings.speech.vosk_model)
      max_upload_mb: 10
      stream_max_open_per_device: 2   # optional, the defaults of voice_stream.StreamLimits
      stream_max_open: 32
      stream_idle_seconds: 15
      stream_max_seconds: 30

Rasa builds the channel with :meth:`VoiceInput.from_credentials`, which reads the settings
(:func:`bot.config.load_settings`) once; the database, recogniser and synthesiser come from them.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import threading
import time
import urllib.parse
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels import turn
from bot.channels.recognition import STREAM_SAMPLE_RATE, recognizer_factory, utterance_stream
from bot.channels.voice_stream import StreamLimits, StreamRefused, StreamRegistry
from bot.config import Settings, load_settings
from bot.text import number_to_chinese

log = logging.getLogger(__name__)

NOT_HEARD = "没听清，请再说一遍。"
ASR_DOWN = "我现在听不了语音，请稍后再试，或者找网格员帮忙。"
CHANNEL = "voice"
UNAUTHORIZED = "这台设备还没有登记，请找村里帮忙设置。"
MAX_UPLOAD_MB = 10.0
STREAM_CONTENT_TYPE = "application/x-xiangyin-voice-frames"
STREAM_FORMAT = "s16le"
BAD_PIECE = "录音格式不对，请再说一遍。"
FINISH_TIMEOUT_S = 60.0  # the recogniser must have caught up with an utterance by then


def frame(payload: bytes) -> bytes:
    """One frame of a streamed answer: a 4-byte big-endian length, then the bytes."""
    return struct.pack(">I", len(payload)) + payload


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
        defaults = StreamLimits()
        limits = StreamLimits(
            max_open_per_device=int(credentials.get("stream_max_open_per_device") or defaults.max_open_per_device),
            max_open=int(credentials.get("stream_max_open") or defaults.max_open),
            idle_seconds=float(credentials.get("stream_idle_seconds") or defaults.idle_seconds),
            max_seconds=float(credentials.get("stream_max_seconds") or defaults.max_seconds))
        return cls(credentials.get("recognizer") or settings.speech.asr_factory,
                   float(credentials.get("max_upload_mb") or MAX_UPLOAD_MB), settings, stream_limits=limits)

    def __init__(self, recognizer: Optional[str] = None, max_upload_mb: float = MAX_UPLOAD_MB,
                 settings: Settings | None = None, *, stream_limits: StreamLimits | None = None) -> None:
        self.settings = settings or load_settings()
        self._factory = recognizer_factory(recognizer, self.settings)
        self._recognizer = None
        self._recognizer_lock = threading.Lock()
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.streams = StreamRegistry(stream_limits)

    def recognizer(self):
        with self._recognizer_lock:
            if self._recognizer is None:
                self._recognizer = self._factory()
            return self._recognizer

    def _new_stream(self):
        return utterance_stream(self.recognizer())

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

    def _segments(self, texts: list[str], rate: str):
        from speech.tts import get_synthesizer

        return get_synthesizer(settings=self.settings).synthesize_segments(texts, rate=rate)

    async def _stream_reply(self, request: Request, transcript: str, texts: list[str], rate: str,
                            timing: dict | None = None) -> None:
        """The framed answer (module docstring): the JSON, then a WAV per sentence as each is
        rendered, then an empty frame. A synthesis failure ends the audio early; the texts are
        already on their way."""
        loop = asyncio.get_running_loop()
        out = await request.respond(content_type=STREAM_CONTENT_TYPE, headers={"Cache-Control": "no-store"})
        header = {"transcript": transcript, "texts": texts, "rate": rate}
        try:
            await out.send(frame(json.dumps(header, ensure_ascii=False).encode("utf-8")))
            try:
                segments = await loop.run_in_executor(None, self._segments, texts, rate)
            except Exception:  # noqa: BLE001 - the texts reached the device
                log.exception("speech synthesis failed")
                segments = iter(())
            while True:
                try:
                    wav = await loop.run_in_executor(None, next, segments, None)
                except Exception:  # noqa: BLE001 - the texts reached the device
                    log.exception("speech synthesis failed")
                    wav = None
                if wav is None:
                    break
                await out.send(frame(wav))
                if timing is not None:  # where the time after the end of speech went, once per answer
                    log.info("voice stream of %s: %.1f s of audio; after its end: recognised %.3f s, dialogue "
                             "%.3f s, first sentence sent %.3f s", timing["device"], timing["seconds"],
                             timing["recognised"] - timing["end"], timing["answered"] - timing["recognised"],
                             time.perf_counter() - timing["answered"])
                    timing = None
            await out.send(frame(b""))
            await out.eof()
        except OSError as exc:  # the device hung up while it was being answered
            log.info("voice answer not delivered in full: %s", exc)

    async def _device(self, request: Request) -> str | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, authenticated_device, self.settings, request.method, request.path,
            dict(request.headers), request.body or b"")

    async def _rate(self, device_id: str) -> str:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, device_rate, device_id, self.settings.database.url)
        except Exception:  # noqa: BLE001
            log.exception("reading device settings failed")
            return "normal"

    @staticmethod
    async def _turn(handle, device_id: str, text: str) -> list[str]:
        """The turn pipeline for a transcript; what the device should say."""
        collector = VoiceOutput()
        try:  # the turn pipeline: input limits, then emergency words straight to the emergency action
            await handle(UserMessage(text, collector, sender_id=f"{CHANNEL}:{device_id}",
                                     input_channel=CHANNEL, metadata={"transcript": text}))
        except Exception:  # noqa: BLE001
            log.exception("dialogue failed for device %s", device_id)
            return [turn.BUSY]
        return spoken_texts(collector.messages) or [turn.TURN_FAILED]  # the turn broke off

    @staticmethod
    def _refused(exc: StreamRefused):
        log.warning("voice stream request refused (%s): %s", exc.status, exc.reason)
        return response.json({"error": exc.message}, status=exc.status)

    async def _signed_piece(self, request: Request) -> tuple[Optional[str], bytes, Any]:
        """The signing device and the PCM piece of a stream request, or the refusal to send."""
        device_id = await self._device(request)
        if device_id is None:
            return None, b"", response.json({"error": UNAUTHORIZED}, status=401)
        piece = request.body or b""
        if len(piece) % 2:  # 16-bit samples: an odd length is no PCM
            return device_id, b"", response.json({"error": BAD_PIECE}, status=400)
        return device_id, piece, None

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
            device_id = await self._device(request)
            if device_id is None:
                return response.json({"error": UNAUTHORIZED}, status=401)
            claimed, audio_bytes = self._parse(request)
            if claimed and claimed != device_id:
                log.warning("device %s sent device_id=%r; refused", device_id, claimed[:64])
                return response.json({"error": UNAUTHORIZED}, status=403)
            if not audio_bytes:
                return response.json({"error": "没有收到录音。"}, status=400)
            rate = await self._rate(device_id)
            try:
                text = await loop.run_in_executor(None, self._transcribe, audio_bytes)
            except Exception:  # noqa: BLE001 - model missing or broken: say so, politely
                log.exception("speech recognition unavailable")
                return await self._reply(request, "", [ASR_DOWN], rate)
            if not text:
                return await self._reply(request, "", [NOT_HEARD], rate)
            return await self._reply(request, text, await self._turn(handle, device_id, text), rate)

        @voice.route("/stream/start", methods=["POST"])
        async def stream_start(request: Request):
            device_id = await self._device(request)
            if device_id is None:
                return response.json({"error": UNAUTHORIZED}, status=401)
            try:
                wanted = json.loads(request.body) if request.body else {}
                if not isinstance(wanted, dict):
                    raise ValueError("not an object")
            except ValueError:
                return response.json({"error": BAD_PIECE}, status=400)
            if (str(wanted.get("format") or STREAM_FORMAT) != STREAM_FORMAT
                    or str(wanted.get("rate") or STREAM_SAMPLE_RATE) != str(STREAM_SAMPLE_RATE)):
                return response.json({"error": BAD_PIECE}, status=400)
            rate = await self._rate(device_id)
            loop = asyncio.get_running_loop()
            try:
                utterance = await loop.run_in_executor(None, self.streams.open, device_id, self._new_stream, rate)
            except StreamRefused as exc:
                return self._refused(exc)
            except Exception:  # noqa: BLE001 - no recogniser: the device says so
                log.exception("speech recognition unavailable")
                return response.json({"error": ASR_DOWN}, status=503)
            limits = self.streams.limits
            return response.json({"utterance": utterance.id, "format": STREAM_FORMAT, "rate": STREAM_SAMPLE_RATE,
                                  "max_seconds": limits.max_seconds, "idle_seconds": limits.idle_seconds,
                                  "max_piece_bytes": limits.max_piece_bytes})

        @voice.route("/stream/<utterance>/chunk/<seq:int>", methods=["POST"])
        async def stream_chunk(request: Request, utterance: str, seq: int):
            device_id, piece, refused = await self._signed_piece(request)
            if refused is not None:
                return refused
            try:
                self.streams.piece(utterance, device_id, seq, piece)
            except StreamRefused as exc:
                return self._refused(exc)
            return response.json({"next": seq + 1})

        @voice.route("/stream/<utterance>/end/<seq:int>", methods=["POST"])
        async def stream_end(request: Request, utterance: str, seq: int):
            device_id, piece, refused = await self._signed_piece(request)
            if refused is not None:
                return refused
            try:
                ended = self.streams.end(utterance, device_id, seq, piece)
            except StreamRefused as exc:
                return self._refused(exc)
            loop = asyncio.get_running_loop()
            timing = {"device": device_id, "seconds": ended.bytes / (2 * STREAM_SAMPLE_RATE), "end": time.perf_counter()}
            try:
                transcript = await loop.run_in_executor(None, ended.finish, FINISH_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - the recogniser broke: say so, politely
                log.exception("streamed speech recognition failed")
                return await self._stream_reply(request, "", [ASR_DOWN], ended.speech_rate)
            text = (getattr(transcript, "text", "") or "").strip()
            if not text:
                return await self._stream_reply(request, "", [NOT_HEARD], ended.speech_rate)
            timing["recognised"] = time.perf_counter()
            texts = await self._turn(handle, device_id, text)
            timing["answered"] = time.perf_counter()
            return await self._stream_reply(request, text, texts, ended.speech_rate, timing)

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
