"""The recogniser process's wire format: Wyoming events (rhasspy's protocol for speech services),
the small subset a speech recogniser needs. Shared by the server (:mod:`speech.server`) and the
client backend (:mod:`speech.remote`); no Vosk, no sockets here.

An event is one line of UTF-8 JSON, the header, then ``data_length`` bytes of UTF-8 JSON (the
event's data, an object) and ``payload_length`` bytes of binary payload::

    {"type": "audio-chunk", "data_length": 44, "payload_length": 8000}\\n
    {"rate": 16000, "width": 2, "channels": 1}<8000 bytes of PCM>

A header may carry its data inline instead (``"data": {...}``, older Wyoming peers); both are read.

One utterance on a connection (the client speaks first; several utterances may follow in turn)::

    → audio-start   {"rate": 16000, "width": 2, "channels": 1}
    → audio-chunk   the same data; payload: the next piece, mono s16le PCM at 16 kHz (any length)
    → audio-stop    {}
    ← transcript    {"text": "…", "raw_text": "…", "confidence": 0.93,
                     "words": [{"word": "…", "conf": 0.9, "start": 0.3, "end": 0.6}, …]}
      or error      {"text": "<English, for the log>", "code": "model-missing" | "bad-request" | "failed"}

``describe`` is answered with ``info`` (``{"asr": [{"name": "vosk", "installed": …, "models":
[{"name": <model folder>, "installed": …}]}], "state": "loading" | "ready" | "no-model",
"problem": "…"}``): whether the model is in, for start-up and health checks.
Wyoming's optional ``transcribe`` event before ``audio-start`` is accepted and ignored.
"""
from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any, BinaryIO

RATE, WIDTH, CHANNELS = 16000, 2, 1
AUDIO_FORMAT = {"rate": RATE, "width": WIDTH, "channels": CHANNELS}
MAX_HEADER_BYTES = 64 * 1024
MAX_DATA_BYTES = 1024 * 1024
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # 2 minutes of audio in one chunk; clients send far less


def parse_address(address: str) -> tuple[int, Any]:
    """``(family, target)`` for ``socket``: a path (anything with a ``/``) is a Unix socket,
    ``HOST:PORT`` (``[::1]:PORT`` for IPv6) is TCP."""
    if "/" in address:
        return socket.AF_UNIX, address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"not a recogniser address (a socket path or HOST:PORT): {address!r}")
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


class ProtocolError(ValueError):
    """Bytes that are not an event (or one over the size limits)."""


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""

    def encode(self) -> bytes:
        data = json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") if self.data else b""
        header = {"type": self.type, "data_length": len(data), "payload_length": len(self.payload)}
        return json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + data + self.payload


def _header(line: bytes) -> tuple[str, dict, int, int]:
    """(type, inline data, data length, payload length) of a header line."""
    try:
        header = json.loads(line)
        kind = header["type"]
        inline = header.get("data") or {}
        data_length = int(header.get("data_length") or 0)
        payload_length = int(header.get("payload_length") or 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"not an event header: {line[:80]!r}") from None
    if not isinstance(kind, str) or not isinstance(inline, dict):
        raise ProtocolError(f"not an event header: {line[:80]!r}")
    if not 0 <= data_length <= MAX_DATA_BYTES or not 0 <= payload_length <= MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"event {kind!r} too big ({data_length} + {payload_length} bytes)")
    return kind, inline, data_length, payload_length


def _event(kind: str, inline: dict, data: bytes, payload: bytes) -> Event:
    if data:
        try:
            extra = json.loads(data)
        except ValueError:
            raise ProtocolError(f"event {kind!r}: its data is not JSON") from None
        if not isinstance(extra, dict):
            raise ProtocolError(f"event {kind!r}: its data is not an object")
        inline = {**inline, **extra}
    return Event(kind, inline, payload)


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None at the end of the stream (between events)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ProtocolError("the stream ended inside an event header") from None
        return None
    except asyncio.LimitOverrunError:
        raise ProtocolError("event header too long") from None
    kind, inline, data_length, payload_length = _header(line)
    try:
        data = await reader.readexactly(data_length) if data_length else b""
        payload = await reader.readexactly(payload_length) if payload_length else b""
    except asyncio.IncompleteReadError:
        raise ProtocolError(f"the stream ended inside event {kind!r}") from None
    return _event(kind, inline, data, payload)


def read_event_from(stream: BinaryIO) -> Event | None:
    """The blocking twin of :func:`read_event`, for a socket's ``makefile("rb")``."""
    line = stream.readline(MAX_HEADER_BYTES + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ProtocolError("event header too long or cut off")
    kind, inline, data_length, payload_length = _header(line)
    data, payload = stream.read(data_length), stream.read(payload_length)
    if len(data) != data_length or len(payload) != payload_length:
        raise ProtocolError(f"the stream ended inside event {kind!r}")
    return _event(kind, inline, data, payload)


def transcript_event(transcript: Any) -> Event:
    """A ``speech.asr.Transcript`` as a ``transcript`` event."""
    return Event("transcript", {
        "text": transcript.text, "raw_text": transcript.raw_text, "confidence": transcript.confidence,
        "words": [{"word": w.word, "conf": w.conf, "start": w.start, "end": w.end} for w in transcript.words]})


def transcript_of(event: Event) -> Any:
    """The ``speech.asr.Transcript`` a ``transcript`` event carries."""
    from speech.asr import Transcript, Word

    data = event.data
    try:
        words = [Word(str(w["word"]), float(w.get("conf", 0.0)), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
                 for w in data.get("words") or []]
        return Transcript(text=str(data.get("text") or ""), words=words,
                          confidence=float(data.get("confidence") or 0.0), raw_text=str(data.get("raw_text") or ""))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ProtocolError("a transcript event that is not one") from None
