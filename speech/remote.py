"""The recogniser backend that recognises in another process: a client of ``python -m speech.server``.

Both shapes of the recogniser seam (:mod:`bot.channels.recognition`), so the voice channel uses it
exactly as it uses the in-process Vosk ``Recognizer``::

    rec = RemoteRecognizer("/path/to/var/run/asr.sock")      # or "127.0.0.1:5093"
    stream = rec.start_stream()        # one connection per utterance (Wyoming events: speech.protocol)
    stream.accept(pcm_piece)           # 16 kHz mono s16le; sent at once, recognised there as it arrives
    t = stream.finish()                # a speech.asr.Transcript (text, words, confidence, raw_text)
    rec.transcribe(audio_bytes)        # a whole recording in any container: normalised here, then streamed

Nothing is loaded here: building a ``RemoteRecognizer`` does not connect, each utterance does. Every
failure — the recogniser process not running, not answering within ``timeout`` seconds, or
answering with an ``error`` event (no model installed) — is a :class:`RecognizerUnavailable`,
whose message names the address; the channels answer it with their polite Chinese "cannot listen
now". Undecodable audio is ``speech.audio.AudioError``, as with the in-process recogniser.
"""
from __future__ import annotations

import socket
from typing import Any

from bot.config import Settings, load_settings
from speech.protocol import AUDIO_FORMAT, Event, ProtocolError, parse_address, read_event_from, transcript_of

TIMEOUT_S = 60.0  # connecting, sending, waiting for a transcript (the voice channel's own bound): longer is down
PIECE_BYTES = 64000  # a whole recording goes out in 2-second chunks


class RecognizerUnavailable(RuntimeError):
    """The recogniser process could not recognise the utterance (down, too slow, no model)."""

    def __init__(self, message: str, code: str = "unavailable") -> None:
        super().__init__(message)
        self.code = code


def connect(address: str, timeout: float = TIMEOUT_S) -> socket.socket:
    """A connection to the recogniser at ``address`` (a Unix socket path or HOST:PORT)."""
    family, target = parse_address(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except OSError as exc:
        sock.close()
        raise RecognizerUnavailable(f"the recogniser at {address} does not answer: {exc}") from exc
    return sock


class RemoteStream:
    """One utterance on its own connection: ``accept`` sends, ``finish`` waits for the transcript."""

    def __init__(self, address: str, timeout: float = TIMEOUT_S) -> None:
        self.address = address
        self._sock: socket.socket | None = connect(address, timeout)
        self._send(Event("audio-start", AUDIO_FORMAT))

    def _send(self, event: Event) -> None:
        if self._sock is None:
            raise RuntimeError("the utterance has ended")
        try:
            self._sock.sendall(event.encode())
        except OSError as exc:
            self.close()
            raise RecognizerUnavailable(f"the recogniser at {self.address} went away: {exc}") from exc

    def accept(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), PIECE_BYTES):
            self._send(Event("audio-chunk", AUDIO_FORMAT, bytes(pcm[i:i + PIECE_BYTES])))

    def finish(self) -> Any:
        """The ``speech.asr.Transcript`` of everything accepted; the connection is closed after."""
        self._send(Event("audio-stop"))
        sock = self._sock
        try:
            with sock.makefile("rb") as replies:
                event = read_event_from(replies)
        except (OSError, ProtocolError) as exc:  # socket.timeout is an OSError
            raise RecognizerUnavailable(f"no transcript from the recogniser at {self.address}: {exc}") from exc
        finally:
            self.close()
        if event is None:
            raise RecognizerUnavailable(f"the recogniser at {self.address} hung up before the transcript")
        if event.type == "error":
            raise RecognizerUnavailable(f"the recogniser at {self.address}: {event.data.get('text')}",
                                        str(event.data.get("code") or "failed"))
        if event.type != "transcript":
            raise RecognizerUnavailable(f"the recogniser at {self.address} answered {event.type!r}")
        return transcript_of(event)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class RemoteRecognizer:
    """The recogniser process at ``address``, with both shapes of the seam."""

    def __init__(self, address: str, timeout: float = TIMEOUT_S) -> None:
        parse_address(address)  # a typo fails at start-up, not at the first utterance
        self.address, self.timeout = address, timeout

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "RemoteRecognizer":
        """The recogniser named by ``settings.speech.asr_server`` (XIANGYIN_ASR_SERVER)."""
        address = (settings or load_settings()).speech.asr_server
        if not address:
            raise ValueError("XIANGYIN_ASR_SERVER is not set: no recogniser process to use")
        return cls(address)

    def start_stream(self) -> RemoteStream:
        return RemoteStream(self.address, self.timeout)

    def transcribe(self, audio_bytes: bytes, *, is_pcm: bool = False) -> Any:
        """A whole recording in any container (``speech.audio.normalise``: AudioError if it is
        none), or with ``is_pcm=True`` mono s16le PCM at 16 kHz, as ``speech.asr.Recognizer``."""
        from speech import audio

        pcm = bytes(audio_bytes) if is_pcm else audio.normalise(audio_bytes)
        stream = self.start_stream()
        try:
            stream.accept(pcm)
            return stream.finish()
        finally:
            stream.close()

    def describe(self) -> dict:
        """The recogniser's ``info`` (``{"asr": [{"name": "vosk", "installed": …, …}], "state": …}``)."""
        with connect(self.address, self.timeout) as sock:
            try:
                sock.sendall(Event("describe").encode())
                with sock.makefile("rb") as replies:
                    event = read_event_from(replies)
            except (OSError, ProtocolError) as exc:
                raise RecognizerUnavailable(f"no answer from the recogniser at {self.address}: {exc}") from exc
        if event is None or event.type != "info":
            raise RecognizerUnavailable(f"the recogniser at {self.address} did not describe itself")
        return event.data

    def state(self) -> str:
        """``loading``, ``ready`` or ``no-model`` (then voice answers that it cannot listen)."""
        return str(self.describe().get("state") or "loading")
