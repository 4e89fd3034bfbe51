"""Offline speech recognition over Vosk (Kaldi).

Public API (synchronous; call it off the event loop, e.g. ``loop.run_in_executor``)::

    rec = Recognizer(model_path=None, grammar=None, sample_rate=16000,
                     snap_phrases=None, snap_threshold=0.78)
    t = rec.transcribe(audio_bytes)          # any container; or is_pcm=True for 16 kHz s16le
    t.text, t.confidence, t.words            # Word(word, conf, start, end)
    rec = Recognizer.from_settings(settings, grammar=..., snap_phrases=...)

* ``model_path`` defaults to ``settings.speech.vosk_model`` (env ``XIANGYIN_VOSK_MODEL``, else
  ``<var>/models/vosk-model-small-cn-0.22``; see :func:`default_model_path`).  The model
  is loaded once per path (thread-safe cache, :func:`load_model`) and shared by all
  recognisers; a missing model raises :class:`ModelNotFoundError` telling how to install it.
* ``grammar``: phrases to restrict recognition to.  :func:`build_grammar` keeps only the
  phrases whose words the model knows (unsegmented Chinese phrases are segmented into
  model words by longest match) and adds ``"[unk]"`` so out-of-grammar speech is not
  forced onto a phrase.  ``Recognizer.set_grammar(phrases)`` changes it at run time.
* ``snap_phrases``: known names/phrases; when given, the transcript is corrected with
  :func:`snap` (pinyin similarity tolerant of southern-accent confusions such as zh/z,
  n/l, in/ing).  ``Transcript.raw_text`` keeps the uncorrected text.
* Chinese words come out of Vosk separated by spaces: :func:`join_words` drops the spaces
  between Han characters and keeps them elsewhere (Latin, Hangul).
* The same ``Recognizer`` may be used from several threads at once.

Streaming (recognition while the user speaks)::

    stream = rec.start_stream()              # one utterance, one KaldiRecognizer
    stream.accept(pcm_piece)                 # 16 kHz mono s16le, any piece size, in order
    t = stream.finish()                      # the tail and the final result: a Transcript
    stream.close()                           # frees the recogniser (finish() does too)

A stream re-cuts what it is given into the same ``chunk_bytes`` pieces :meth:`Recognizer.
transcribe_pcm` feeds Vosk, so the same audio gives the same transcript however the device cut
it into uploads. One stream is used by one thread at a time (the voice channel feeds each
utterance from one worker, in order); different streams run in parallel.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from bot import text as text_helpers
from bot.config import DEFAULT_VOSK_MODEL_NAME, Settings, SpeechSettings, load_settings

from . import audio

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = DEFAULT_VOSK_MODEL_NAME
UNK = "[unk]"
CHUNK_BYTES = 8000  # 0.25 s of 16 kHz s16le
DEFAULT_SNAP_THRESHOLD = SpeechSettings.asr_snap_threshold  # 0.78


class ModelNotFoundError(FileNotFoundError):
    """The Vosk model directory is missing or unusable."""


def default_model_path(settings: Settings | None = None) -> Path:
    """``settings.speech.vosk_model``: env XIANGYIN_VOSK_MODEL, else <var>/models/vosk-model-small-cn-0.22."""
    return (settings or load_settings()).speech.vosk_model


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Word:
    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0
    raw_text: str = ""  # before snapping/joining corrections (Vosk's spaced text)

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


# --------------------------------------------------------------------------- model cache

_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def _vosk(log_level: int = -1):
    import vosk

    vosk.SetLogLevel(log_level)
    return vosk


def load_model(model_path: str | os.PathLike | None = None, settings: Settings | None = None):
    """Return the ``vosk.Model`` for ``model_path`` (default: the configured one), loading it at
    most once per path."""
    if not model_path:
        settings = settings or load_settings()
    path = Path(model_path) if model_path else default_model_path(settings)
    key = str(path.resolve())
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        if not path.is_dir():
            raise ModelNotFoundError(
                f"Vosk model not found at {path}. Install it with "
                f"'python -m speech.model' (or set XIANGYIN_VOSK_MODEL)."
            )
        vosk = _vosk((settings or load_settings()).speech.vosk_log_level)
        try:
            model = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception
            raise ModelNotFoundError(f"cannot load Vosk model at {path}: {exc}") from exc
        _MODELS[key] = model
        return model


def _as_model(model):
    return load_model(model) if isinstance(model, (str, os.PathLike)) or model is None else model


def model_knows(model, word: str) -> bool:
    """True when ``word`` is in the model's vocabulary."""
    finder = getattr(model, "vosk_model_find_word", None) or getattr(model, "find_word")
    return finder(word) >= 0


