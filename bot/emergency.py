"""Emergencies (救命, 摔倒了, 着火了): handled before anything else.

``raise_alarm`` records the event and puts an alert for the household's grid worker
(its 三线 contact, else its grid leader) in the outbox at once. ``escalate_unacknowledged``
is a scheduler job: an alert nobody acknowledged in time goes to the village admin.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import EmergencySettings, load_settings
from bot.identity import Actor, audit, require_staff, village_admin_id
from bot.models import EmergencyEvent, Household, utcnow
from bot.outbox import notify

#: The default of ``settings.emergency.ack_minutes`` (XIANGYIN_EMERGENCY_ACK_MINUTES).
ACK_MINUTES = EmergencySettings.ack_minutes

# Words that always mean an emergency, whatever the language model makes of the sentence.
EMERGENCY_WORDS = ("救命", "摔倒", "摔了一跤", "着火", "失火", "起火", "晕倒", "昏过去", "喘不上气", "喘不过气",
                   "快来人", "心脏难受", "胸口疼", "中风", "流血不止", "煤气中毒")


def is_emergency(text: str) -> bool:
    return any(word in (text or "") for word in EMERGENCY_WORDS)


def _responsible_worker(s: Session, household: Household | None) -> int | None:
    if household is None:
        return None
    if household.contact_user_id:
        return household.contact_user_id
    grid = household.grid
    while grid is not None:
        if grid.leader_id:
            return grid.leader_id
        grid = grid.parent
    return None


def raise_alarm(s: Session, actor: Actor, text: str, now: dt.datetime | None = None) -> EmergencyEvent:
    household = s.get(Household, actor.household_id) if actor.household_id else None
    worker_id = _responsible_worker(s, household) or village_admin_id(s, actor.village_id)
    event = EmergencyEvent(household_id=household.id if household else None, user_id=actor.user_id,
                           channel=actor.channel, text=text[:500], at=now or utcnow(), alerted_user_id=worker_id)
    s.add(event)
    s.flush()
    who = f"{household.address}（{household.residents[0].name if household.residents else ''}家）" if household \
        else f"未绑定用户{actor.sender_id}"
    notify(s, worker_id, "emergency", f"紧急求助：{who}说“{text[:60]}”，请马上联系！",
           f"emergency:{event.id}:worker", payload={"emergency_id": event.id, "household_id": event.household_id})
    audit(s, actor, "write", "emergency", event.id, text[:200], household_id=event.household_id)
    return event


def acknowledge(s: Session, actor: Actor, emergency_id: int, now: dt.datetime | None = None) -> EmergencyEvent:
    """A staff member has taken charge: the alert will not be escalated to the admin."""
    require_staff(actor, "acknowledge emergency")
    event = s.get(EmergencyEvent, emergency_id)
    if event is None:
        raise LookupError(f"no emergency {emergency_id}")
    if event.acknowledged_at is None:
        event.acknowledged_at = now or utcnow()
        audit(s, actor, "write", "emergency", event.id, "acknowledged", household_id=event.household_id)
    return event


def open_emergencies(s: Session, village_id: int | None) -> list[EmergencyEvent]:
    query = select(EmergencyEvent).where(EmergencyEvent.acknowledged_at.is_(None)).order_by(EmergencyEvent.at)
    return [e for e in s.execute(query).scalars()
            if e.household is None or village_id is None or e.household.village_id == village_id]


def escalate_unacknowledged(s: Session, now: dt.datetime | None = None, ack_minutes: int | None = None) -> list[int]:
    """Alerts older than ``ack_minutes`` (default: ``settings.emergency.ack_minutes``) that nobody
    acknowledged go to the village admin, once."""
    now = now or utcnow()
    if ack_minutes is None:
        ack_minutes = load_settings().emergency.ack_minutes
    limit = now - dt.timedelta(minutes=ack_minutes)
    rows = s.execute(
        select(EmergencyEvent).where(EmergencyEvent.acknowledged_at.is_(None), EmergencyEvent.escalated_at.is_(None),
                                     EmergencyEvent.at < limit).with_for_update(skip_locked=True)
    ).scalars().all()
    for event in rows:
        household = s.get(Household, event.household_id) if event.household_id else None
        admin_id = village_admin_id(s, household.village_id if household else None)
        event.escalated_at = now
        notify(s, admin_id, "emergency", f"紧急求助{ack_minutes}分钟无人响应：{event.text[:60]}，请马上处理！",
               f"emergency:{event.id}:admin", payload={"emergency_id": event.id})
    return [e.id for e in rows]
