"""A recogniser test double for the ASR boundary only (the Chinese Vosk model cannot be
downloaded on CI machines). Everything around it is real: the upload is decoded and
normalised by speech.audio (garbage raises AudioError, silence gives no text), and the
"recognised" text is whatever the test registered for those exact audio bytes.

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
    path = registry_path()
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    known[hashlib.sha256(audio_bytes).hexdigest()] = text
    path.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")


class KnownTranscripts:
    def transcribe(self, audio_bytes: bytes) -> Transcript:
        pcm = audio.normalise(audio_bytes)
        if audio.is_silent(pcm):
            return Transcript(text="")
        path = registry_path()
        known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return Transcript(text=known.get(hashlib.sha256(audio_bytes).hexdigest(), ""), confidence=1.0)
