"""Scheduled jobs: grievance time limits and unacknowledged emergencies.

Each job runs in its own write transaction and locks the rows it changes
(FOR UPDATE SKIP LOCKED on PostgreSQL; the database write lock on SQLite), so any
number of schedulers can run side by side and each escalation happens once.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from bot import care, emergency, followups, grievances, suggestions
from bot.config import Settings, load_settings
from bot.db import session_scope
from bot.ops.backup import nightly_job

logger = logging.getLogger(__name__)


def run_jobs_once(now: dt.datetime | None = None, url: str | None = None,
                  settings: Settings | None = None) -> dict:
    """Every job once, on ``url`` (default: the settings' database)."""
    settings = settings or load_settings()
    url = url or settings.database.url
    with session_scope(write=True, url=url) as s:
        escalated = grievances.escalate_overdue(s, now, settings.loops.township_hours)
    with session_scope(write=True, url=url) as s:
        emergencies = emergency.escalate_unacknowledged(s, now, settings.emergency.ack_minutes,
                                                        settings.emergency.township_minutes)
    # The village loops (issue 14): each job in its own transaction, each notification once.
    with session_scope(write=True, url=url) as s:
        township_overdue = grievances.township_overdue(s, now)
    with session_scope(write=True, url=url) as s:
        followups_opened = followups.ensure_followups(s, now)
    with session_scope(write=True, url=url) as s:
        followup_tasks = followups.chase_unanswered(s, now, settings.loops.followup_days)
    with session_scope(write=True, url=url) as s:
        care_reminders = care.send_morning_reminders(s, now, settings.timezone, settings.loops.care_reminder_at)
    with session_scope(write=True, url=url) as s:
        suggestions_overdue = suggestions.remind_overdue(s, now, settings.timezone)
    return {"escalated_grievances": escalated, "escalated_emergencies": emergencies,
            "township_overdue": township_overdue, "followups_opened": followups_opened,
            "followup_tasks": followup_tasks, "care_reminders": care_reminders,
            "suggestions_overdue": suggestions_overdue}


def run_jobs_forever(interval: float = 60, settings: Settings | None = None) -> None:
    settings = settings or load_settings()
    while True:
        try:
            result = run_jobs_once(settings=settings)
            result.update(nightly_job(settings=settings))  # backup after XIANGYIN_BACKUP_AT, log rotation
            if any(result.values()):
                logger.info("jobs: %s", result)
        except Exception:  # noqa: BLE001 - keep the scheduler alive, log the failure
            logger.exception("scheduled jobs failed")
        time.sleep(interval)