# --------------------------------------------------------------------------- text joining

_HAN = text_helpers.HAN_CHARS
_HAN_SPACE = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")
_IS_HAN = re.compile(rf"[{_HAN}]")


def join_words(words: Iterable[str]) -> str:
    """Join Vosk words: no space between Chinese characters, single spaces elsewhere."""
    text = " ".join(w for w in words if w and w != UNK)
    return _HAN_SPACE.sub("", text).strip()


def normalise_text(text: str) -> str:
    """Vosk text -> display text (drops [unk], removes spaces inside Chinese)."""
    return join_words(text.split())


# --------------------------------------------------------------------------- grammar


def segment_phrase(phrase: str, model, max_word_chars: int = 8) -> list[str] | None:
    """Split ``phrase`` into words the model knows, or None if impossible.

    Space-separated tokens are kept when known; unknown Chinese tokens are segmented by
    forward longest match against the model vocabulary.
    """
    words: list[str] = []
    for token in phrase.lower().split() if phrase.isascii() else phrase.split():
        if model_knows(model, token):
            words.append(token)
            continue
        if not _IS_HAN.search(token):
            return None
        i = 0
        while i < len(token):
            for j in range(min(len(token), i + max_word_chars), i, -1):
                if model_knows(model, token[i:j]):
                    words.append(token[i:j])
                    i = j
                    break
            else:
                return None
    return words or None


def build_grammar(phrases: Iterable[str], model=None) -> list[str]:
    """Vosk grammar for ``phrases``: those the model can say, space-segmented, plus [unk].

    ``model`` is a ``vosk.Model`` or a model path (default: the configured model).
    Phrases containing unknown words are dropped (and logged at debug level).
    """
    model = _as_model(model)
    out: list[str] = []
    seen: set[str] = set()
    for phrase in phrases:
        phrase = (phrase or "").strip()
        if not phrase or phrase == UNK:
            continue
        words = segment_phrase(phrase, model)
        if not words:
            log.debug("grammar: dropping %r (words unknown to the model)", phrase)
            continue
        entry = " ".join(words)
        if entry not in seen:
            seen.add(entry)
            out.append(entry)
    out.append(UNK)
    return out


# --------------------------------------------------------------------------- snapping

def _syllable(ch: str) -> str:
    return text_helpers.sound_of(ch, text_helpers.ASR_CONFUSIONS)


def similarity(a: str, b: str) -> float:
    """0..1 similarity of two strings: mostly sound (fuzzy pinyin), partly characters
    (:func:`bot.text.sound_similarity` with the southern-accent confusions)."""
    return text_helpers.sound_similarity(a, b, text_helpers.ASR_CONFUSIONS)


def best_match(text: str, known_phrases: Iterable[str]) -> tuple[str, float] | None:
    """The known phrase most similar to the whole ``text`` and its score."""
    best: tuple[str, float] | None = None
    for phrase in known_phrases:
        score = similarity(text, phrase)
        if best is None or score > best[1]:
            best = (phrase, score)
    return best


