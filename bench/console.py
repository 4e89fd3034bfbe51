"""`python -m bot bench --only console`: how long the staff console takes to render its two
biggest lists.

On a scratch copy of the demo village (SQLite, and PostgreSQL when it is reachable) with
**10,000 grievances** (spread over twelve months, every state and level, one to three events
each) and **5,000 more households** (one to three residents each) added by the bench, the real
console (bot.console.app, served by uvicorn on a free loopback port) is asked for pages as the
village admin, over HTTP with the logged-in session cookie:

- the grievance list: page 1 unfiltered, and filtered (open only; a search word), 50 rows a page;
- the household register: page 1 unfiltered, and by colour, 100 rows a page.

Each request is timed from send to the last byte (the page is rendered on the server: database,
domain, template); p50/p99 over ``REQUESTS`` requests of each kind, after ``WARMUP`` unmeasured.
``python -m bench.console [--requests N] [--no-postgres]`` runs it on its own.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
from sqlalchemy import insert, select

from bench.stats import ms, pct
from bot.config import Settings, load_settings

GRIEVANCES = 10_000
HOUSEHOLDS = 5_000
REQUESTS = 60
WARMUP = 5
ADMIN = "chenzhiming"
PAGES = {
    "grievance list, page 1": "/grievances",
    "grievance list, open only": "/grievances?open=1",
    "grievance list, search": "/grievances?q=%E8%B7%AF%E7%81%AF",  # 路灯
    "household register, page 1": "/households",
    "household register, red only": "/households?colour=red",
}
WORDS = ["路灯坏了", "垃圾没人清", "水管漏水", "邻居吵架", "狗晚上叫", "路面有坑", "低保怎么办", "广场舞太吵",
         "屋顶漏雨", "停电了", "桥栏杆松了", "宅基地界线"]


def add_bulk(url: str, grievances: int = GRIEVANCES, households: int = HOUSEHOLDS, seed: int = 15) -> None:
    """Adds ``households`` households and ``grievances`` grievances (with their events) to the
    seeded village at ``url``, in batches of plain INSERTs (the domain's rules are not what is
    measured here; the rows look like what the domain writes)."""
    from bot.db import session_scope
    from bot.grievances import CATEGORIES
    from bot.models import (CareColour, Grid, Grievance, GrievanceEvent, GrievanceState, Household, Resident, Role,
                            User, Village, utcnow)

    rng = random.Random(seed)  # nosec B311 - made-up benchmark data, not a secret
    now = utcnow()
    with session_scope(write=True, url=url) as s:
        village_id = s.execute(select(Village.id)).scalars().first()
        groups = list(s.execute(select(Grid).where(Grid.level == 3).order_by(Grid.id)).scalars())
        villagers = list(s.execute(select(User.id).where(User.role == Role.villager)).scalars())
        staff = list(s.execute(select(User.id).where(User.role.in_([Role.grid_worker, Role.admin]))).scalars())
        start_number = (s.execute(select(Household.number).order_by(Household.number.desc())).scalars().first() or 0) + 1
        colours = [CareColour.green] * 6 + [CareColour.yellow] * 3 + [CareColour.red]
        rows, residents = [], []
        for i in range(households):
            group = groups[i % len(groups)]
            number = start_number + i
            rows.append(dict(village_id=village_id, grid_id=group.id, number=number,
                             address=f"杏花村{group.name}{number}号", care_colour=rng.choice(colours),
                             care_reason="家庭情况稳定", care_since=(now - dt.timedelta(days=rng.randrange(700))).date(),
                             contact_user_id=group.parent.leader_id if group.parent else None, sensitive_note=""))
        for batch in range(0, len(rows), 1000):
            s.execute(insert(Household), rows[batch:batch + 1000])
        new_ids = list(s.execute(select(Household.id).where(Household.number >= start_number)
                                 .order_by(Household.id)).scalars())
        for household_id in new_ids:
            for k in range(rng.randint(1, 3)):
                residents.append(dict(household_id=household_id, name=rng.choice("王李张刘陈杨赵黄周吴") +
                                      rng.choice(["建国", "桂芳", "秀英", "志明", "德福", "春梅", "玉珍", "长生"]),
                                      gender=rng.choice("男女"), birth_year=1940 + rng.randrange(70),
                                      relation="户主" if k == 0 else rng.choice(["配偶", "子女", "父母"]),
                                      phone=None))
        for batch in range(0, len(residents), 2000):
            s.execute(insert(Resident), residents[batch:batch + 2000])
        all_households = list(s.execute(select(Household.id)).scalars())
        states = list(GrievanceState)
        grievance_rows = []
        for i in range(grievances):
            created = now - dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
            state = rng.choice(states)
            grievance_rows.append(dict(
                village_id=village_id, ticket_no=str(3_000_000 + i), reporter_id=rng.choice(villagers),
                household_id=rng.choice(all_households), category=rng.choice(CATEGORIES),
                description=rng.choice(WORDS) + f"（第{i}件）", place="村里", urgency=rng.choice(["一般"] * 9 + ["紧急"]),
                anonymous=False, state=state, level=rng.choice([3, 3, 3, 2, 1]), assignee_id=rng.choice(staff),
                due_at=created + dt.timedelta(hours=8) if state in (GrievanceState.accepted, GrievanceState.in_progress,
                                                                     GrievanceState.escalated) else None,
                created_at=created, updated_at=created))
        for batch in range(0, len(grievance_rows), 1000):
            s.execute(insert(Grievance), grievance_rows[batch:batch + 1000])
        events = []
        for grievance_id, created, state in s.execute(select(Grievance.id, Grievance.created_at, Grievance.state)
                                                      .where(Grievance.ticket_no >= "3000000")):
            events.append(dict(grievance_id=grievance_id, at=created, actor_id=None, kind="filed", from_state=None,
                               to_state="accepted", note="通过voice反映"))
            if state != GrievanceState.accepted:
                events.append(dict(grievance_id=grievance_id, at=created + dt.timedelta(hours=rng.randrange(1, 30)),
                                   actor_id=rng.choice(staff), kind="accepted", from_state="accepted",
                                   to_state=state.value, note="已经去看了"))
        for batch in range(0, len(events), 2000):
            s.execute(insert(GrievanceEvent), events[batch:batch + 2000])


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The console for ``settings`` on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    from bot.console.app import create_app
    from bot.ops.runtime import free_ports

    port = free_ports(1)[0]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           ws="none", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def logged_in(base: str, login: str) -> httpx.Client:
    from bot.seed import demo_password

    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    page = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"csrf": token, "login": login, "password": demo_password(login), "next": "/"})
    if answer.status_code != 303 or answer.headers.get("location") != "/":
        raise RuntimeError(f"could not log in as {login}: {answer.status_code}")
    return client


def measure(client: httpx.Client, path: str, requests: int, check: str) -> list[float]:
    times = []
    for i in range(requests + WARMUP):
        started = time.perf_counter()
        response = client.get(path)
        body = response.text
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or check not in body:
            raise RuntimeError(f"{path}: {response.status_code}")
        if i >= WARMUP:
            times.append(elapsed)
    return times


def run_one(label: str, url: str, settings: Settings, requests: int) -> None:
    from bot.db import get_engine

    started = time.monotonic()
    add_bulk(url)
    print(f"console  {label}: {GRIEVANCES:,} grievances and {HOUSEHOLDS:,} households added in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    console_settings = load_settings({"XIANGYIN_VAR_DIR": str(settings.var_dir), "XIANGYIN_DATABASE_URL": url,
                                      **({"XIANGYIN_SECRET_KEY": settings.security.secret_key}
                                         if settings.security.secret_key else {})})
    with serving(console_settings) as base:
        client = logged_in(base, ADMIN)
        try:
            for name, path in PAGES.items():
                times = measure(client, path, requests, "共 <b>")
                print(f"console  {label}  {name:<28} p50 {ms(pct(times, 50)):>7}  p99 {ms(pct(times, 99)):>7}  "
                      f"({len(times)} requests)", flush=True)
        finally:
            client.close()
    get_engine(url).dispose()


def seeded(url: str) -> str:
    """The demo village migrated and seeded into the (empty) database at ``url``."""
    from bot.db import migrate
    from bot.seed import seed_demo_village

    migrate(url)
    seed_demo_village(url)
    return url


def main(settings: Settings | None = None, requests: int = REQUESTS, postgres: bool = True) -> int:
    from bot.ops.databases import postgres_reachable, scratch_postgres

    settings = settings or load_settings()
    with tempfile.TemporaryDirectory(prefix="xiangyin-console-bench-") as folder:
        scratch = load_settings({"XIANGYIN_VAR_DIR": folder,
                                 **({"XIANGYIN_SECRET_KEY": settings.security.secret_key}
                                    if settings.security.secret_key else {})})
        url = seeded(f"sqlite:///{Path(folder) / 'village.db'}")
        run_one("SQLite    ", url, scratch, requests)
        admin_url = settings.test.postgres_url
        if not postgres:
            return 0
        if not postgres_reachable(admin_url):
            print("console  PostgreSQL: not reachable, skipped")
            return 0
        with scratch_postgres("xiangyin_bench_console", admin_url=admin_url) as pg_url:
            run_one("PostgreSQL", seeded(pg_url), scratch, requests)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    raise SystemExit(main(requests=args.requests, postgres=not args.no_postgres))
