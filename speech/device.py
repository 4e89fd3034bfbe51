"""Push-to-talk client for the small one-button device.

Command line::

    python -m speech.device                         # microphone, press Enter to talk
    python -m speech.device --button gpio --gpio-pin 17     # hold the button to talk
    python -m speech.device --wav question.wav --out answer.wav   # headless, one request
    python -m speech.device --flush-queue           # resend queued recordings now

Each recording is POSTed to ``--server`` (default
``http://127.0.0.1:5005/webhooks/voice/webhook``) as ``multipart/form-data`` with the fields
``device_id`` and ``audio`` (a WAV file); the answer is JSON
``{"transcript": str, "texts": [str, ...], "audio_wav_base64": str}``.

Streaming (the default when the server has it, see :mod:`bot.channels.voice`): when the button
is pressed the device opens an utterance (``…/webhooks/voice/stream/start``) and uploads the
recording in quarter-second pieces of 16 kHz PCM while the user is still speaking (a background
thread), so the server recognises as it goes; at release it sends the last piece with ``…/end``
and plays the answer's sentences as they arrive, the first while the server is still rendering
the others. A server without streaming (404), or any failure before the end, and the device
sends the one-shot upload instead (``--no-stream`` always does).

Every request is signed with the device's own key (:func:`bot.security.signing.signed_headers`
over the exact bytes sent), read from ``--key-file`` (default ``XIANGYIN_DEVICE_KEY_FILE`` or
``<var>/device.key``, mode 0600, written when the device is provisioned). Without a key file
requests go unsigned, and a server that requires signatures refuses them.

Messages for the household (or, on a staff member's device, for that person) wait on the server
— "王秀兰已经收到，正在赶过去", the 回访 question, "村里有一条新通知，要听吗" — and the device
fetches them between button presses (every ``--poll`` seconds) and on each press, from
``--inbox`` (default: the server's ``/webhooks/voice_inbox``): it plays a chime and each message,
then confirms them. It stops after a message that asks something: the next press answers it
(the server has opened that conversation). ``--inbox-only`` fetches and plays once and exits.

When the server cannot be reached (connection refused, timeout, 5xx) the recording is kept
in ``<var>/device-queue/`` (``--queue-dir``), the user hears (or, without a speaker, the
console shows) "网络不太好，我稍后再帮您发送", and queued recordings are sent again, oldest
first, on the next press and while idle, with exponential backoff.

Microphone mode uses ``sounddevice`` (16 kHz mono), plays a rising chime when listening
starts and a falling one when it stops, and ends the recording by itself after
``--silence`` seconds of quiet following speech, ``--max-seconds`` in all, or when the
button is pressed again (keyboard) / released (GPIO, needs ``gpiozero``).

Exit codes (``--wav``/``--flush-queue``): 0 answered, 3 queued because the server is
unreachable, 4 the server rejected the request, 1 any other error.

Python API: :class:`VoiceClient` (``send``, ``enqueue``, ``flush``, ``submit``, ``poll``,
``ack``; streaming: ``open_stream`` → :class:`StreamUpload` ``feed``/``finish``, ``ask``),
:class:`DeviceInbox` (``check``: fetch, play, confirm), :class:`Reply`, :func:`read_frames`,
:class:`EndpointDetector`, :func:`tone`, :func:`play_wav`.
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import queue
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from bot.config import ServerSettings, Settings, load_settings

from . import audio

log = logging.getLogger("speech.device")

DEFAULT_SERVER = ServerSettings.voice_url  # http://127.0.0.1:5005/webhooks/voice/webhook
RATE = audio.SAMPLE_RATE
FRAME_MS = 30

MSG_NETWORK = "网络不太好，我稍后再帮您发送。"
MSG_QUEUED_REPLY = "刚才没发出去的问题，现在有回复了。"
MSG_NOT_HEARD = "我没有听清，请按住按钮再说一遍。"
MSG_REJECTED = "这句话没有处理好，请再说一遍。"
MSG_NOT_REGISTERED = "这台设备还没有登记，请找村里帮忙设置。"
INBOX_PATH = "/webhooks/voice_inbox"
STREAM_PATH = "/webhooks/voice/stream"
STREAM_CONTENT_TYPE = "application/x-xiangyin-voice-frames"
PIECE_SECONDS = 0.25  # audio per streamed piece (the recogniser works in 0.25 s steps)
MAX_FRAME_BYTES = 64 * 1024 * 1024

EXIT_OK, EXIT_ERROR, EXIT_QUEUED, EXIT_REJECTED = 0, 1, 3, 4


def default_queue_dir(settings: Settings | None = None) -> Path:
    return (settings or load_settings()).var_dir / "device-queue"


class ServerUnavailable(Exception):
    """The server could not be reached or failed (network, timeout, 5xx): retry later."""


class RequestRejected(ValueError):
    """The server answered 4xx or with unusable JSON: retrying will not help."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StreamUnsupported(RequestRejected):
    """The server has no streaming endpoint (an older server): use the one-shot upload."""


