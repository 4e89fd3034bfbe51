"""Load test: full text turns (REST → NLU → dialogue → action server → database → reply)
at several levels of concurrent users, embedded mode and scale-out mode side by side.

    embedded   1 Rasa server + 1 action server, SQLite (what `make run` starts)
    scale-out  2 Rasa + 2 action servers behind nginx, PostgreSQL tracker store and
               database, Redis lock store (what `make run-cluster` starts)

Each level runs for XIANGYIN_LOAD_SECONDS (default 60) with XIANGYIN_LOAD_LEVELS users
(default "20,50,100"); every user is an asyncio task that sends its next turn as soon as
the previous reply arrived (closed loop, no think time). Printed per level: turns,
throughput, p50/p95/p99 latency and the error rate (non-200, connection error or a turn
slower than the 60 s client timeout). Loopback only; each level is bounded by its duration
plus one client timeout.

Scale-out needs PostgreSQL and Redis (XIANGYIN_TEST_POSTGRES_URL, default
postgresql+psycopg2://postgres@127.0.0.1:5432/postgres, where a scratch database
xiangyin_load_<random> is created and dropped; XIANGYIN_TEST_REDIS_URL, default
redis://127.0.0.1:6379/0) and nginx.
`python -m bench.loadtest [--modes embedded scale-out] [--seconds 60] [--levels 20 50 100]`.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from bench.http import REST_WEBHOOK, post_turn
from bench.stats import pct
from bot.config import Settings, load_settings, quiet_libraries
from bot.ops.databases import scratch_postgres
from bot.ops.runtime import embedded_stack, free_ports

TURNS = ["你好", "我家有多少积分", "怎么挣积分", "低保怎么申请", "那要带什么材料", "我上次反映的那件事咋样了", "谢谢"]
CLIENT_TIMEOUT = 60.0


def sender_for(user: int) -> str:
    """Seeded villagers hh003 … hh066 first, then unlinked Telegram users."""
    return f"cli:hh{user + 3:03d}" if user < 64 else f"telegram:77{user:05d}"


# --- the client ----------------------------------------------------------------------

async def _user(session, url: str, user: int, deadline: float, latencies: list, errors: list) -> None:
    from bench.http import bearer_header

    sender, n = sender_for(user), user  # users start at different points of the script
    headers = bearer_header(sender)
    while time.monotonic() < deadline:
        text = TURNS[n % len(TURNS)]
        n += 1
        started = time.perf_counter()
        try:
            async with session.post(url, json={"message": text}, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except (asyncio.TimeoutError, OSError, Exception):  # noqa: BLE001 - counted as an error
            ok = False
        (latencies if ok else errors).append(time.perf_counter() - started)


async def run_level(base_url: str, users: int, seconds: float) -> dict:
    import aiohttp


    url = f"{base_url.rstrip('/')}{REST_WEBHOOK}"
    latencies: list[float] = []
    errors: list[float] = []
    connector = aiohttp.TCPConnector(limit=users, force_close=False)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.wait_for(
            asyncio.gather(*(_user(session, url, u, deadline, latencies, errors) for u in range(users))),
            timeout=seconds + CLIENT_TIMEOUT + 10)
        elapsed = time.monotonic() - started
    total = len(latencies) + len(errors)
    return {"users": users, "turns": total, "ok": len(latencies), "errors": len(errors),
            "seconds": elapsed, "throughput": len(latencies) / elapsed if elapsed else 0.0,
            "p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
            "error_rate": len(errors) / total if total else 0.0}


def warm_up(base_url: str, n: int = 3) -> None:
    """A few sequential turns so the first level does not pay for lazy initialisation."""
    for i in range(n):
        post_turn(base_url, sender_for(i), TURNS[i % len(TURNS)])


def format_row(mode: str, r: dict) -> str:
    ms = lambda s: f"{s * 1000:7.0f}"  # noqa: E731
    return (f"load     {mode:<10} {r['users']:>5} {r['turns']:>7} {r['throughput']:>9.1f} "
            f"{ms(r['p50'])} {ms(r['p95'])} {ms(r['p99'])} {100 * r['error_rate']:>7.2f}%")


HEADER = ("load     mode       users   turns   turns/s  p50 ms  p95 ms  p99 ms   errors")


# --- the stacks ----------------------------------------------------------------------

@contextlib.contextmanager
def cluster_stack(rasa_replicas: int = 2, action_replicas: int = 2, quiet: bool = True,
                  settings: Settings | None = None) -> Iterator[str]:
    """The scale-out mode (bot/cluster.py) on a scratch PostgreSQL database; yields the
    load balancer's URL."""
    from bot.ops.cluster import Cluster, load_cluster_config

    settings = settings or load_settings()
    scratch = Path(tempfile.mkdtemp(prefix="xiangyin-load-cluster-"))
    ports = free_ports(2 + rasa_replicas + action_replicas)
    with scratch_postgres("xiangyin_load", settings.test.postgres_url) as url:
        cfg = load_cluster_config(
            {}, database_url=url, tracker_store_url=url,
            lock_store_url=settings.test.redis_url,
            rasa_replicas=rasa_replicas, action_replicas=action_replicas, lb_port=ports[0], action_lb_port=ports[1],
            rasa_ports=tuple(ports[2:2 + rasa_replicas]), action_ports=tuple(ports[2 + rasa_replicas:]),
            var_dir=scratch, lock_key_prefix=f"xyload{os.getpid()}", scheduler=False)
        with Cluster(cfg, log=(lambda line: None) if quiet else print) as cluster:
            yield cluster.cfg.lb_url


STACKS = {"embedded": lambda settings: embedded_stack(), "scale-out": lambda settings: cluster_stack(settings=settings)}


def run(modes: list[str] | None = None, levels: list[int] | None = None, seconds: float | None = None,
        settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    seconds = seconds if seconds is not None else settings.bench.load_seconds
    levels = levels or list(settings.bench.load_levels)
    modes = modes or list(STACKS)
    results: dict[str, list[dict]] = {}
    for mode in modes:
        print(f"load     {mode}: starting ({'1 Rasa + 1 action server, SQLite' if mode == 'embedded' else '2 Rasa + 2 action servers behind nginx, PostgreSQL + Redis'}) ...", flush=True)
        try:
            with STACKS[mode](settings) as base_url:
                warm_up(base_url)
                results[mode] = []
                for users in levels:
                    r = asyncio.run(run_level(base_url, users, seconds))
                    results[mode].append(r)
                    print(format_row(mode, r), flush=True)
        except Exception as exc:  # noqa: BLE001 - a missing PostgreSQL/nginx skips that mode only
            print(f"load     {mode}: not measured: {type(exc).__name__}: {exc}", flush=True)
    print(f"load     {seconds:.0f} s per level, closed loop, {len(TURNS)}-turn script per user")
    print(HEADER)
    for users in levels:
        for mode in modes:
            for r in results.get(mode, []):
                if r["users"] == users:
                    print(format_row(mode, r))
    return results


def bench_load(settings: Settings | None = None) -> None:
    """`make bench` section "load"."""
    from bot.ops.runtime import train_if_needed

    train_if_needed(quiet=True)
    run(settings=settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="*", choices=list(STACKS))
    parser.add_argument("--levels", nargs="*", type=int)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args(argv)
    quiet_libraries()
    run(args.modes, args.levels, args.seconds, load_settings())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
