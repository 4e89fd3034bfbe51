"""A recogniser test double for the ASR boundary only (the Chinese Vosk model cannot be
downloaded on CI machines). Everything around it is real: the upload is decoded and
normalised by speech.audio (garbage raises AudioError, silence gives no text), and the
"recognised" text is whatever the test registered for those exact audio bytes.

It has both shapes of the recogniser seam (bot/channels/recognition.py): ``transcribe`` for a
whole upload, and ``start_stream`` for an utterance streamed in pieces of 16 kHz PCM, which is
"recognised" at the end as the text registered for a recording whose normalised PCM is exactly
what was streamed (:func:`register` records both keys).

A server uses it when started with :func:`server_environment` (XIANGYIN_ASR_FACTORY names
this class, XIANGYIN_TEST_TRANSCRIPTS the registry file the test process writes to)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from speech import audio
from speech.asr import Transcript

FACTORY = "tests.support.asr_double:KnownTranscripts"


def server_environment(registry: Path) -> dict[str, str]:
    """The variables that make a server recognise speech through this double."""
    return {"XIANGYIN_ASR_FACTORY": FACTORY, "XIANGYIN_TEST_TRANSCRIPTS": str(registry)}


def registry_path() -> Path:
    from bot.config import load_settings

    path = load_settings().test.transcripts
    if path is None:
        raise RuntimeError("XIANGYIN_TEST_TRANSCRIPTS is not set: start the server with server_environment()")
    return path


def register(audio_bytes: bytes, text: str) -> None:
    """``text`` is what the double hears in this recording, uploaded whole or streamed as PCM."""
    path = registry_path()
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    known[hashlib.sha256(audio_bytes).hexdigest()] = text
    try:
        known[_pcm_key(audio.normalise(audio_bytes))] = text
    except audio.AudioError:
        pass  # not audio: only an upload of these bytes can be "recognised"
    path.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")


def _pcm_key(pcm: bytes) -> str:
    return "pcm:" + hashlib.sha256(pcm).hexdigest()


def _known() -> dict[str, str]:
    path = registry_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


class KnownTranscripts:
    def transcribe(self, audio_bytes: bytes) -> Transcript:
        pcm = audio.normalise(audio_bytes)
        if audio.is_silent(pcm):
            return Transcript(text="")
        return Transcript(text=_known().get(hashlib.sha256(audio_bytes).hexdigest(), ""), confidence=1.0)

    def start_stream(self) -> "KnownStream":
        return KnownStream()


class KnownStream:
    """One streamed utterance: the pieces are kept in order and looked up at the end."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._done = False

    def accept(self, pcm: bytes) -> None:
        if self._done:
            raise RuntimeError("the utterance has ended")
        self._pieces.append(bytes(pcm))

    def finish(self) -> Transcript:
        if self._done:
            raise RuntimeError("the utterance has ended")
        self._done = True
        pcm, self._pieces = b"".join(self._pieces), []
        if not pcm or audio.is_silent(pcm):
            return Transcript(text="")
        return Transcript(text=_known().get(_pcm_key(pcm), ""), confidence=1.0)

    def close(self) -> None:
        self._done, self._pieces = True, []
