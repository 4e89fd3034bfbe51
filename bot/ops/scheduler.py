"""Scheduled jobs: grievance time limits and unacknowledged emergencies.

Each job runs in its own write transaction and locks the rows it changes
(FOR UPDATE SKIP LOCKED on PostgreSQL; the database write lock on SQLite), so any
number of schedulers can run side by side and each escalation happens once.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from bot import emergency, grievances
from bot.db import session_scope

logger = logging.getLogger(__name__)


def run_jobs_once(now: dt.datetime | None = None, url: str | None = None) -> dict:
    with session_scope(write=True, url=url) as s:
        escalated = grievances.escalate_overdue(s, now)
    with session_scope(write=True, url=url) as s:
        emergencies = emergency.escalate_unacknowledged(s, now)
    return {"escalated_grievances": escalated, "escalated_emergencies": emergencies}


def run_jobs_forever(interval: float = 60) -> None:
    while True:
        try:
            result = run_jobs_once()
            if any(result.values()):
                logger.info("jobs: %s", result)
        except Exception:  # noqa: BLE001 - keep the scheduler alive, log the failure
            logger.exception("scheduled jobs failed")
        time.sleep(interval)
