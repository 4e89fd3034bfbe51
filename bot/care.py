"""Three-colour care (三色管理) as a schedule, not a label.

Each village configures, per colour, how often its households are visited and the criteria for
the colour (:class:`~bot.models.CarePolicy`; defaults 红 every 7 days, 黄 every 14, 绿 every 30,
criteria from the 汉阴 scheme). From the visit log (``households.log_visit``) follow:

* :func:`visits_due` — "今天该去谁家": for one worker and one local date, every household whose
  next visit is due that day or earlier (overdue), most overdue first.
* :func:`send_morning_reminders` (scheduler job) — one outbox reminder per worker per day, from
  ``settings.loops.care_reminder_at`` local time, deduplicated by worker and date.
* :func:`change_colour` — only with a reason; audited, and kept in :class:`~bot.models.CareColourChange`
  (:func:`colour_history`).

A household's visits are the job of its 三线 contact (``Household.contact_user_id``), else of the
leader of its nearest grid that has one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import local_date, parse_clock, to_local
from bot.config import load_settings
from bot.identity import (AccessDenied, Actor, audit, require_household, require_staff,
                          responsible_worker_id, system_actor)
from bot.models import (
    CARE_COLOUR_NAMES,
    CareColour,
    CareColourChange,
    CarePolicy,
    Household,
    OutboxMessage,
    Role,
    User,
    VisitLog,
    utcnow,
)
from bot.outbox import notify

DEFAULT_VISIT_DAYS = {CareColour.red: 7, CareColour.yellow: 14, CareColour.green: 30}
DEFAULT_CRITERIA = {
    CareColour.green: "家庭经济收入持平或超过全村平均水平，且连续三年被评为平安家庭（放心户，在线服务）",
    CareColour.yellow: "家庭经济收入低于全村平均水平，或近两年未被评为平安家庭（关心户，三线联系人员定期到户）",
    CareColour.red: "三留守人员、残疾人、贫困户，或有服刑、刑满释放人员的家庭（连心户，一对一包抓帮扶，热线联系）",
}
COLOUR_WORDS = {"红": CareColour.red, "红色": CareColour.red, "连心户": CareColour.red,
                "黄": CareColour.yellow, "黄色": CareColour.yellow, "关心户": CareColour.yellow,
                "绿": CareColour.green, "绿色": CareColour.green, "放心户": CareColour.green}
# Order in lists: the most vulnerable first.
_COLOUR_ORDER = {CareColour.red: 0, CareColour.yellow: 1, CareColour.green: 2}
REMINDER_NAMES = 8  # households named in one reminder; the rest are counted


class CareError(Exception):
    pass


@dataclass(frozen=True)
class PolicyView:
    colour: CareColour
    name: str  # 红色连心户
    visit_days: int
    criteria: str


@dataclass(frozen=True)
class DueVisit:
    household_id: int
    number: int
    head: str
    address: str
    colour: CareColour
    colour_name: str
    last_visit: dt.date | None
    due_on: dt.date
    days_overdue: int  # 0: due today (or earlier than the asked date by this many days)
    worker_id: int | None

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0


def parse_colour(text: str | CareColour) -> CareColour:
    """红 / 红色 / 连心户 / "red" → CareColour.red."""
    if isinstance(text, CareColour):
        return text
    value = (text or "").strip()
    if value in CareColour.__members__:
        return CareColour[value]
    for word, colour in COLOUR_WORDS.items():
        if word in value:
            return colour
    raise CareError(f"unknown colour {text!r}")


# --------------------------------------------------------------------------- policy


def policies(s: Session, village_id: int) -> dict[CareColour, PolicyView]:
    """The village's care policy per colour, defaults where it configured none."""
    rows = {p.colour: p for p in s.execute(select(CarePolicy).where(CarePolicy.village_id == village_id)).scalars()}
    return {colour: PolicyView(colour, CARE_COLOUR_NAMES[colour],
                               rows[colour].visit_days if colour in rows else DEFAULT_VISIT_DAYS[colour],
                               rows[colour].criteria if colour in rows and rows[colour].criteria
                               else DEFAULT_CRITERIA[colour])
            for colour in (CareColour.red, CareColour.yellow, CareColour.green)}


