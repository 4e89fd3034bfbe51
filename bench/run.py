"""`make bench`: measured figures, printed as ratios and percentiles.

Sections (run all, or pick with `python -m bot bench --only nlu turns`):
  train   full training time (a fresh training run into a scratch folder)
  nlu     model load time, NLU parse latency p50/p99, held-out accuracy / macro F1 on
          clean and homophone-noised text, with and without the pinyin featurizer
  turns   full text turns (REST → dialogue → action server → database → reply) with
          1 and 20 concurrent users, p50/p99, throughput and server CPU per turn, side by side
          with the peer that sets the floor (bench/peer.py: bare Rasa with the same pipeline and
          policies, static responses) and Xiangyin's ratio to it; plus server memory
  kb      knowledge-base retrieval accuracy (when the evaluation set is present)
  dialogues  the multi-turn dialogue sets (tests/data/dialogues*, oldest first; all but the newest
          are development data): pass rate per category, and the count of writes without an
          explicit yes (bench/dialogues.py)
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
import json
import subprocess
import sys
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
            # as `make test` trains: right after `rasa data validate`, so without Rasa's own copy
            # of that check (whose story-conflict analysis alone takes about 20 s)
            train_if_needed(force=True, quiet=True, validated=True)
            print(f"train    full training (NLU + dialogue, data validated just before): "
                  f"{time.monotonic() - started:.0f} s")


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
    loads = {}
    for name, extra in (("ours", []), ("rasa", ["--own"])):  # each in a fresh process
        out = subprocess.run([sys.executable, "-m", "bench.model_load", str(model), *extra], check=True,  # nosec B603 - this interpreter, fixed arguments
                             capture_output=True, text=True, cwd=PROJECT_ROOT).stdout
        loads[name] = json.loads(out.strip().splitlines()[-1])
    print(f"nlu      model load (fresh process): {loads['ours']['seconds']:.1f} s and {loads['ours']['rss_mb']:.0f} MB "
          f"as our server loads it; Rasa's own load {loads['rasa']['seconds']:.1f} s, {loads['rasa']['rss_mb']:.0f} MB "
          f"(ratio {loads['ours']['seconds'] / loads['rasa']['seconds']:.2f} time, "
          f"{loads['ours']['rss_mb'] / loads['rasa']['rss_mb']:.2f} memory)")
    from bot.ops.rasa_patches import apply as apply_patches

    apply_patches()  # the parse figures below: the model as our server loads it
    agent = loop.run_until_complete(load_agent(model_path=str(model)))
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
#: Rounds of TURNS per user: 1 user × 20 rounds = 120 turns (enough for a p99 that is not just the
#: slowest turn), 20 users × 2 rounds = 240 turns. One user's rounds are 20 villagers' six-turn
#: conversations one after another (one villager's 120-turn conversation would measure how Rasa's
#: per-turn cost grows with the tracker's length instead); 20 users are 20 villagers at once.
ROUNDS = {1: 20, 20: 2}


def _sender(user: int) -> str:
    return f"cli:hh{(user % 60) + 3:03d}"  # seeded villagers


def _round(base_url: str, users: int, token: bool, cpu_pids: list[int], r: int) -> tuple[list[list[float]], list[float], float]:
    """Round ``r`` of TURNS: ``users`` villagers at a time (each user's turns in order, one
    connection per turn; at 1 user, round r is villager r's conversation); the latencies per user,
    the servers' CPU seconds and the wall time it took."""
    from bench.stats import cpu_seconds

    def user(u: int) -> list[float]:
        return [post_turn(base_url, _sender(u if users > 1 else r), text, token=token) for text in TURNS]

    cpu_before = [cpu_seconds(pid) for pid in cpu_pids]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        per_user = list(pool.map(user, range(users)))
    elapsed = time.perf_counter() - started
    return per_user, [cpu_seconds(pid) - before for pid, before in zip(cpu_pids, cpu_before)], elapsed


def _summary(users: int, rounds: list[tuple[list[list[float]], list[float], float]]) -> dict:
    latencies = [t for per_user, _, _ in rounds for turns in per_user for t in turns]
    cpu = [sum(c) for c in zip(*(cpu for _, cpu, _ in rounds))]
    elapsed = sum(e for _, _, e in rounds)
    turns = [(t, i) for per_user, _, _ in rounds for user_turns in per_user for i, t in enumerate(user_turns)]
    slowest = max(turns)[1]
    return {"users": users, "turns": len(latencies), "first": rounds[0][0][0][0], "p50": pct(latencies, 50),
            "slowest": f"a user's turn {slowest + 1} ({TURNS[slowest % len(TURNS)]})",
            "p99": pct(latencies, 99), "max": max(latencies), "throughput": len(latencies) / elapsed,
            "cpu": [c / len(latencies) for c in cpu]}


def _run_pair(ours: tuple[str, bool, list[int]], peer: tuple[str, bool, list[int]], users: int) -> tuple[dict, dict]:
    """Xiangyin and the peer, ROUNDS[users] rounds of TURNS each, taken in turn (ours, the peer's,
    ours …): a machine that speeds up or slows down during the run (a shared machine does, by a
    third between runs) weighs on both alike, so their ratio is the cost of the turn, not of the
    moment. Each side's latencies, throughput and CPU per turn."""
    mine, theirs = [], []
    for r in range(ROUNDS[users]):
        mine.append(_round(ours[0], users, ours[1], ours[2], r))
        theirs.append(_round(peer[0], users, peer[1], peer[2], r))
    return _summary(users, mine), _summary(users, theirs)


def _row(name: str, r: dict, cpu_names: list[str]) -> str:
    cpu = " + ".join(f"{n} {c * 1000:.1f}" for n, c in zip(cpu_names, r["cpu"]))
    return (f"turns    {name:<9} {r['users']:>2} user(s) {r['turns']:>4} turns: p50 {ms(r['p50'])}, p99 {ms(r['p99'])}, "
            f"max {ms(r['max'])} ({r['slowest']}), {r['throughput']:.1f} turns/s; CPU ms/turn {cpu} = {sum(r['cpu']) * 1000:.1f}")


def bench_turns(settings: Settings) -> None:
    """Xiangyin's embedded stack and the peer (bench/peer.py: bare Rasa, the same pipeline and
    policies, static responses) side by side in one run: the same turns, 1 and 20 users."""
    from bench.peer import peer_server
    from bot.ops.runtime import embedded_stack, train_if_needed
    from speech.model import korean_test_model_path

    model = train_if_needed(quiet=True)
    print(f"turns    model {model.name}", flush=True)
    # The Chinese Vosk model cannot be downloaded here: the Korean one makes recognition cost real.
    # An explicitly configured model (XIANGYIN_VOSK_MODEL) is used as it is.
    configured = settings.speech.vosk_model
    explicit = configured != settings.var_dir / "models" / DEFAULT_VOSK_MODEL_NAME
    env = {"XIANGYIN_VOSK_MODEL": str(configured if explicit else korean_test_model_path())}
    pids: dict = {}
    with peer_server(settings) as peer:  # loads while the Xiangyin stack starts
        started = time.monotonic()
        with embedded_stack(env, pids) as base_url:
            print(f"turns    Xiangyin ready {time.monotonic() - started:.0f} s after the start", flush=True)
            peer_url = peer.wait()
            print(f"turns    peer ready {time.monotonic() - started:.0f} s after the start", flush=True)
            # No warm-up turn: the first measured turn is the first any user would send after
            # the stack says it is ready.
            results: dict[int, dict] = {}
            for users in (1, 20):
                ours, floor = _run_pair((base_url, True, [pids["rasa"], pids["actions"]]),
                                        (peer_url, False, [peer.pid]), users)
                results[users] = {"xiangyin": ours, "peer": floor}
                print(_row("xiangyin", ours, ["rasa", "actions"]), flush=True)
                print(_row("peer", floor, ["rasa"]), flush=True)
            for users, r in results.items():
                ours, floor = r["xiangyin"], r["peer"]
                print(f"turns    ratio xiangyin/peer, {users:>2} user(s): p50 {ours['p50'] / floor['p50']:.2f}x, "
                      f"p99 {ours['p99'] / floor['p99']:.2f}x, turns/s {ours['throughput'] / floor['throughput']:.2f}x, "
                      f"CPU/turn {sum(ours['cpu']) / max(sum(floor['cpu']), 1e-9):.2f}x")
            print(f"turns    first turn after ready (1 user): xiangyin {ms(results[1]['xiangyin']['first'])}, "
                  f"peer {ms(results[1]['peer']['first'])}")
            text_rss = rss_mb(pids["rasa"])  # before the voice turns load TTS (and an in-process recogniser) into Rasa
            recording = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", "안녕하세요 포인트 얼마예요"],  # nosec B603, B607 - fixed arguments; espeak-ng from PATH as installed
                                       check=True, capture_output=True).stdout
            latencies = [post_voice(base_url, "device-001", recording) for _ in range(10)]
            print(f"turns    voice turn at the server (WAV in -> Vosk -> dialogue -> TTS -> WAV out, Korean test "
                  f"model as recogniser), 10 turns: p50 {ms(pct(latencies, 50))}, p99 {ms(pct(latencies, 99))}")
            recogniser = (f"the recogniser process {rss_mb(pids['asr']):.0f} MB" if "asr" in pids
                          else "the recogniser inside Rasa")
            print(f"turns    server memory (RSS): Rasa {text_rss:.0f} MB after the text turns, "
                  f"{rss_mb(pids['rasa']):.0f} MB after the voice turns ({recogniser}; TTS in Rasa), "
                  f"actions {rss_mb(pids['actions']):.0f} MB, peer {rss_mb(peer.pid):.0f} MB (text only)")


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
    if kb.calibration is not None:  # how the calibrated confidence was chosen (knowledge/confidence.py)
        fitted = kb.calibration.fitted
        print(f"kb       calibrated confidence: answer at p >= {kb.calibration.threshold}, ask back the rule's "
              f"answer at p < {kb.calibration.veto}; fitted on {fitted.get('questions')} development questions; "
              f"leave-one-file-out (right and confident / confidently wrong / out-of-corpus answered):")
        for row in fitted.get("leave_one_file_out", []):
            name = "rule alone" if row["threshold"] is None else f"p >= {row['threshold']:.2f}"
            print(f"kb         {name:>10}: {row['confident_right']:.3f} / {row['confident_wrong']:.3f} / "
                  f"{row['ooc_answered']:.3f}")


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

    dialogues_main(["--all"])


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
