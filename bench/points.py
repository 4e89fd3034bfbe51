"""Points ledger under load: the concurrent workloads the tests run, and the benchmark
that ``make bench`` prints (``main()``).

The benchmark builds a village of 1,000 households with five years of ledger history
(2-4 entries per household per month, bulk-inserted), then measures

- ledger throughput (entries/s): one writer, and four writers in separate processes,
  each entry its own transaction through ``points.award``;
- balance-query latency p50/p99 for ``balance_of`` and ``summary()`` (each in its own
  session, as an action would run it);

on SQLite, and on PostgreSQL when it is reachable (a scratch database, dropped after).
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import random
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select, text

from bot import points
from bench.stats import pct
from bot.ops.databases import postgres_admin_url, postgres_reachable, scratch_postgres, scratch_sqlite
from bot.db import get_engine, migrate, session_scope
from bot.identity import resolve_actor
from bot.models import (
    CareColour, ChannelIdentity, Grid, GridAssignment, Household, PointsBalance, PointsEntry, PointsRule, Resident,
    Role, ShopItem, User, Village, utcnow,
)
from bot.seed import POINTS_RULES, SHOP_ITEMS

EXPECTED_REFUSALS = (points.InsufficientPoints, points.OutOfStock, points.NotReversible)


# --- the mixed workload (tests) ------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """Many writers on a few households and one scarce item: redeem, award and reverse,
    with some requests retried under keys that other workers use at the same moment."""

    url: str
    devices: tuple[str, ...]  # voice device ids, one per household ("device-001")
    staff_login: str
    item: str
    ops: int = 50
    duplicate_share: float = 0.25


def mixed_writer(work: Workload, worker: int) -> dict:
    """One worker's run; returns counts and any unexpected error (there should be none)."""
    rng = random.Random(1000 + worker)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
    result = {"ok": 0, "refused": 0, "replayed": 0, "errors": []}
    with session_scope(url=work.url) as s:
        staff = resolve_actor(s, f"cli:{work.staff_login}")
        villagers = [resolve_actor(s, f"voice:{device}") for device in work.devices]
    for op in range(work.ops):
        n = rng.randrange(len(villagers))
        villager = villagers[n]
        shared = rng.random() < work.duplicate_share
        unique = f"w{worker}:{op}"
        kind = rng.choices(["redeem", "award", "reverse"], weights=[35, 40, 25])[0]
        try:
            with session_scope(write=True, url=work.url) as s:
                if kind == "redeem":
                    key = f"dup-redeem:{n}:{rng.randrange(4)}" if shared else f"redeem:{unique}"
                    done = points.redeem(s, villager, work.item, 1, key)
                    result["replayed"] += done.replayed
                elif kind == "award":
                    rule = "义务清扫" if shared or rng.random() < 0.7 else "乱倒垃圾"
                    key = f"dup-award:{n}:{rng.randrange(4)}" if shared else f"award:{unique}"
                    points.award(s, staff, villager.household_id, rule, "", key)
                else:
                    candidates = list(s.execute(
                        select(PointsEntry.id).where(PointsEntry.household_id == villager.household_id,
                                                     PointsEntry.rule_id.is_not(None))
                        .order_by(PointsEntry.id.desc()).limit(6)).scalars())
                    if not candidates:
                        continue
                    entry_id = rng.choice(candidates)
                    key = f"dup-reverse:{entry_id}" if shared else f"reverse:{unique}"
                    points.reverse(s, staff, entry_id, "录错了", key)
            result["ok"] += 1
        except EXPECTED_REFUSALS:
            result["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on any
            result["errors"].append(f"{kind}: {exc!r}\n{traceback.format_exc(limit=3)}")
    return result


def run_in_processes(fn, args_list: list[tuple]) -> list:
    """Run fn(*args) in fresh (spawned) processes, one per args tuple."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(args_list), mp_context=ctx) as pool:
        futures = [pool.submit(fn, *args) for args in args_list]
        return [f.result() for f in futures]


# --- the benchmark village -----------------------------------------------------------

def build_bench_village(url: str, households: int = 1000, years: int = 5, seed: int = 7) -> int:
    """A village of ``households`` households with ``years`` of ledger history, written
    with bulk (executemany) inserts. Returns the number of ledger entries."""
    migrate(url)
    rng = random.Random(seed)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
    now = utcnow().replace(microsecond=0)
    with session_scope(write=True, url=url) as s:
        village = Village(code=f"bench{seed}", name="测试村", township="测试镇", county="测试县",
                          points_per_person=False, publish_ranking=True)
        s.add(village)
        s.flush()
        admin = User(village_id=village.id, login="bench_admin", display_name="管理员", role=Role.admin)
        s.add(admin)
        s.flush()
        s.add(ChannelIdentity(channel="cli", external_id=admin.login, user_id=admin.id))
        top = Grid(village_id=village.id, level=1, name="全村")
        s.add(top)
        s.flush()
        s.add(GridAssignment(user_id=admin.id, grid_id=top.id))
        groups = []
        for g in range(households // 25 or 1):
            grid = Grid(village_id=village.id, level=3, name=f"{g + 1}组", parent_id=top.id)
            s.add(grid)
            groups.append(grid)
        rules = [PointsRule(village_id=village.id, code=code, name=name, activity=activity, points=pts,
                            description=desc) for code, name, activity, pts, desc in POINTS_RULES]
        s.add_all(rules)
        s.add_all(ShopItem(village_id=village.id, name=name, aliases=aliases, unit=unit, price=price,
                           stock=10_000) for name, aliases, unit, price, _ in SHOP_ITEMS)
        s.flush()
        village_id, admin_id, grid_ids = village.id, admin.id, [g.id for g in groups]
        rule_rows = [(r.id, r.name, r.points) for r in rules]

    weights = [3 if pts > 0 else 1 for _, _, pts in rule_rows]
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(Household.__table__.insert(), [
            dict(village_id=village_id, grid_id=grid_ids[i % len(grid_ids)], number=i + 1,
                 address=f"测试村{i + 1}号", care_colour=CareColour.green, care_reason="", sensitive_note="")
            for i in range(households)])
        ids = list(conn.execute(select(Household.id).where(Household.village_id == village_id)
                                .order_by(Household.number)).scalars())
        conn.execute(Resident.__table__.insert(), [
            dict(household_id=h, name=f"户主{n + 1}", gender="男", birth_year=1960, relation="户主")
            for n, h in enumerate(ids)])
        conn.execute(ChannelIdentity.__table__.insert(), [
            dict(channel="voice", external_id=f"bench-{n + 1:04d}", household_id=h, settings={})
            for n, h in enumerate(ids)])
        months = years * 12
        entries, balances = [], []
        for n, h in enumerate(ids):
            balance = 0
            for month in range(months, 0, -1):
                for k in range(rng.randint(2, 4)):
                    rule_id, name, pts = rng.choices(rule_rows, weights=weights)[0]
                    if balance + pts < 0:
                        continue
                    balance += pts
                    at = now - dt.timedelta(days=month * 30 - rng.randrange(28), hours=rng.randrange(10))
                    entries.append(dict(village_id=village_id, household_id=h, rule_id=rule_id, delta=pts,
                                        reason=name, actor_id=admin_id, at=at,
                                        idempotency_key=f"bench:{n}:{month}:{k}"))
            balances.append(dict(household_id=h, balance=balance))
        for start in range(0, len(entries), 20_000):
            conn.execute(PointsEntry.__table__.insert(), entries[start:start + 20_000])
        conn.execute(PointsBalance.__table__.insert(), balances)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return len(entries)


def award_writer(url: str, staff_login: str, household_ids: list[int], count: int, seed: int) -> tuple[float, float]:
    """``count`` awards, one transaction each; returns (start, end) wall-clock times."""
    rng = random.Random(seed)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets
    with session_scope(url=url) as s:
        staff = resolve_actor(s, f"cli:{staff_login}")
    start = time.time()
    for n in range(count):
        with session_scope(write=True, url=url) as s:
            points.award(s, staff, rng.choice(household_ids), "义务清扫", "", f"bench-award:{seed}:{n}")
    return start, time.time()


def _latencies(fn, samples: int) -> list[float]:
    timings = []
    for _ in range(samples):
        begin = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - begin)
    return timings


def _ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:.2f} ms  p99 {pct(values, 99) * 1000:.2f} ms"


def bench_backend(label: str, url: str, households: int = 1000, years: int = 5,
                  writes: int = 400, samples: int = 500) -> dict:
    began = time.perf_counter()
    entries = build_bench_village(url, households, years)
    built = time.perf_counter() - began
    print(f"\n积分账本 / points ledger — {label}: {households} households, {entries:,} entries over "
          f"{years} years (built in {built:.1f} s)")
    with session_scope(url=url) as s:
        ids = list(s.execute(select(Household.id)).scalars())
        devices = list(s.execute(select(ChannelIdentity.external_id).where(ChannelIdentity.channel == "voice")).scalars())
        actors = [resolve_actor(s, f"voice:{d}") for d in random.Random(1).sample(devices, min(200, len(devices)))]  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets

    start, end = award_writer(url, "bench_admin", ids, writes, seed=1)
    single = writes / (end - start)
    per_worker = writes // 4
    spans = run_in_processes(award_writer, [(url, "bench_admin", ids, per_worker, 10 + w) for w in range(4)])
    concurrent = per_worker * 4 / (max(e for _, e in spans) - min(b for b, _ in spans))
    print(f"  ledger throughput, 1 writer:              {single:7.0f} entries/s")
    print(f"  ledger throughput, 4 writers (processes): {concurrent:7.0f} entries/s")

    rng = random.Random(2)  # nosec B311 - seeded generator for reproducible demo or benchmark data, not for secrets

    def one_balance():
        with session_scope(url=url) as s:
            points.balance_of(s, rng.choice(ids))

    def one_summary():
        with session_scope(url=url) as s:
            points.summary(s, rng.choice(actors))

    balance_lat = _latencies(one_balance, samples)
    summary_lat = _latencies(one_summary, samples)
    print(f"  balance_of(): {_ms(balance_lat)}")
    print(f"  summary():    {_ms(summary_lat)}")
    with session_scope(url=url) as s:
        total = s.execute(select(func.count(PointsEntry.id))).scalar_one()
        mismatched = s.execute(
            select(func.count()).select_from(PointsBalance).where(
                PointsBalance.balance != select(func.coalesce(func.sum(PointsEntry.delta), 0))
                .where(PointsEntry.household_id == PointsBalance.household_id).scalar_subquery())
        ).scalar_one()
    print(f"  after the run: {total:,} entries; balances not equal to their ledger: {mismatched}")
    return {"backend": label, "entries": entries, "single_writer_eps": single, "four_writers_eps": concurrent,
            "balance_p50": pct(balance_lat, 50), "balance_p99": pct(balance_lat, 99),
            "summary_p50": pct(summary_lat, 50), "summary_p99": pct(summary_lat, 99)}


def main(households: int = 1000, years: int = 5) -> int:
    with scratch_sqlite() as url:
        bench_backend("SQLite (WAL, synchronous=FULL)", url, households, years)
    if postgres_reachable():
        with scratch_postgres("xiangyin_bench") as url:
            bench_backend("PostgreSQL", url, households, years)
    else:
        print(f"\nPostgreSQL not reachable at {postgres_admin_url()}; skipped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
