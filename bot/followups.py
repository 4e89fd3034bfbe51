"""回访 that always happens (事必理、理必结、结必访).

Every 办结 opens a :class:`~bot.models.Followup` (``grievances.open_followup``): the reporter is
asked on their own channel — a ``followup_question`` outbox message to their account, or to their
household when a voice device answers for it. Then:

* the reporter answers (``grievances.record_satisfaction``, from any channel), or
* nobody answers within ``settings.loops.followup_days``: :func:`chase_unanswered` (scheduler job)
  turns it into a task for the grid worker, once, and notifies them; the worker phones or visits
  and records the answer with :func:`answer_task` (who, when, how: phone / visit).
* :func:`ensure_followups` (scheduler job) opens the follow-up of any 办结 that has none (cases
  resolved before this existed, or by a path that skipped it), so no closed case goes unasked.
* :func:`satisfaction_report` — satisfaction per grid and category.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import grievances
from bot.config import load_settings
from bot.identity import AccessDenied, Actor, area_name, audit, require_staff, serves_township_of, system_actor
from bot.models import Followup, FollowupState, Grievance, GrievanceEvent, GrievanceState, Household, Role, utcnow
from bot.outbox import notify

METHODS = {"phone": "电话", "visit": "上门"}


class FollowupError(Exception):
    pass


@dataclass(frozen=True)
class FollowupTask:
    """A 回访 the grid worker has to make by phone or in person."""

    followup_id: int
    ticket_no: str
    category: str
    description: str
    household_number: int | None
    address: str
    contact_name: str
    phone: str
    asked_at: dt.datetime
    task_at: dt.datetime | None


@dataclass(frozen=True)
class SatisfactionRow:
    grid: str
    category: str
    asked: int
    answered: int
    satisfied: int  # 满意
    basically: int  # 基本满意
    dissatisfied: int  # 不满意
    by_worker: int  # answers recorded by a grid worker (phone / visit)
    waiting: int  # not answered yet

    @property
    def satisfaction_rate(self) -> float:
        """(满意 + 基本满意) / answered."""
        return (self.satisfied + self.basically) / self.answered if self.answered else 0.0


def _reporter_contact(g: Grievance) -> tuple[str, str]:
    """Who to phone for the 回访: the reporter (if a resident), else the household head."""
    reporter = g.reporter
    if reporter is not None and reporter.resident is not None:
        return reporter.display_name, reporter.phone or reporter.resident.phone or ""
    household = g.household
    if household is not None and household.residents:
        head = next((r for r in household.residents if r.is_head), household.residents[0])
        return head.name, head.phone or ""
    return (reporter.display_name, reporter.phone or "") if reporter is not None else ("匿名", "")


def ensure_followups(s: Session, now: dt.datetime | None = None) -> list[int]:
    """Scheduler job: every 办结 grievance has the follow-up of its latest resolution."""
    now = now or utcnow()
    rows = s.execute(select(Grievance).where(Grievance.state == GrievanceState.resolved)
                     .order_by(Grievance.id).with_for_update(skip_locked=True)).scalars().all()
    opened = []
    for g in rows:
        event = s.execute(select(GrievanceEvent).where(GrievanceEvent.grievance_id == g.id,
                                                       GrievanceEvent.kind == "resolved")
                          .order_by(GrievanceEvent.id.desc()).limit(1)).scalar_one_or_none()
        if event is None:
            continue
        if s.execute(select(Followup.id).where(Followup.resolved_event_id == event.id)).first():
            continue
        opened.append(grievances.open_followup(s, g, event, now).id)
    return opened


def chase_unanswered(s: Session, now: dt.datetime | None = None, days: int | None = None) -> list[int]:
    """Scheduler job: follow-ups unanswered for ``days`` (default ``settings.loops.followup_days``)
    become tasks for the grid worker, who is notified; each once (row locks SKIP LOCKED and a
    conditional UPDATE on the state). Returns the follow-up ids that became tasks."""
    now = now or utcnow()
    if days is None:
        days = load_settings().loops.followup_days
    limit = now - dt.timedelta(days=days)
    rows = s.execute(select(Followup).where(Followup.state == FollowupState.asked, Followup.asked_at < limit)
                     .order_by(Followup.id).with_for_update(skip_locked=True)).scalars().all()
    chased = []
    for followup in rows:
        g = followup.grievance
        worker_id = grievances.followup_worker(s, g)
        won = s.execute(update(Followup).where(Followup.id == followup.id, Followup.state == FollowupState.asked)
                        .values(state=FollowupState.task, task_at=now, worker_id=worker_id)
                        .execution_options(synchronize_session=False)).rowcount
        s.refresh(followup)
        if won != 1:
            continue
        name, phone = _reporter_contact(g)
        where = g.household.address if g.household is not None else (g.place or "")
        notify(s, worker_id, "followup_task",
               f"回访任务：诉求{g.ticket_no}（{g.category}：{g.description[:30]}）办结{days}天了，"
               f"{name}还没有回答满不满意。请打电话{('（' + phone + '）') if phone else ''}或上门问一下：{where}。",
               f"followup:{followup.id}:task",
               payload={"followup_id": followup.id, "ticket_no": g.ticket_no, "expects": "followup_answer"})
        audit(s, system_actor(g.village_id), "write", "followup", followup.id, f"task for user {worker_id}",
              household_id=g.household_id)
        chased.append(followup.id)
    return chased


def tasks_for(s: Session, actor: Actor) -> list[FollowupTask]:
    """The 回访 tasks of a grid worker (an admin: every task in the village), oldest first."""
    require_staff(actor, "list follow-up tasks")
    query = (select(Followup).where(Followup.state == FollowupState.task, Followup.village_id == actor.village_id)
             .order_by(Followup.task_at, Followup.id))
    if actor.role != Role.admin:
        query = query.where(Followup.worker_id == actor.user_id)
    tasks = []
    for followup in s.execute(query).scalars():
        g = followup.grievance
        name, phone = _reporter_contact(g)
        household = g.household
        tasks.append(FollowupTask(
            followup_id=followup.id, ticket_no=g.ticket_no, category=g.category, description=g.description,
            household_number=household.number if household else None,
            address=household.address if household else g.place, contact_name=name, phone=phone,
            asked_at=followup.asked_at, task_at=followup.task_at))
        audit(s, actor, "read", "followup", followup.id, "task list", household_id=followup.household_id)
    return tasks


def answer_task(s: Session, actor: Actor, followup_id: int, answer: str, method: str, note: str = "",
                now: dt.datetime | None = None) -> Followup:
    """A grid worker records the 回访 answer they got by ``method`` ("phone" or "visit"): who,
    when and how are stored on the follow-up; 不满意 reopens the grievance."""
    require_staff(actor, "record a follow-up")
    if method not in METHODS:
        raise FollowupError(f"method must be one of {sorted(METHODS)}")
    followup = s.get(Followup, followup_id)
    if followup is None:
        raise LookupError(f"no follow-up {followup_id}")
    if followup.state == FollowupState.answered:
        raise FollowupError(f"follow-up {followup_id} was answered already")
    try:
        grievances.record_satisfaction(s, actor, followup.grievance.ticket_no, answer, now, via=method, note=note)
    except grievances.InvalidTransition:
        audit(s, actor, "refused", "followup", followup.id, "answer", household_id=followup.household_id)
        raise AccessDenied(f"{actor.sender_id} may not record follow-up {followup_id}") from None
    s.refresh(followup)
    return followup




def satisfaction_report(s: Session, actor: Actor, since: dt.datetime | None = None,
                        until: dt.datetime | None = None) -> list[SatisfactionRow]:
    """回访 results per grid (第一网格 …) and category, for follow-ups asked in [since, until).
    Admins see the village, township staff their township's villages, a grid worker their grids."""
    if actor.user_id is None or actor.role not in (Role.admin, Role.grid_worker, Role.township):
        raise AccessDenied(f"{actor.sender_id} may not read the satisfaction report")
    query = select(Followup).order_by(Followup.id)
    if since is not None:
        query = query.where(Followup.asked_at >= since)
    if until is not None:
        query = query.where(Followup.asked_at < until)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for followup in s.execute(query).scalars():
        if actor.role == Role.township:
            if not serves_township_of(s, actor, followup.village_id):
                continue
        elif followup.village_id != actor.village_id:
            continue
        g = followup.grievance
        household = g.household
        if actor.role == Role.grid_worker and (household is None or household.grid_id not in actor.grid_ids):
            continue
        row = counts.setdefault((area_name(household), g.category), dict.fromkeys(
            ("asked", "answered", "满意", "基本满意", "不满意", "by_worker", "waiting"), 0))
        row["asked"] += 1
        if followup.state == FollowupState.answered:
            row["answered"] += 1
            row[followup.answer] = row.get(followup.answer, 0) + 1
            row["by_worker"] += followup.answered_via in METHODS
        else:
            row["waiting"] += 1
    audit(s, actor, "read", "satisfaction_report", None, f"{len(counts)} rows")
    return [SatisfactionRow(grid=grid, category=category, asked=c["asked"], answered=c["answered"],
                            satisfied=c["满意"], basically=c["基本满意"], dissatisfied=c["不满意"],
                            by_worker=c["by_worker"], waiting=c["waiting"])
            for (grid, category), c in sorted(counts.items())]