def inbox_url_for(server: str) -> str:
    """The voice inbox next to a voice webhook URL (same scheme, host and port)."""
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, INBOX_PATH, "", ""))


def stream_url_for(server: str) -> str:
    """The streaming endpoints next to a voice webhook URL (``…/webhooks/voice/stream``)."""
    parts = urlsplit(server)
    path = parts.path.rstrip("/")
    path = path[: -len("/webhook")] + "/stream" if path.endswith("/webhook") else STREAM_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def read_frames(chunks) -> "Iterator[bytes]":
    """The frames of a streamed answer (4-byte big-endian length, then the bytes) from an
    iterable of byte chunks, each as soon as it is complete; stops after the empty frame.
    RequestRejected when the stream ends inside a frame or without the empty frame."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 4:
            (size,) = struct.unpack(">I", bytes(buffer[:4]))
            if size > MAX_FRAME_BYTES:
                raise RequestRejected(f"frame of {size} bytes")
            if len(buffer) < 4 + size:
                break
            payload = bytes(buffer[4:4 + size])
            del buffer[:4 + size]
            yield payload
            if size == 0:
                return
    raise RequestRejected("the streamed answer broke off")


def join_wavs(wavs: list[bytes]) -> bytes:
    """One WAV of several 16-bit mono WAVs of the same rate (the streamed sentences)."""
    pcm, rate = [], audio.SAMPLE_RATE
    for wav in wavs:
        data, rate, _channels = audio.read_wav(wav)
        pcm.append(data)
    return audio.pcm_to_wav(b"".join(pcm), rate) if wavs else b""


def load_key(path: str | os.PathLike | None) -> str | None:
    """The device key in ``path`` (hex), or None when there is no such file."""
    if not path:
        return None
    from bot.security.signing import read_key_file

    try:
        return read_key_file(Path(path))
    except FileNotFoundError:
        return None


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body built here, so that the bytes signed are the bytes sent;
    returns (body, content type)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode("utf-8") + b"\r\n")
    for name, (filename, data, content_type) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Reply:
    transcript: str = ""
    texts: list[str] = field(default_factory=list)
    audio_wav: bytes = b""
    played: bool = False  # streamed: its sentences were handed to the player as they arrived
    streamed: bool = False

    @classmethod
    def from_json(cls, data: dict) -> "Reply":
        if not isinstance(data, dict):
            raise RequestRejected("server answer is not a JSON object")
        texts = data.get("texts") or []
        if isinstance(texts, str):
            texts = [texts]
        wav = b""
        if data.get("audio_wav_base64"):
            try:
                wav = base64.b64decode(data["audio_wav_base64"], validate=False)
            except (ValueError, TypeError) as exc:
                raise RequestRejected(f"bad audio_wav_base64: {exc}") from exc
        return cls(str(data.get("transcript") or ""), [str(t) for t in texts], wav)

    def to_json(self) -> dict:
        return {"transcript": self.transcript, "texts": self.texts,
                "audio_wav_bytes": len(self.audio_wav)}


@dataclass(frozen=True)
class InboxMessage:
    """A message waiting on the server for this device."""

    id: int
    kind: str
    text: str
    expects: str | None = None  # it asks something: the next press answers it

    @classmethod
    def from_json(cls, data: dict) -> "InboxMessage":
        return cls(int(data["id"]), str(data.get("kind") or ""), str(data.get("text") or ""),
                   data.get("expects") or None)


@dataclass
class QueueItem:
    audio_path: Path
    meta_path: Path
    meta: dict

    @property
    def next_try(self) -> float:
        return float(self.meta.get("next_try", 0))


# --------------------------------------------------------------------------- HTTP client


class VoiceClient:
    """Posts recordings to the voice webhook and keeps a retry queue on disk."""

    def __init__(self, server: str = DEFAULT_SERVER, device_id: str | None = None, *,
                 queue_dir: str | os.PathLike | None = None, timeout: float = 30.0,
                 connect_timeout: float = 5.0, backoff_base: float = 5.0,
                 backoff_max: float = 300.0, max_queue: int = 50,
                 max_age_s: float = 24 * 3600, settings: Settings | None = None,
                 key: str | None = None, inbox_url: str | None = None) -> None:
        if not (device_id and queue_dir):
            settings = settings or load_settings()
        self.server = server
        self.key = key  # hex; None: requests go unsigned
        self.inbox_url = (inbox_url or inbox_url_for(server)).rstrip("/")
        self.device_id = device_id or settings.speech.device_id or socket.gethostname()
        self.queue_dir = Path(queue_dir) if queue_dir else default_queue_dir(settings)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_queue = max_queue
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self.stream_url = stream_url_for(server)
        self.streaming: bool | None = None  # None: not tried yet; False: the server has no streaming

    # -- signed requests

    def _request(self, method: str, url: str, body: bytes = b"", content_type: str | None = None) -> dict:
        """One signed request; the JSON answer. ServerUnavailable / RequestRejected otherwise."""
        import httpx

        headers = self._headers(method, url, body, content_type)
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            resp = httpx.request(method, url, content=body if method != "GET" else None, headers=headers,
                                 timeout=timeout)
        except (httpx.TransportError, OSError) as exc:  # connect/read errors and timeouts
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise ServerUnavailable(f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise RequestRejected(f"HTTP {resp.status_code}: {resp.text[:200]}", resp.status_code)
        try:
            return resp.json()
        except ValueError as exc:
            raise RequestRejected(f"server answer is not JSON: {resp.text[:200]!r}") from exc

    def _headers(self, method: str, url: str, body: bytes, content_type: str | None) -> dict[str, str]:
        headers = {"Content-Type": content_type} if content_type else {}
        if self.key:
            from bot.security.signing import signed_headers

            headers.update(signed_headers(self.device_id, self.key, method, urlsplit(url).path, body))
        return headers

    # -- streaming: the recording goes up while the user speaks

    def open_stream(self, piece_seconds: float = PIECE_SECONDS) -> "StreamUpload | None":
        """A streamed utterance (opened in the background), or None when the server is known
        to have no streaming."""
        if self.streaming is False:
            return None
        return StreamUpload(self, piece_seconds)

    def _start_stream(self) -> str:
        body = json.dumps({"format": "s16le", "rate": RATE}).encode()
        try:
            answer = self._request("POST", f"{self.stream_url}/start", body, "application/json")
        except RequestRejected as exc:
            if exc.status in (404, 405):
                self.streaming = False
                raise StreamUnsupported(str(exc), exc.status) from exc
            raise
        utterance = str(answer.get("utterance") or "") if isinstance(answer, dict) else ""
        if not utterance.isalnum():
            raise RequestRejected(f"unusable stream answer: {answer!r}")
        self.streaming = True
        return utterance

    def _send_piece(self, utterance: str, seq: int, pcm: bytes) -> None:
        self._request("POST", f"{self.stream_url}/{utterance}/chunk/{seq}", pcm, "application/octet-stream")

    def _end_stream(self, utterance: str, seq: int, pcm: bytes,
                    on_segment: Callable[[bytes], None] | None = None) -> Reply:
        """Ends the utterance and reads the framed answer, handing each sentence's WAV to
        ``on_segment`` as soon as it has arrived."""
        import httpx

        url = f"{self.stream_url}/{utterance}/end/{seq}"
        headers = self._headers("POST", url, pcm, "application/octet-stream")
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            with httpx.stream("POST", url, content=pcm, headers=headers, timeout=timeout) as resp:
                if resp.status_code >= 500 or resp.status_code in (408, 429):
                    raise ServerUnavailable(f"HTTP {resp.status_code}")
                if resp.status_code >= 400:
                    resp.read()
                    raise RequestRejected(f"HTTP {resp.status_code}: {resp.text[:200]}", resp.status_code)
                frames = read_frames(resp.iter_bytes())
                try:
                    header = json.loads(next(frames).decode("utf-8"))
                except (StopIteration, ValueError) as exc:
                    raise RequestRejected(f"unusable streamed answer: {exc}") from exc
                reply = Reply.from_json(header)
                segments = []
                for wav in frames:
                    if not wav:
                        break
                    segments.append(wav)
                    if on_segment is not None:
                        on_segment(wav)
        except (httpx.TransportError, OSError) as exc:
            raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        reply.audio_wav = join_wavs(segments)
        reply.played, reply.streamed = on_segment is not None and bool(segments), True
        return reply

    def ask(self, pcm: bytes, on_segment: Callable[[bytes], None] | None = None,
            upload: "StreamUpload | None" = None,
            original: tuple[bytes, str, str] | None = None) -> Reply | None:
        """One question, 16 kHz mono PCM: streamed when the server can (``upload``: an utterance
        already fed while recording; else it is opened and fed here), else the one-shot upload
        (of ``original`` = (bytes, file name, content type) when given, else of ``pcm`` as WAV).
        None when the server is unreachable (the recording is queued, as :meth:`submit`)."""
        recording = original or (audio.pcm_to_wav(pcm), "speech.wav", "audio/wav")
        if upload is None:
            upload = self.open_stream()
            if upload is not None:
                upload.feed(pcm)
        if upload is not None:
            try:
                return upload.finish(on_segment)
            except StreamUnsupported:
                log.info("the server has no streaming; sending the whole recording")
            except (ServerUnavailable, RequestRejected) as exc:
                if upload.ending and isinstance(exc, ServerUnavailable):
                    log.info("server unreachable at the end of a streamed question (%s); queueing it", exc)
                    self.enqueue(*recording)
                    return None
                log.info("streaming failed (%s); sending the whole recording", exc)
        return self.submit(*recording)

    # -- sending

    def send(self, data: bytes, filename: str = "speech.wav",
             content_type: str = "audio/wav") -> Reply:
        body, form_type = multipart({"device_id": self.device_id}, {"audio": (filename, data, content_type)})
        return Reply.from_json(self._request("POST", self.server, body, form_type))

    # -- the inbox: messages waiting on the server for this device

    def poll(self) -> list[InboxMessage]:
        """What is waiting, oldest first (nothing is marked delivered until :meth:`ack`)."""
        answer = self._request("GET", f"{self.inbox_url}/messages")
        try:
            return [InboxMessage.from_json(m) for m in answer.get("messages") or []]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RequestRejected(f"unusable inbox answer: {exc}") from exc

    def ack(self, ids: list[int]) -> dict:
        """These messages were played: the server marks them delivered."""
        body = json.dumps({"ids": list(ids)}).encode()
        return self._request("POST", f"{self.inbox_url}/ack", body, "application/json")

    # -- queue

    def enqueue(self, data: bytes, filename: str = "speech.wav",
                content_type: str = "audio/wav") -> Path:
        """Keep a recording for later; returns the stored audio path."""
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # sorts oldest first
        suffix = Path(filename).suffix or ".wav"
        audio_path = self.queue_dir / f"{stem}{suffix}"
        meta = {"device_id": self.device_id, "created": time.time(), "attempts": 0,
                "next_try": time.time() + self.backoff_base, "filename": filename,
                "content_type": content_type}
        _atomic_write(audio_path, data)
        _atomic_write(audio_path.with_suffix(".json"), json.dumps(meta).encode())
        self._trim_queue()
        return audio_path

    def pending(self) -> list[QueueItem]:
        if not self.queue_dir.is_dir():
            return []
        items = []
        for meta_path in sorted(self.queue_dir.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                meta = {}
            matches = [p for p in self.queue_dir.glob(meta_path.stem + ".*") if p.suffix != ".json"
                       and not p.name.endswith(".tmp")]
            if not matches:
                meta_path.unlink(missing_ok=True)
                continue
            items.append(QueueItem(matches[0], meta_path, meta))
        return items

    def _drop(self, item: QueueItem) -> None:
        item.audio_path.unlink(missing_ok=True)
        item.meta_path.unlink(missing_ok=True)

    def _trim_queue(self) -> None:
        items = self.pending()
        now = time.time()
        for item in items:
            if now - float(item.meta.get("created", now)) > self.max_age_s:
                log.info("dropping stale queued recording %s", item.audio_path.name)
                self._drop(item)
        items = self.pending()
        for item in items[: max(0, len(items) - self.max_queue)]:
            log.info("queue full, dropping %s", item.audio_path.name)
            self._drop(item)

    def flush(self, *, force: bool = False,
              on_reply: Callable[[Reply, QueueItem], None] | None = None) -> tuple[int, int]:
        """Resend queued recordings, oldest first; returns ``(sent, still_pending)``.

        Items whose backoff has not expired are skipped unless ``force``.  Stops at the
        first unreachable-server failure (and pushes that item's next try back).
        """
        with self._lock:
            self._trim_queue()
            sent = 0
            now = time.time()
            for item in self.pending():
                if not force and item.next_try > now:
                    continue
                try:
                    data = item.audio_path.read_bytes()
                    reply = self.send(data, item.meta.get("filename", item.audio_path.name),
                                      item.meta.get("content_type", "audio/wav"))
                except ServerUnavailable as exc:
                    attempts = int(item.meta.get("attempts", 0)) + 1
                    delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
                    item.meta.update(attempts=attempts, next_try=time.time() + delay,
                                     retry_delay=delay, last_error=str(exc))
                    _atomic_write(item.meta_path, json.dumps(item.meta).encode())
                    log.info("server still unreachable (%s); next try in %.0f s", exc, delay)
                    break
                except RequestRejected as exc:
                    log.warning("server rejected queued %s: %s; dropping it",
                                item.audio_path.name, exc)
                    self._drop(item)
                    continue
                except OSError as exc:
                    log.warning("cannot read queued %s: %s", item.audio_path, exc)
                    self._drop(item)
                    continue
                self._drop(item)
                sent += 1
                if on_reply:
                    on_reply(reply, item)
            return sent, len(self.pending())

    def submit(self, data: bytes, filename: str = "speech.wav",
               content_type: str = "audio/wav") -> Reply | None:
        """Send now; on an unreachable server queue it and return None."""
        try:
            return self.send(data, filename, content_type)
        except ServerUnavailable as exc:
            log.info("server unreachable (%s); queueing the recording", exc)
            self.enqueue(data, filename, content_type)
            return None


class StreamUpload:
    """One streamed utterance of a :class:`VoiceClient`. ``feed`` PCM as it is recorded (it never
    blocks: a background thread opens the utterance and uploads a piece every ``piece_seconds``
    of audio, in order); ``finish`` sends the rest and returns the answer. The first failure
    stops the uploads and is raised by ``finish`` (the caller sends the one-shot upload)."""

    def __init__(self, client: VoiceClient, piece_seconds: float = PIECE_SECONDS) -> None:
        self.client = client
        self.piece_bytes = max(2, int(RATE * piece_seconds) * 2)
        self.utterance: str | None = None
        self.sent = 0  # pieces uploaded
        self.error: Exception | None = None
        self.ending = False  # the end request has gone out
        self._buffer = bytearray()
        self._pieces: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._upload, name="voice-stream", daemon=True)
        self._thread.start()

    def feed(self, pcm: bytes) -> None:
        self._buffer += pcm
        while len(self._buffer) >= self.piece_bytes:
            self._pieces.put(bytes(self._buffer[:self.piece_bytes]))
            del self._buffer[:self.piece_bytes]

    def _upload(self) -> None:
        try:
            self.utterance = self.client._start_stream()
        except Exception as exc:  # noqa: BLE001 - raised by finish()
            self.error = exc
        while True:
            piece = self._pieces.get()
            if piece is None:
                return
            if self.error is not None:
                continue
            try:
                self.client._send_piece(self.utterance, self.sent, piece)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - raised by finish()
                self.error = exc

    def finish(self, on_segment: Callable[[bytes], None] | None = None) -> Reply:
        """Waits for the pieces in flight, ends the utterance with the rest of the audio and
        reads the answer (see :meth:`VoiceClient._end_stream`)."""
        self._pieces.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error
        tail, self._buffer = bytes(self._buffer), bytearray()
        self.ending = True
        return self.client._end_stream(self.utterance, self.sent, tail, on_segment)

    def abandon(self) -> None:
        """Stops uploading (the server drops the utterance when it goes idle)."""
        self.error = self.error or RuntimeError("abandoned")
        self._pieces.put(None)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- inbox


class DeviceInbox:
    """Fetches what waits for the device, plays it, confirms it (see the module docstring)."""

    REMEMBERED = 200  # ids of played messages kept, so a lost confirmation never replays one

    def __init__(self, client: VoiceClient, speaker: "Speaker") -> None:
        self.client, self.speaker = client, speaker
        self.played: list[int] = []
        self.error: Exception | None = None  # why the last check could not fetch anything

    def check(self) -> InboxMessage | None:
        """One round: play every new message (a chime before each) up to and including the first
        that asks something, and confirm them. Returns that question, else None. A server that
        cannot be reached, or has no inbox, only means nothing is played now."""
        self.error = None
        try:
            waiting = self.client.poll()
        except (ServerUnavailable, RequestRejected) as exc:
            log.info("inbox not checked: %s", exc)
            self.error = exc
            return None
        done, question = [], None
        for message in waiting:
            if message.id not in self.played:
                self.speaker.message(message.text)
                self.played = (self.played + [message.id])[-self.REMEMBERED:]
            done.append(message.id)
            if message.expects:
                question = message
                break
        if done:
            try:
                self.client.ack(done)
            except (ServerUnavailable, RequestRejected) as exc:  # played; confirmed on the next round
                log.info("inbox confirmation failed: %s", exc)
        return question


# --------------------------------------------------------------------------- sound


def tone(freqs: list[float], seconds: float = 0.12, rate: int = RATE,
         volume: float = 0.3) -> bytes:
    """Consecutive sine tones with 10 ms fades (no clicks), as 16-bit mono PCM."""
    parts = []
    n = int(rate * seconds)
    t = np.arange(n) / rate
    fade = min(n // 2, int(rate * 0.01))
    env = np.ones(n)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        env[:fade] = ramp
        env[-fade:] = ramp[::-1]
    for f in freqs:
        parts.append(np.sin(2 * np.pi * f * t) * env * volume)
    samples = np.concatenate(parts) if parts else np.zeros(0)
    return (samples * 32767).astype("<i2").tobytes()


START_CHIME = tone([660.0, 880.0])
STOP_CHIME = tone([880.0, 660.0])
MESSAGE_CHIME = tone([523.0, 659.0, 784.0], 0.15)  # "a message for you": three rising notes


def play_pcm(pcm: bytes, rate: int = RATE) -> None:
    """Play 16-bit mono PCM on the default output (sounddevice, else aplay)."""
    try:
        import sounddevice as sd

        samples = np.frombuffer(pcm, dtype="<i2")
        sd.play(samples, rate, blocking=True)
        return
    except Exception as exc:  # no PortAudio device, no library...
        player = shutil.which("aplay")
        if not player:
            raise OSError(f"no audio output available: {exc}") from exc
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        tmp.write(audio.pcm_to_wav(pcm, rate))
        tmp.flush()
        subprocess.run([player, "-q", tmp.name], check=True, timeout=120)  # nosec B603 - aplay on our own temp file


def play_wav(wav: bytes) -> None:
    pcm, rate, channels = audio.read_wav(wav)
    if channels != 1:
        pcm = audio.normalise(pcm, raw=audio.RawFormat(rate, channels), rate=rate)
    play_pcm(pcm, rate)


class Speaker:
    """Says things to the user: plays audio when possible, always logs the text."""

    def __init__(self, enabled: bool = True, out: Callable[[str], None] | None = None) -> None:
        self.enabled = enabled
        self.out = out or (lambda s: print(s, flush=True))

    def chime(self, pcm: bytes) -> None:
        if self.enabled:
            try:
                play_pcm(pcm)
            except OSError as exc:
                log.debug("chime not played: %s", exc)

    def say(self, text: str) -> None:
        """Speak a local message with the offline voice (printed too)."""
        self.out(text)
        if not self.enabled:
            return
        try:
            from . import tts

            play_wav(tts.get_synthesizer().synthesize(text, rate="slow"))
        except Exception as exc:
            log.debug("local message not spoken: %s", exc)

    def message(self, text: str) -> None:
        """A message from the server (the inbox): a chime, then the text in the offline voice."""
        self.chime(MESSAGE_CHIME)
        self.say(text)

    def segment(self, wav: bytes) -> None:
        """One sentence of a streamed answer, played as soon as it has arrived."""
        if self.enabled:
            try:
                play_wav(wav)
            except Exception as exc:
                log.warning("answer not played: %s", exc)

    def reply(self, reply: Reply) -> None:
        if reply.transcript:
            self.out(f"[听到] {reply.transcript}")
        for text in reply.texts:
            self.out(text)
        if self.enabled and reply.audio_wav and not reply.played:
            try:
                play_wav(reply.audio_wav)
            except Exception as exc:
                log.warning("answer not played: %s", exc)


# --------------------------------------------------------------------------- end detection


class EndpointDetector:
    """Energy-based voice activity end detection for one recording.

    Feed 16-bit mono PCM frames; ``feed`` returns True once the recording should stop
    (``reason`` says why: "silence" after speech, "no_speech", or "max_length").  The
    threshold adapts to the room: noise floor of the first frames + ``margin_db``, never
    below ``min_threshold_dbfs``.
    """

    def __init__(self, rate: int = RATE, frame_ms: int = FRAME_MS, *, silence_s: float = 1.2,
                 max_seconds: float = 15.0, no_speech_s: float = 6.0, min_speech_s: float = 0.25,
                 margin_db: float = 12.0, min_threshold_dbfs: float = -50.0,
                 calibration_s: float = 0.3) -> None:
        self.rate = rate
        self.frame_s = frame_ms / 1000.0
        self.silence_s = silence_s
        self.max_seconds = max_seconds
        self.no_speech_s = no_speech_s
        self.min_speech_s = min_speech_s
        self.margin_db = margin_db
        self.min_threshold_dbfs = min_threshold_dbfs
        self.calibration_frames = max(1, int(calibration_s / self.frame_s))
        self._noise: list[float] = []
        self.elapsed = 0.0
        self.speech_s = 0.0
        self.trailing_silence = 0.0
        self.reason: str | None = None

    @property
    def threshold_dbfs(self) -> float:
        floor = float(np.median(self._noise)) if self._noise else -90.0
        return max(self.min_threshold_dbfs, floor + self.margin_db)

    @property
    def heard_speech(self) -> bool:
        return self.speech_s >= self.min_speech_s

    def feed(self, frame: bytes) -> bool:
        if self.reason:
            return True
        level = audio.rms_dbfs(frame)
        duration = len(frame) / 2 / self.rate
        self.elapsed += duration
        if len(self._noise) < self.calibration_frames and not self.speech_s:
            self._noise.append(min(level, -20.0))
        if level >= self.threshold_dbfs:
            self.speech_s += duration
            self.trailing_silence = 0.0
        else:
            self.trailing_silence += duration
        if self.heard_speech and self.trailing_silence >= self.silence_s:
            self.reason = "silence"
        elif not self.heard_speech and self.elapsed >= self.no_speech_s:
            self.reason = "no_speech"
        elif self.elapsed >= self.max_seconds:
            self.reason = "max_length"
        return self.reason is not None


# --------------------------------------------------------------------------- buttons


class KeyboardButton:
    """Enter starts a recording; Enter again (or the end of speech) stops it."""

    hold_to_talk = False

    def wait_for_press(self, timeout: float | None = None) -> bool:
        if timeout is None:
            sys.stdin.readline()
            return True
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        if ready:
            line = sys.stdin.readline()
            if line == "":  # EOF: no more presses will come
                raise EOFError
            return True
        return False

    def pressed_again(self) -> bool:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if ready:
            sys.stdin.readline()
            return True
        return False


class GpioButton:
    """A push button on a Raspberry Pi GPIO pin (gpiozero): hold to talk."""

    hold_to_talk = True

    def __init__(self, pin: int) -> None:
        try:
            from gpiozero import Button
        except ImportError as exc:
            raise SystemExit("gpiozero is not installed; use --button enter") from exc
        self._button = Button(pin, pull_up=True, bounce_time=0.05)

    def wait_for_press(self, timeout: float | None = None) -> bool:
        return bool(self._button.wait_for_press(timeout))

    def pressed_again(self) -> bool:
        return not self._button.is_pressed  # released: stop


def record(button, detector: EndpointDetector, on_frame: Callable[[bytes], None] | None = None) -> bytes:
    """Record from the microphone until the detector or the button ends it; ``on_frame`` gets
    each frame as it is recorded (the streamed upload)."""
    import sounddevice as sd

    frames: list[bytes] = []
    block = int(detector.rate * detector.frame_s)
    with sd.RawInputStream(samplerate=detector.rate, channels=1, dtype="int16",
                           blocksize=block) as stream:
        while True:
            data, _overflowed = stream.read(block)
            data = bytes(data)
            frames.append(data)
            if on_frame is not None:
                on_frame(data)
            if detector.feed(data):
                break
            if button.pressed_again():
                detector.reason = "button"
                break
    return b"".join(frames)


# --------------------------------------------------------------------------- CLI


def _content_type(path: Path) -> str:
    return {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
            ".opus": "audio/ogg", ".flac": "audio/flac", ".webm": "audio/webm",
            ".m4a": "audio/mp4"}.get(path.suffix.lower(), "application/octet-stream")


def _reply_sink(args, speaker: Speaker) -> Callable[[Reply, QueueItem], None]:
    def deliver(reply: Reply, item: QueueItem) -> None:
        if args.json:
            print(json.dumps({"queued": item.audio_path.name, **reply.to_json()},
                             ensure_ascii=False), flush=True)
        if args.reply_dir and reply.audio_wav:
            Path(args.reply_dir).mkdir(parents=True, exist_ok=True)
            (Path(args.reply_dir) / (item.audio_path.stem + ".wav")).write_bytes(reply.audio_wav)
        speaker.say(MSG_QUEUED_REPLY)
        speaker.reply(reply)
    return deliver


def _rejected(exc: RequestRejected) -> str:
    return MSG_NOT_REGISTERED if exc.status == 401 else MSG_REJECTED


def run_wav(args, client: VoiceClient, speaker: Speaker, inbox: DeviceInbox | None = None) -> int:
    path = Path(args.wav)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    client.flush(force=args.retry_now, on_reply=_reply_sink(args, speaker))
    if inbox is not None:  # a press: what is waiting is played first
        inbox.check()
    if not args.no_stream:
        try:
            pcm = audio.normalise(data)
        except audio.AudioError as exc:  # the server may still read it: the one-shot upload
            log.info("not streamed (%s)", exc)
            pcm = b""
        if pcm:
            on_segment = speaker.segment if not args.out else None
            try:
                reply = client.ask(pcm, on_segment, original=(data, path.name, _content_type(path)))
            except RequestRejected as exc:
                print(f"error: {exc}", file=sys.stderr)
                speaker.say(_rejected(exc))
                return EXIT_REJECTED
            if reply is None:
                speaker.say(MSG_NETWORK)
                return EXIT_QUEUED
            return _answered(args, speaker, reply)
    try:
        reply = client.send(data, path.name, _content_type(path))
    except ServerUnavailable as exc:
        client.enqueue(data, path.name, _content_type(path))
        log.info("server unreachable: %s", exc)
        speaker.say(MSG_NETWORK)
        return EXIT_QUEUED
    except RequestRejected as exc:
        print(f"error: {exc}", file=sys.stderr)
        speaker.say(_rejected(exc))
        return EXIT_REJECTED
    return _answered(args, speaker, reply)


def _answered(args, speaker: Speaker, reply: Reply) -> int:
    if args.json:
        print(json.dumps(reply.to_json(), ensure_ascii=False), flush=True)
    if args.out:
        Path(args.out).write_bytes(reply.audio_wav)
        speaker.enabled = False  # saved instead of played
    speaker.reply(reply)
    return EXIT_OK


def run_flush(args, client: VoiceClient, speaker: Speaker) -> int:
    _sent, left = client.flush(force=True, on_reply=_reply_sink(args, speaker))
    return EXIT_OK if left == 0 else EXIT_QUEUED


def run_inbox(args, client: VoiceClient, speaker: Speaker, inbox: DeviceInbox) -> int:
    """``--inbox-only``: fetch, play and confirm what is waiting, once."""
    inbox.check()
    if isinstance(inbox.error, ServerUnavailable):
        return EXIT_QUEUED
    if isinstance(inbox.error, RequestRejected):
        print(f"error: {inbox.error}", file=sys.stderr)
        speaker.say(_rejected(inbox.error))
        return EXIT_REJECTED
    return EXIT_OK


def run_microphone(args, client: VoiceClient, speaker: Speaker, inbox: DeviceInbox | None = None) -> int:
    button = GpioButton(args.gpio_pin) if args.button == "gpio" else KeyboardButton()
    hint = "按住按钮说话" if button.hold_to_talk else "按回车键开始说话，说完会自动结束"
    print(hint, flush=True)
    idle_poll = min(5.0, args.poll) if inbox is not None else 5.0
    next_check = 0.0
    while True:
        if inbox is not None and time.monotonic() >= next_check:  # between presses
            inbox.check()
            next_check = time.monotonic() + args.poll
        try:
            pressed = button.wait_for_press(timeout=idle_poll)
        except (EOFError, KeyboardInterrupt):
            return EXIT_OK
        if not pressed:
            client.flush(on_reply=_reply_sink(args, speaker))  # idle: retry with backoff
            continue
        client.flush(on_reply=_reply_sink(args, speaker))
        if inbox is not None and inbox.check() is not None and button.hold_to_talk and button.pressed_again():
            continue  # a question was played and the button let go: the next press answers it
        speaker.chime(START_CHIME)
        detector = EndpointDetector(silence_s=args.silence, max_seconds=args.max_seconds)
        upload = None if args.no_stream else client.open_stream()  # uploads while the user speaks
        try:
            pcm = record(button, detector, on_frame=upload.feed if upload is not None else None)
        except Exception as exc:
            log.error("microphone error: %s", exc)
            if upload is not None:
                upload.abandon()
            speaker.say("麦克风没有声音，请找人帮忙看一下。")
            continue
        speaker.chime(STOP_CHIME)
        if not detector.heard_speech:
            if upload is not None:
                upload.abandon()
            speaker.say(MSG_NOT_HEARD)
            continue
        reply = None
        try:
            if upload is not None:  # streamed; the one-shot upload if that fails before the end
                reply = client.ask(pcm, speaker.segment, upload=upload)
            else:
                reply = client.submit(audio.pcm_to_wav(pcm))
        except RequestRejected as exc:
            log.warning("server rejected the recording: %s", exc)
            speaker.say(_rejected(exc))
            continue
        if reply is None:
            speaker.say(MSG_NETWORK)
        else:
            speaker.reply(reply)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    settings = settings or load_settings()
    p = argparse.ArgumentParser(prog="python -m speech.device",
                                description="Xiangyin push-to-talk voice client.")
    p.add_argument("--server", default=settings.servers.voice_url,
                   help="voice webhook (default: XIANGYIN_VOICE_URL or %(default)s)")
    p.add_argument("--device-id", default=None, help="default: env XIANGYIN_DEVICE_ID or hostname")
    p.add_argument("--key-file", default=str(settings.speech.device_key_file),
                   help="the device key that signs every request (default: XIANGYIN_DEVICE_KEY_FILE or %(default)s)")
    p.add_argument("--inbox", default=None, help="voice inbox URL (default: the server's /webhooks/voice_inbox)")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between inbox checks while idle")
    p.add_argument("--no-inbox", action="store_true", help="never fetch messages waiting on the server")
    p.add_argument("--inbox-only", action="store_true", help="play what is waiting on the server once and exit")
    p.add_argument("--wav", help="send this audio file instead of using the microphone")
    p.add_argument("--out", help="save the answer's WAV here instead of playing it")
    p.add_argument("--reply-dir", help="also save answers to queued recordings here")
    p.add_argument("--json", action="store_true", help="print answers as JSON lines")
    p.add_argument("--no-play", action="store_true", help="never play sound, print only")
    p.add_argument("--no-stream", action="store_true",
                   help="always send the whole recording after the press (never stream while speaking)")
    p.add_argument("--flush-queue", action="store_true",
                   help="resend queued recordings now and exit")
    p.add_argument("--retry-now", action="store_true",
                   help="with --wav: resend queued recordings even if their backoff has not expired")
    p.add_argument("--queue-dir", help="default <var>/device-queue")
    p.add_argument("--timeout", type=float, default=60.0, help="answer timeout, seconds")
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--backoff", type=float, default=5.0, help="first retry delay, seconds")
    p.add_argument("--button", choices=("enter", "gpio"), default="enter")
    p.add_argument("--gpio-pin", type=int, default=17)
    p.add_argument("--silence", type=float, default=1.2,
                   help="seconds of quiet that end a recording")
    p.add_argument("--max-seconds", type=float, default=15.0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        key = load_key(args.key_file)
    except (OSError, ValueError) as exc:  # readable by others, unreadable: refuse to use it
        print(f"error: device key {args.key_file}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if key is None:
        log.warning("no device key at %s: requests go unsigned (provision the device first)", args.key_file)
    client = VoiceClient(args.server, args.device_id, queue_dir=args.queue_dir,
                         timeout=args.timeout, connect_timeout=args.connect_timeout,
                         backoff_base=args.backoff, settings=settings, key=key, inbox_url=args.inbox)
    speaker = Speaker(enabled=not args.no_play)
    inbox = None if args.no_inbox else DeviceInbox(client, speaker)
    if args.flush_queue:
        return run_flush(args, client, speaker)
    if args.inbox_only:
        return run_inbox(args, client, speaker, inbox or DeviceInbox(client, speaker))
    if args.wav:
        return run_wav(args, client, speaker, inbox)
    return run_microphone(args, client, speaker, inbox)


if __name__ == "__main__":
    sys.exit(main())
