"""`make bench`: measured figures, printed as ratios and percentiles.

Sections (run all, or pick with `python -m bot bench --only nlu turns`):
  train   full training time (a fresh training run into a scratch folder)
  nlu     model load time, NLU parse latency p50/p99, held-out accuracy / macro F1 on
          clean and homophone-noised text, with and without the pinyin featurizer
  turns   full text turns (REST → dialogue → action server → database → reply) with
          1 and 20 concurrent users, p50/p99 and throughput, plus server memory
  kb      knowledge-base retrieval accuracy (when the evaluation set is present)
  dialogues  the held-out multi-turn dialogues (tests/data/dialogues): pass rate per category
          and half, and the count of writes without an explicit yes (bench/dialogues.py)
  load    concurrent users (20/50/100, XIANGYIN_LOAD_SECONDS each) through the load balancer,
          embedded vs scale-out mode side by side (bench/loadtest.py)
  fuzz    REST and voice endpoints under hostile input: counts per category (bench/fuzz.py)
  loops   emergency alert-to-delivery latency per channel (Telegram, voice devices) p50/p99 and
          the outbox throughput of both (bench/loops.py)
  console the staff console's page render p50/p99: the grievance list with 10,000 grievances and the
          household register with 5,000 more households, on SQLite and PostgreSQL (bench/console.py)
"""
from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.http import post_turn, post_voice
from bench.stats import ms, pct, rss_mb
from bot.config import DEFAULT_VOSK_MODEL_NAME, PROJECT_ROOT, Settings, load_settings, process_environment


def bench_train(settings: Settings) -> None:
    from bot.ops.runtime import train_if_needed

    with tempfile.TemporaryDirectory() as scratch:
        # A scratch model folder and an empty Rasa training cache: nothing is reused.
        with process_environment({"XIANGYIN_MODELS_DIR": scratch, "RASA_CACHE_DIRECTORY": str(Path(scratch) / "cache")}):
            started = time.monotonic()
            train_if_needed(force=True, quiet=True)
            print(f"train    full training (NLU + dialogue): {time.monotonic() - started:.0f} s")