def set_policy(s: Session, actor: Actor, colour: CareColour | str, visit_days: int,
               criteria: str | None = None) -> PolicyView:
    """The village admin sets the visit frequency (and optionally the criteria) of a colour."""
    if actor.role != Role.admin:
        raise AccessDenied(f"{actor.sender_id} may not change the care policy")
    colour = parse_colour(colour)
    if not 1 <= int(visit_days) <= 366:
        raise CareError("visit_days must be between 1 and 366")
    row = s.execute(select(CarePolicy).where(CarePolicy.village_id == actor.village_id,
                                             CarePolicy.colour == colour)).scalar_one_or_none()
    if row is None:
        row = CarePolicy(village_id=actor.village_id, colour=colour, visit_days=int(visit_days),
                         criteria=(criteria or DEFAULT_CRITERIA[colour]).strip())
        s.add(row)
    else:
        row.visit_days = int(visit_days)
        if criteria is not None and criteria.strip():
            row.criteria = criteria.strip()
    s.flush()
    audit(s, actor, "write", "care_policy", row.id, f"{colour.value}: every {visit_days} days")
    return policies(s, actor.village_id)[colour]


# --------------------------------------------------------------------------- schedule


def _last_visits(s: Session, household_ids: list[int]) -> dict[int, dt.datetime]:
    if not household_ids:
        return {}
    return dict(s.execute(select(VisitLog.household_id, func.max(VisitLog.at))
                          .where(VisitLog.household_id.in_(household_ids))
                          .group_by(VisitLog.household_id)).all())


def _schedule(s: Session, village_id: int, on: dt.date, tz: str, worker_id: int | None = None) -> list[DueVisit]:
    """Households of the village due on ``on`` or earlier (for one worker, or all)."""
    plan = policies(s, village_id)
    households = list(s.execute(select(Household).where(Household.village_id == village_id)
                                .order_by(Household.number)).scalars())
    if worker_id is not None:
        households = [h for h in households if responsible_worker_id(h) == worker_id]
    last = _last_visits(s, [h.id for h in households])
    due = []
    for h in households:
        last_day = local_date(last[h.id], tz) if h.id in last else None
        if last_day is not None:
            due_on = last_day + dt.timedelta(days=plan[h.care_colour].visit_days)
        else:  # never visited: due from the day the colour was given (or today)
            due_on = min(h.care_since or on, on)
        if due_on > on:
            continue
        head = next((r.name for r in h.residents if r.is_head), h.residents[0].name if h.residents else "")
        due.append(DueVisit(household_id=h.id, number=h.number, head=head, address=h.address,
                            colour=h.care_colour, colour_name=CARE_COLOUR_NAMES[h.care_colour],
                            last_visit=last_day, due_on=due_on, days_overdue=(on - due_on).days,
                            worker_id=responsible_worker_id(h)))
    due.sort(key=lambda d: (-d.days_overdue, _COLOUR_ORDER[d.colour], d.number))
    return due


def visits_due(s: Session, actor: Actor, on: dt.date | None = None, worker_id: int | None = None,
               now: dt.datetime | None = None, tz: str | None = None) -> list[DueVisit]:
    """"今天该去谁家": the households a worker should visit on ``on`` (default: today, local),
    overdue ones first. A grid worker gets their own list; an admin any worker's (``worker_id``)
    or, without one, the whole village's."""
    require_staff(actor, "care visits due")
    tz = tz or load_settings().timezone
    on = on or local_date(now or utcnow(), tz)
    if actor.role != Role.admin:
        if worker_id not in (None, actor.user_id):
            raise AccessDenied(f"{actor.sender_id} may not read another worker's visits")
        worker_id = actor.user_id
    due = _schedule(s, actor.village_id, on, tz, worker_id)
    for visit in due:
        audit(s, actor, "read", "household", visit.household_id, f"care visit due {on.isoformat()}")
    return due


def split_due(due: list[DueVisit]) -> tuple[list[DueVisit], list[DueVisit]]:
    """(due that day, overdue)."""
    return [d for d in due if not d.overdue], [d for d in due if d.overdue]