def snap(text: str, known_phrases: Sequence[str], threshold: float = DEFAULT_SNAP_THRESHOLD) -> str:
    """Snap a transcript onto known names/phrases.

    1. If the whole text is close to a known phrase (score >= threshold) return that phrase.
    2. Otherwise replace, inside the text, any window that sounds like a known phrase of at
       least two characters (e.g. a mis-heard homophone of a villager's name).
    Text that matches nothing is returned unchanged.
    """
    text = (text or "").strip()
    phrases = [p.strip() for p in known_phrases if p and p.strip()]
    if not text or not phrases:
        return text
    whole = best_match(text, phrases)
    if whole and whole[1] >= threshold:
        return whole[0]

    compact = "".join(text.split()) if _IS_HAN.search(text) else text
    taken = [False] * len(compact)
    replacements: list[tuple[int, int, str]] = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        n = len(phrase)
        if n < 2 or n > len(compact) + 1:
            continue
        best: tuple[float, int, int] | None = None
        # Longer phrases may have lost or gained one syllable in recognition.
        for size in ((n, n - 1, n + 1) if n >= 4 else (n,)):
            if size < 2 or size > len(compact):
                continue
            for i in range(0, len(compact) - size + 1):
                if any(taken[i:i + size]):
                    continue
                window = compact[i:i + size]
                if _syllable(window[0]) != _syllable(phrase[0]) and n <= 3:
                    continue  # short names: the first syllable must agree
                score = similarity(window, phrase)
                if best is None or score > best[0]:
                    best = (score, i, i + size)
        if best and best[0] >= threshold:
            _, i, j = best
            for k in range(i, j):
                taken[k] = True
            replacements.append((i, j, phrase))
    if not replacements:
        return text
    out = compact
    for i, j, phrase in sorted(replacements, reverse=True):
        out = out[:i] + phrase + out[j:]
    return out


# --------------------------------------------------------------------------- recogniser