def _no_pinyin_config(settings: Settings) -> str:
    text = (PROJECT_ROOT / "config.yml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if "PinyinFeaturizer" not in line]
    path = settings.var_dir / "config-nopinyin.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return str(path)


def bench_nlu(settings: Settings) -> None:
    from rasa.core.agent import load_agent

    from bench.nlu_eval import evaluate_agent, load_heldout, noised
    from bot.ops.runtime import train_if_needed

    heldout = load_heldout()
    noisy = noised(heldout, rate=0.3)
    loop = asyncio.new_event_loop()
    model = train_if_needed(quiet=True)
    started = time.monotonic()
    agent = loop.run_until_complete(load_agent(model_path=str(model)))
    print(f"nlu      model load time: {time.monotonic() - started:.1f} s")
    latencies = []
    for text, _ in heldout * 2:
        t0 = time.perf_counter()
        loop.run_until_complete(agent.parse_message(text))
        latencies.append(time.perf_counter() - t0)
    print(f"nlu      parse latency over {len(latencies)} parses: p50 {ms(pct(latencies, 50))}, "
          f"p99 {ms(pct(latencies, 99))}")
    with_pinyin = (evaluate_agent(agent, loop, heldout), evaluate_agent(agent, loop, noisy))
    alt_model = train_if_needed(config=_no_pinyin_config(settings), quiet=True)
    alt_agent = loop.run_until_complete(load_agent(model_path=str(alt_model)))
    without = (evaluate_agent(alt_agent, loop, heldout), evaluate_agent(alt_agent, loop, noisy))
    print(f"nlu      held-out set: {len(heldout)} examples; noised copy: 30% of characters -> common homophones")
    print("nlu      pipeline          clean acc  clean F1  noised acc  noised F1")
    for name, (clean, noise) in (("with pinyin", with_pinyin), ("without pinyin", without)):
        print(f"nlu      {name:<16}  {clean['accuracy']:.3f}      {clean['macro_f1']:.3f}     "
              f"{noise['accuracy']:.3f}       {noise['macro_f1']:.3f}")
    loop.close()


TURNS = ["你好", "我家有多少积分", "怎么挣积分", "低保怎么申请", "我上次反映的那件事咋样了", "谢谢"]


def bench_turns(settings: Settings) -> None:
    from bot.ops.runtime import embedded_stack, train_if_needed
    from speech.model import korean_test_model_path

    train_if_needed(quiet=True)
    # The Chinese Vosk model cannot be downloaded here: the Korean one makes recognition cost real.
    # An explicitly configured model (XIANGYIN_VOSK_MODEL) is used as it is.
    configured = settings.speech.vosk_model
    explicit = configured != settings.var_dir / "models" / DEFAULT_VOSK_MODEL_NAME
    env = {"XIANGYIN_VOSK_MODEL": str(configured if explicit else korean_test_model_path())}
    pids: dict = {}
    with embedded_stack(env, pids) as base_url:
        post_turn(base_url, "cli:wangjianguo", "你好")  # warm-up
        for users in (1, 20):
            rounds = 5 if users == 1 else 2
            jobs = [(f"cli:hh{(u % 60) + 3:03d}", text) for _ in range(rounds) for u in range(users) for text in TURNS]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=users) as pool:
                latencies = list(pool.map(lambda job: post_turn(base_url, *job), jobs))
            elapsed = time.perf_counter() - started
            print(f"turns    {users:>2} concurrent user(s), {len(jobs)} turns: p50 {ms(pct(latencies, 50))}, "
                  f"p99 {ms(pct(latencies, 99))}, throughput {len(jobs) / elapsed:.1f} turns/s")
        recording = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", "안녕하세요 포인트 얼마예요"],  # nosec B603, B607 - fixed arguments; espeak-ng from PATH as installed
                                   check=True, capture_output=True).stdout
        latencies = [post_voice(base_url, "device-001", recording) for _ in range(10)]
        print(f"turns    voice turn at the server (WAV in -> Vosk -> dialogue -> TTS -> WAV out, Korean test "
              f"model as recogniser), 10 turns: p50 {ms(pct(latencies, 50))}, p99 {ms(pct(latencies, 99))}")
        print(f"turns    server memory (RSS): Rasa {rss_mb(pids['rasa']):.0f} MB, "
              f"actions {rss_mb(pids['actions']):.0f} MB")


def bench_kb(settings: Settings) -> None:
    try:
        from knowledge.evaluation import report
        from knowledge.retriever import KnowledgeBase
    except ImportError:
        print("kb       skipped: no knowledge base module")
        return
    kb = KnowledgeBase.load(PROJECT_ROOT / "knowledge")
    for line in report(kb, PROJECT_ROOT / "knowledge"):  # original set, villager dev and held-out halves, per kind
        print("kb       " + line)


def bench_load(settings: Settings) -> None:
    from bench.loadtest import bench_load as load

    load(settings)


def bench_fuzz(settings: Settings) -> None:
    from bench.fuzz import bench_fuzz as fuzz

    fuzz()

def bench_points(settings: Settings) -> None:
    from bench.points import main as points_main

    points_main()


def bench_dialogues(settings: Settings) -> None:
    from bench.dialogues import main as dialogues_main

    dialogues_main([])


def bench_loops(settings: Settings) -> None:
    from bench.loops import main as loops_main

    loops_main(settings)


def bench_console(settings: Settings) -> None:
    from bench.console import main as console_main

    console_main(settings)


def bench_speech(settings: Settings) -> None:
    from bench.speech import main as speech_main

    speech_main([])


SECTIONS = {"train": bench_train, "nlu": bench_nlu, "turns": bench_turns, "kb": bench_kb, "points": bench_points,
            "dialogues": bench_dialogues, "speech": bench_speech, "load": bench_load, "fuzz": bench_fuzz,
            "loops": bench_loops, "console": bench_console}


def main(only: list[str] | None = None, settings: Settings | None = None) -> int:
    settings = settings or load_settings()
    for name, section in SECTIONS.items():
        if only and name not in only:
            continue
        print(f"\n=== {name} ===", flush=True)
        section(settings)
    return 0