def _reminder_text(name: str, due: list[DueVisit]) -> str:
    today, late = split_due(due)

    def names(items: list[DueVisit]) -> str:
        shown = "、".join(f"{d.head}家（{d.colour_name[:2]}）" if not d.overdue
                         else f"{d.head}家（{d.colour_name[:2]}，超期{d.days_overdue}天）"
                         for d in items[:REMINDER_NAMES])
        return shown + (f"等{len(items)}户" if len(items) > REMINDER_NAMES else "")

    parts = [f"早上好，{name}！今天该走访{len(due)}户。"]
    if late:
        parts.append(f"已经超期的：{names(late)}。")
    if today:
        parts.append(f"今天到期的：{names(today)}。")
    return "".join(parts)


def send_morning_reminders(s: Session, now: dt.datetime | None = None, tz: str | None = None,
                           at: str | None = None) -> list[int]:
    """Scheduler job: from ``at`` (default ``settings.loops.care_reminder_at``) local time, each
    worker with visits due today or overdue gets one reminder a day (dedupe key per worker and
    local date; the worker rows are locked SKIP LOCKED so parallel schedulers send it once).
    Returns the ids of the workers reminded in this run."""
    now = now or utcnow()
    if tz is None or at is None:
        configured = load_settings()
        tz = tz or configured.timezone
        at = at or configured.loops.care_reminder_at
    local = to_local(now, tz)
    if local.time() < parse_clock(at):
        return []
    today = local.date()
    reminded = []
    village_ids = list(s.execute(select(Household.village_id).distinct()).scalars())
    for village_id in village_ids:
        by_worker: dict[int, list[DueVisit]] = {}
        for visit in _schedule(s, village_id, today, tz):
            if visit.worker_id is not None:
                by_worker.setdefault(visit.worker_id, []).append(visit)
        if not by_worker:
            continue
        workers = s.execute(select(User).where(User.id.in_(list(by_worker))).order_by(User.id)
                            .with_for_update(skip_locked=True)).scalars().all()
        for worker in workers:
            key = f"care:reminder:{worker.id}:{today.isoformat()}"
            if s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first():
                continue
            due = by_worker[worker.id]
            notify(s, worker.id, "care_reminder", _reminder_text(worker.display_name, due), key,
                   payload={"date": today.isoformat(), "household_ids": [d.household_id for d in due],
                            "overdue": sum(d.overdue for d in due)})
            audit(s, system_actor(village_id), "read", "care_schedule", worker.id,
                  f"reminder {today.isoformat()}: {len(due)} households")
            reminded.append(worker.id)
    return reminded


# --------------------------------------------------------------------------- colour


def change_colour(s: Session, actor: Actor, household_id: int, colour: CareColour | str, reason: str,
                  now: dt.datetime | None = None) -> CareColourChange:
    """Changes a household's care colour; a reason is required. The change is kept in the
    history and the audit log. Setting the colour it already has is refused."""
    require_staff(actor, "change care colour")
    household = require_household(s, actor, household_id, "change care colour")
    colour = parse_colour(colour)
    reason = (reason or "").strip()
    if len(reason) < 2:
        audit(s, actor, "refused", "household", household.id, "care colour change without a reason")
        raise CareError("a reason is required to change a household's colour")
    if colour == household.care_colour:
        raise CareError(f"household {household.number} is {colour.value} already")
    now = now or utcnow()
    change = CareColourChange(household_id=household.id, from_colour=household.care_colour, to_colour=colour,
                              reason=reason[:1000], actor_id=actor.user_id, at=now)
    s.add(change)
    household.care_colour = colour
    household.care_reason = reason[:128]
    household.care_since = local_date(now, load_settings().timezone)
    s.flush()
    audit(s, actor, "write", "household", household.id,
          f"care colour {change.from_colour.value} -> {colour.value}: {reason[:200]}")
    return change


def colour_history(s: Session, actor: Actor, household_id: int) -> list[CareColourChange]:
    """Every colour change of a household, oldest first."""
    require_staff(actor, "care colour history")
    household = require_household(s, actor, household_id, "care colour history")
    audit(s, actor, "read", "household", household.id, "care colour history")
    return list(s.execute(select(CareColourChange).where(CareColourChange.household_id == household.id)
                          .order_by(CareColourChange.at, CareColourChange.id)).scalars())