class Recognizer:
    """Vosk recogniser bound to one model; one KaldiRecognizer per utterance."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        grammar: list[str] | None = None,
        sample_rate: int = audio.SAMPLE_RATE,
        *,
        snap_phrases: Sequence[str] | None = None,
        snap_threshold: float = DEFAULT_SNAP_THRESHOLD,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.sample_rate = int(sample_rate)
        self.chunk_bytes = max(2, int(chunk_bytes) - int(chunk_bytes) % 2)
        self.snap_threshold = snap_threshold
        self.snap_phrases: list[str] | None = list(snap_phrases) if snap_phrases else None
        self.model = load_model(self.model_path)
        self._grammar_json: str | None = None
        self.grammar: list[str] | None = None
        if grammar:
            self.set_grammar(grammar)

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        grammar: list[str] | None = None,
        snap_phrases: Sequence[str] | None = None,
    ) -> "Recognizer":
        """Configured by ``settings.speech``: ``vosk_model``, ``asr_grammar`` (default off:
        ``grammar`` is ignored unless enabled), ``asr_snap`` (default on) and
        ``asr_snap_threshold`` (default 0.78)."""
        speech = (settings or load_settings()).speech
        return cls(
            speech.vosk_model,
            grammar=grammar if speech.asr_grammar else None,
            snap_phrases=snap_phrases if speech.asr_snap else None,
            snap_threshold=speech.asr_snap_threshold,
        )

    @classmethod
    def from_env(
        cls,
        grammar: list[str] | None = None,
        snap_phrases: Sequence[str] | None = None,
    ) -> "Recognizer":
        """``from_settings(load_settings(), ...)``, for callers that have no settings at hand."""
        return cls.from_settings(None, grammar=grammar, snap_phrases=snap_phrases)

    def set_grammar(self, phrases: list[str] | None) -> list[str] | None:
        """Restrict recognition to ``phrases`` (None: free recognition).

        Returns the grammar actually used.  If the model knows none of the phrases the
        recogniser falls back to free recognition and logs a warning.
        """
        if not phrases:
            self.grammar, self._grammar_json = None, None
            return None
        grammar = build_grammar(phrases, self.model)
        if grammar == [UNK]:
            log.warning("none of the %d grammar phrases are known to the model; "
                        "using free recognition", len(phrases))
            self.grammar, self._grammar_json = None, None
            return None
        self.grammar = grammar
        self._grammar_json = json.dumps(grammar, ensure_ascii=False)
        return grammar

    def set_snap_phrases(self, phrases: Sequence[str] | None) -> None:
        self.snap_phrases = list(phrases) if phrases else None

    def _new_kaldi(self):
        vosk = _vosk()
        if self._grammar_json is not None:
            rec = vosk.KaldiRecognizer(self.model, float(self.sample_rate), self._grammar_json)
        else:
            rec = vosk.KaldiRecognizer(self.model, float(self.sample_rate))
        rec.SetWords(True)
        return rec

    def transcribe(self, audio_bytes: bytes, *, is_pcm: bool = False) -> Transcript:
        """Recognise one utterance.

        ``audio_bytes`` is any encoded audio (normalised with :func:`audio.normalise`), or,
        with ``is_pcm=True``, mono s16le PCM at ``self.sample_rate``.
        Raises :class:`audio.AudioError` for unusable input.
        """
        if is_pcm:
            pcm = bytes(audio_bytes)
            pcm = pcm[: len(pcm) - len(pcm) % 2]
        else:
            pcm = audio.normalise(audio_bytes, rate=self.sample_rate)
        return self.transcribe_pcm(pcm)

    def transcribe_pcm(self, pcm: bytes) -> Transcript:
        """Recognise mono s16le PCM at ``self.sample_rate``, streamed in chunks."""
        rec = self._new_kaldi()
        results: list[dict] = []
        for i in range(0, len(pcm), self.chunk_bytes):
            if rec.AcceptWaveform(pcm[i:i + self.chunk_bytes]):
                results.append(json.loads(rec.Result()))
        results.append(json.loads(rec.FinalResult()))
        return self._to_transcript(results)

    def start_stream(self) -> "VoskStream":
        """A new utterance fed piece by piece while it is spoken (:class:`VoskStream`)."""
        return VoskStream(self)

    def _to_transcript(self, results: list[dict]) -> Transcript:
        words: list[Word] = []
        texts: list[str] = []
        for res in results:
            if res.get("text"):
                texts.append(res["text"])
            for w in res.get("result", []):
                if w.get("word") == UNK:
                    continue
                words.append(Word(w["word"], float(w.get("conf", 0.0)),
                                  float(w.get("start", 0.0)), float(w.get("end", 0.0))))
        raw_text = " ".join(texts).strip()
        text = join_words(w.word for w in words) if words else normalise_text(raw_text)
        if self.snap_phrases and text:
            text = snap(text, self.snap_phrases, self.snap_threshold)
        confidence = sum(w.conf for w in words) / len(words) if words else 0.0
        return Transcript(text=text, words=words, confidence=confidence, raw_text=raw_text)


class VoskStream:
    """One utterance recognised incrementally: ``accept`` PCM as it arrives, ``finish`` at the
    end of speech. Vosk's ``AcceptWaveform`` does the work for each piece as it comes, so at
    release only the last piece and the final result remain."""

    def __init__(self, recognizer: Recognizer) -> None:
        self._recognizer = recognizer
        self._kaldi = recognizer._new_kaldi()
        self._pending = b""  # less than one chunk, kept for the next piece
        self._results: list[dict] = []
        self.bytes_accepted = 0
        self.finished = False

    @property
    def sample_rate(self) -> int:
        return self._recognizer.sample_rate

    def accept(self, pcm: bytes) -> None:
        """Feed mono s16le PCM at the recogniser's rate (any length; pieces are re-cut)."""
        if self.finished or self._kaldi is None:
            raise RuntimeError("the utterance has ended")
        data = self._pending + bytes(pcm)
        self.bytes_accepted += len(pcm)
        size = self._recognizer.chunk_bytes
        whole = len(data) - len(data) % size
        for i in range(0, whole, size):
            if self._kaldi.AcceptWaveform(data[i:i + size]):
                self._results.append(json.loads(self._kaldi.Result()))
        self._pending = data[whole:]

    def finish(self) -> Transcript:
        """The transcript of everything accepted; the stream is closed afterwards."""
        if self.finished or self._kaldi is None:
            raise RuntimeError("the utterance has ended")
        tail = self._pending[: len(self._pending) - len(self._pending) % 2]
        if tail and self._kaldi.AcceptWaveform(tail):
            self._results.append(json.loads(self._kaldi.Result()))
        self._results.append(json.loads(self._kaldi.FinalResult()))
        self.finished = True
        transcript = self._recognizer._to_transcript(self._results)
        self.close()
        return transcript

    def close(self) -> None:
        """Drop the Kaldi recogniser (idempotent)."""
        self._kaldi, self._pending = None, b""
