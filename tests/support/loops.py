"""Helpers shared by the village-loop tests (tests/domain/test_loops_*.py): a start line for
concurrent workers, outbox look-ups and a Monday morning to start the clock at. (Their seeded
databases, ``any_db`` and ``seeded_pg_url``, are fixtures in tests/domain/conftest.py and
tests/conftest.py.)"""
from __future__ import annotations

import datetime as dt
import threading
from typing import Callable

from sqlalchemy import select

from bot.models import OutboxMessage

#: A Monday morning in the village (UTC; 09:00 in Asia/Shanghai).
MONDAY = dt.datetime(2026, 11, 2, 1, 0)


def together(worker: Callable[[int], object], n: int = 4) -> list:
    """Runs ``worker(i)`` in ``n`` threads released at the same moment; returns their results
    (re-raising the first failure)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = worker(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def outbox(s, key_like: str) -> list[OutboxMessage]:
    return list(s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(key_like))
                          .order_by(OutboxMessage.id)).scalars())


def kinds_for(s, user_id: int | None = None, household_id: int | None = None) -> list[str]:
    query = select(OutboxMessage.kind).order_by(OutboxMessage.id)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    if household_id is not None:
        query = query.where(OutboxMessage.household_id == household_id)
    return list(s.execute(query).scalars())

