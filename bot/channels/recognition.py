"""How a channel gets its speech recogniser: the one place that builds one, and the two shapes
a recogniser comes in.

``spec`` names a factory as ``"module:callable"`` (the voice channel's ``recognizer`` credential
or ``settings.speech.asr_factory``; tests plug in a double at the ASR boundary this way); without
one, the recogniser process at ``settings.speech.asr_server`` when set (what `make run` does: the
model lives in that process, not in this one), else the offline Vosk recogniser configured by
``settings.speech``, loaded into this process. Building is deferred to the first voice message:
loading a model takes seconds and may fail when none is installed.

The seam (both protocols are structural; nothing needs to inherit from them):

* :class:`BatchRecognizer` — ``transcribe(audio_bytes) -> Transcript``: one whole recording in
  any container (the one-shot upload).
* :class:`StreamingRecognizer` — ``start_stream() -> UtteranceStream``: an utterance fed as it is
  spoken, ``accept(pcm)`` piece by piece (16 kHz mono s16le, in order), ``finish() -> Transcript``
  at the end of speech, ``close()`` to drop it unfinished.

Backends, one file each: Vosk in this process (``speech/asr.py``: ``Recognizer`` is both), Vosk in
the recogniser process (``speech/remote.py``: ``RemoteRecognizer``, a client of
``speech/server.py``) and the test double (``tests/support/asr_double.py``).
:func:`utterance_stream` gives any recogniser the streaming shape: one without ``start_stream``
is wrapped in :class:`BufferedStream`, which collects the audio and transcribes it at the end
(correct, just not early).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, runtime_checkable

from bot.config import Settings

STREAM_SAMPLE_RATE = 16000  # what an utterance stream accepts: mono s16le PCM at this rate


@runtime_checkable
class BatchRecognizer(Protocol):
    def transcribe(self, audio_bytes: bytes) -> Any:
        """A ``speech.asr.Transcript`` (``.text``) for one recording in any audio container."""
        ...


@runtime_checkable
class UtteranceStream(Protocol):
    def accept(self, pcm: bytes) -> None:
        """Feed the next piece of the utterance: mono s16le PCM at 16 kHz."""
        ...

    def finish(self) -> Any:
        """The ``Transcript`` of everything accepted; the stream is done afterwards."""
        ...

    def close(self) -> None:
        """Drop the utterance unfinished (idempotent)."""
        ...


@runtime_checkable
class StreamingRecognizer(Protocol):
    def start_stream(self) -> UtteranceStream:
        ...


class BufferedStream:
    """The streaming shape for a batch-only recogniser: keeps the PCM, transcribes at the end."""

    def __init__(self, recognizer: BatchRecognizer) -> None:
        self._recognizer = recognizer
        self._pcm: list[bytes] = []

    def accept(self, pcm: bytes) -> None:
        self._pcm.append(bytes(pcm))

    def finish(self) -> Any:
        from speech.audio import pcm_to_wav

        pcm, self._pcm = b"".join(self._pcm), []
        return self._recognizer.transcribe(pcm_to_wav(pcm, STREAM_SAMPLE_RATE))

    def close(self) -> None:
        self._pcm = []


def utterance_stream(recognizer: Any) -> UtteranceStream:
    """A new utterance stream of ``recognizer`` (buffered when it only does whole recordings)."""
    if isinstance(recognizer, StreamingRecognizer):
        return recognizer.start_stream()
    return BufferedStream(recognizer)


def recognizer_factory(spec: str | None = None, settings: Settings | None = None) -> Callable[[], Any]:
    """A no-argument function that builds the recogniser (call it off the event loop)."""
    if spec:
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)
    if settings is not None and settings.speech.asr_server:
        def remote_recognizer() -> Any:
            from speech.remote import RemoteRecognizer

            return RemoteRecognizer.from_settings(settings)

        return remote_recognizer

    def vosk_recognizer() -> Any:
        from speech.asr import Recognizer

        return Recognizer.from_settings(settings)

    return vosk_recognizer
