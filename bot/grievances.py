"""Grievances (诉求): filing, routing, the closed loop and its time limits.

A grievance is a report with an append-only event history; its state is changed only by
the transitions below, each of which writes a ``GrievanceEvent`` and an outbox message
for the reporter (FixMyStreet's report → updates → state model).

受理 accepted → 办理中 in_progress → 办结 resolved → 回访 followed_up,
plus 上报 escalated (组 → 村 → 镇) and 退回 rejected.

Every level has somebody: the group leader (组), the village admin (村), the township duty officer
(镇, a user with role ``township``). A grievance is never said to have gone somewhere nobody
receives it: without a township account it stays in the village and the admin is told why.
At 镇 it has its own time limit (``settings.loops.township_hours``) and sits in the township's
queue (:func:`township_queue`). ``GrievanceView.where`` tells the resident exactly where it is.

Every 办结 opens a 回访 (:class:`~bot.models.Followup`): the reporter is asked on their own
channel (``followup_question`` to the reporter, or to the household for a voice device);
``bot.followups`` chases unanswered ones and reports satisfaction.
"""
from __future__ import annotations

import datetime as dt
import difflib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import load_settings
from bot.identity import (
    AccessDenied,
    Actor,
    audit,
    require_role,
    require_staff,
    serves_township_of,
    system_actor,
    township_duty,
    township_of,
    village_admin_id,
)
from bot.outbox import notify
from bot.models import (
    GRIEVANCE_STATE_NAMES,
    Followup,
    FollowupState,
    Grid,
    Grievance,
    GrievanceEvent,
    GrievanceState,
    Household,
    OutboxMessage,
    Role,
    Village,
    utcnow,
)

CATEGORIES = ["道路交通", "水电气", "环境卫生", "邻里纠纷", "土地宅基地", "社会保障",
              "治安", "房屋安全", "村务财务", "噪音", "动物", "其他"]

# Words in a first sentence that tell the category. Checked in order; first hit wins.
CATEGORY_TRIGGERS = [
    ("动物", ["狗", "猫", "野猪", "蛇", "牛", "羊", "鸡鸭", "老鼠"]),
    ("噪音", ["噪音", "太吵", "吵得", "广场舞", "喇叭", "放鞭炮"]),
    ("水电气", ["停水", "停电", "水管", "自来水", "电线", "电表", "燃气", "煤气", "没水", "没电", "漏水"]),
    ("道路交通", ["路灯", "路面", "修路", "坑", "桥", "公交", "车", "路"]),
    ("环境卫生", ["垃圾", "厕所", "污水", "臭", "脏", "卫生", "粪"]),
    ("邻里纠纷", ["邻居", "吵架", "打架", "纠纷", "隔壁"]),
    ("土地宅基地", ["宅基地", "承包地", "占地", "土地", "地界", "流转"]),
    ("社会保障", ["低保", "医保", "养老金", "补贴", "救助", "残疾"]),
    ("治安", ["偷", "小偷", "诈骗", "赌", "治安", "被盗"]),
    ("房屋安全", ["危房", "房子裂", "墙裂", "屋顶", "漏雨", "房屋", "塌"]),
    ("村务财务", ["账目", "财务", "村务公开", "补偿款", "分红"]),
]

# Hours until the first response is due, by urgency; later limits are per state.
FIRST_RESPONSE_HOURS = {"紧急": 2, "一般": 8}
RESOLVE_HOURS = {"紧急": 24, "一般": 72}
LEVEL_NAMES = {3: "组", 2: "村", 1: "镇"}
OPEN_STATES = (GrievanceState.accepted, GrievanceState.in_progress, GrievanceState.escalated)


class GrievanceError(Exception):
    pass


class TicketNotFound(GrievanceError):
    pass


class InvalidTransition(GrievanceError):
    pass


class NoTownshipStaff(InvalidTransition):
    """The township has no account to receive the grievance: it stays in the village."""


@dataclass(frozen=True)
class GrievanceView:
    ticket_no: str
    category: str
    description: str
    place: str
    state: GrievanceState
    state_name: str
    level_name: str
    assignee: str | None
    created_at: dt.datetime
    last_note: str
    #: Exactly where the matter is, for the resident: "在一组，由赵德福负责" / "在村里，由陈志明
    #: 负责" / "已经上报到青山镇，由镇里的刘建华负责" / "已经办结".
    where: str = ""
    due_at: dt.datetime | None = None
    overdue: bool = False
    level: int = 3


def infer_category(text: str) -> str | None:
    for category, words in CATEGORY_TRIGGERS:
        if any(word in (text or "") for word in words):
            return category
    return None


def _new_ticket_no(s: Session) -> str:
    while True:
        ticket = str(100000 + secrets.randbelow(900000))
        if not s.execute(select(Grievance.id).where(Grievance.ticket_no == ticket)).first():
            return ticket


def _grid_leader_for(s: Session, household: Household | None, village_id: int, level: int) -> int | None:
    """Who handles a grievance at an escalation level: the household's 组 leader (3), the
    village admin (2), the township duty officer (1; None when the township has no account)."""
    if level == 3 and household is not None:
        grid = s.get(Grid, household.grid_id)
        while grid is not None and grid.leader_id is None:
            grid = grid.parent
        if grid is not None:
            return grid.leader_id
    if level >= 2:
        return village_admin_id(s, village_id)
    duty = township_duty(s, village_id)
    return duty.id if duty is not None else None


def township_hours(urgency: str, hours: int | None = None) -> int:
    """The time limit at 镇: ``settings.loops.township_hours`` (一般), at most 24 hours for 紧急."""
    if hours is None:
        hours = load_settings().loops.township_hours
    return min(hours, RESOLVE_HOURS["紧急"]) if urgency == "紧急" else hours


def _group_name(s: Session, g: Grievance) -> str:
    grid = g.household.grid if g.household is not None else None
    return grid.name if grid is not None and grid.level == 3 else "组里"


def where_text(s: Session, g: Grievance) -> str:
    """Where the matter is, truthfully, for the resident."""
    if g.state in (GrievanceState.resolved, GrievanceState.followed_up):
        return f"已经在{LEVEL_NAMES[g.level]}里办结"
    if g.state == GrievanceState.rejected:
        return "没有受理"
    who = g.assignee.display_name if g.assignee is not None else None
    if g.level == 1:
        township = township_of(s, g.village_id) or "镇"
        return f"已经上报到{township}，由镇里的{who}负责" if who else f"已经上报到{township}"
    if g.level == 2:
        return f"在村里，由{who}负责" if who else "在村里"
    group = _group_name(s, g)
    return f"在{group}，由{who}负责" if who else f"在{group}"


def _add_event(s: Session, g: Grievance, actor_id: int | None, kind: str, to_state: GrievanceState | None,
               note: str = "", now: dt.datetime | None = None, first: bool = False) -> GrievanceEvent:
    """Append one event; ``first`` records the filing itself (a transition from nothing)."""
    now = now or utcnow()
    event = GrievanceEvent(grievance_id=g.id, at=now, actor_id=actor_id, kind=kind,
                           from_state=None if first else g.state.value,
                           to_state=to_state.value if to_state else None, note=note)
    s.add(event)
    if to_state is not None:
        g.state = to_state
    g.updated_at = now
    s.flush()
    return event


def _notify_reporter(s: Session, g: Grievance, event: GrievanceEvent, text: str) -> None:
    notify(s, g.reporter_id, "grievance_update", text, f"grievance:{g.id}:event:{event.id}",
           household_id=g.household_id, payload={"ticket_no": g.ticket_no, "state": g.state.value})


def find_duplicates(s: Session, village_id: int, category: str, description: str, place: str = "") -> list[Grievance]:
    """Open grievances in the same village and category whose text is similar."""
    candidates = s.execute(
        select(Grievance).where(Grievance.village_id == village_id, Grievance.category == category,
                                Grievance.state.in_(OPEN_STATES))
    ).scalars()
    found = []
    for g in candidates:
        ratio = difflib.SequenceMatcher(None, description, g.description).ratio()
        same_place = bool(place) and place == g.place
        if ratio >= 0.5 or (same_place and ratio >= 0.3):
            found.append(g)
    return found


def file(s: Session, actor: Actor, category: str, description: str, place: str = "", urgency: str = "一般",
         anonymous: bool = False, now: dt.datetime | None = None, household_id: int | None = None) -> Grievance:
    """File a grievance for the actor's household (or, for staff, for ``household_id``)."""
    if category not in CATEGORIES:
        category = infer_category(description) or "其他"
    if urgency not in FIRST_RESPONSE_HOURS:
        urgency = "一般"
    description = (description or "").strip()[:2000]
    if not description:
        raise GrievanceError("empty description")
    now = now or utcnow()
    if household_id is not None:
        require_staff(actor, "file for a household")
    household_id = household_id or actor.household_id
    household = s.get(Household, household_id) if household_id else None
    village_id = household.village_id if household else actor.village_id
    if village_id is None:
        raise GrievanceError("no village configured")
    if not place and household is not None:
        place = household.address
    g = Grievance(
        village_id=village_id, ticket_no=_new_ticket_no(s), reporter_id=actor.user_id,
        household_id=household.id if household else None, category=category, description=description,
        place=(place or "")[:128], urgency=urgency, anonymous=anonymous or actor.user_id is None and household is None,
        state=GrievanceState.accepted, level=3,
        assignee_id=_grid_leader_for(s, household, village_id, 3),
        due_at=now + dt.timedelta(hours=FIRST_RESPONSE_HOURS[urgency]), created_at=now, updated_at=now,
    )
    s.add(g)
    s.flush()
    _add_event(s, g, actor.user_id, "filed", GrievanceState.accepted, f"通过{actor.channel}反映", now, first=True)
    notify(s, g.assignee_id, "grievance_assigned",
           f"新诉求{g.ticket_no}：{g.category}，{g.place}，{g.description[:40]}",
           f"grievance:{g.id}:assigned:{g.assignee_id}", payload={"ticket_no": g.ticket_no})
    audit(s, actor, "write", "grievance", g.id, f"filed {category}", household_id=g.household_id)
    return g


def latest_filed_since(s: Session, actor: Actor, since: dt.datetime) -> int | None:
    """The id of the newest grievance the actor filed at or after ``since``, or None."""
    if actor.user_id is None:
        return None
    return s.execute(select(Grievance.id).where(Grievance.reporter_id == actor.user_id, Grievance.created_at >= since)
                     .order_by(Grievance.id.desc()).limit(1)).scalar_one_or_none()


def attach_photos(s: Session, actor: Actor, grievance_id: int, paths: list[str]) -> str:
    """Records photos (paths relative to the var folder) on a grievance the actor filed, one
    ``photo`` event each; returns the ticket number."""
    g = s.get(Grievance, grievance_id)
    if g is None or actor.user_id is None or g.reporter_id != actor.user_id:
        audit(s, actor, "refused", "grievance", grievance_id, "photos")
        raise AccessDenied(f"{actor.sender_id} may not add photos to grievance {grievance_id}")
    for path in paths:
        s.add(GrievanceEvent(grievance_id=g.id, actor_id=actor.user_id, kind="photo", note=path))
    audit(s, actor, "write", "grievance", g.id, f"{len(paths)} photo(s)")
    return g.ticket_no

def get_by_ticket(s: Session, ticket_no: str) -> Grievance:
    g = s.execute(select(Grievance).where(Grievance.ticket_no == str(ticket_no).strip())).scalar_one_or_none()
    if g is None:
        raise TicketNotFound(ticket_no)
    return g


def join(s: Session, actor: Actor, ticket_no: str) -> Grievance:
    """A villager adds their voice to an existing ticket instead of filing a duplicate."""
    g = get_by_ticket(s, ticket_no)
    _add_event(s, g, actor.user_id, "joined", None, "又有村民反映了同样的问题")
    return g


def view(s: Session, g: Grievance, now: dt.datetime | None = None) -> GrievanceView:
    notes = [e.note for e in g.events if e.kind in ("note", "resolved", "rejected", "escalated") and e.note]
    now = now or utcnow()
    return GrievanceView(
        ticket_no=g.ticket_no, category=g.category, description=g.description, place=g.place,
        state=g.state, state_name=GRIEVANCE_STATE_NAMES[g.state], level_name=LEVEL_NAMES[g.level],
        assignee=g.assignee.display_name if g.assignee else None, created_at=g.created_at,
        last_note=notes[-1] if notes else "", where=where_text(s, g), due_at=g.due_at,
        overdue=g.state in OPEN_STATES and g.due_at is not None and g.due_at < now, level=g.level,
    )


def status_text(s: Session, g: Grievance) -> str:
    """One sentence for the resident: the ticket, its state and exactly where it is
    ("您反映的260101号诉求正在办理，在村里，由陈志明负责。")."""
    where = where_text(s, g)
    if g.state in (GrievanceState.resolved, GrievanceState.rejected) or (
            g.state == GrievanceState.escalated and g.level == 1):
        state = where
    elif g.state == GrievanceState.followed_up:
        state = f"{where}，也回访过了"
    elif g.state == GrievanceState.escalated:
        state = f"已上报，现在{where}"
    else:
        state = f"{GRIEVANCE_STATE_NAMES[g.state]}，{where}"
    return f"您反映的{g.ticket_no}号诉求{state}。"


def _may_view(actor: Actor, g: Grievance, s: Session | None = None) -> bool:
    if actor.role == Role.admin and actor.village_id == g.village_id:
        return True
    if actor.role == Role.township and actor.user_id is not None:
        # The township sees what was escalated to it (and what it was assigned).
        return g.assignee_id == actor.user_id or (
            g.level == 1 and s is not None and serves_township_of(s, actor, g.village_id))
    if actor.is_staff and (g.assignee_id == actor.user_id or (g.household and g.household.grid_id in actor.grid_ids)):
        return True
    return (actor.user_id is not None and g.reporter_id == actor.user_id) or (
        actor.household_id is not None and g.household_id == actor.household_id)


def status(s: Session, actor: Actor, ticket_no: str | None = None) -> list[GrievanceView]:
    """By ticket number, or the actor's own grievances, most recent first."""
    if ticket_no:
        g = get_by_ticket(s, ticket_no)
        if not _may_view(actor, g, s):
            raise TicketNotFound(ticket_no)  # same answer as a missing ticket: leaks nothing
        return [view(s, g)]
    if actor.user_id is None and actor.household_id is None:
        return []
    query = select(Grievance)
    if actor.user_id is not None:
        query = query.where(Grievance.reporter_id == actor.user_id)
    else:
        query = query.where(Grievance.household_id == actor.household_id)
    rows = s.execute(query.order_by(Grievance.created_at.desc(), Grievance.id.desc()).limit(10)).scalars()
    return [view(s, g) for g in rows]


def open_queue(s: Session, actor: Actor) -> list[GrievanceView]:
    require_staff(actor, "grievance queue")
    query = select(Grievance).where(Grievance.state.in_(OPEN_STATES), Grievance.village_id == actor.village_id)
    if actor.role != Role.admin:
        query = query.where(Grievance.assignee_id == actor.user_id)
    return [view(s, g) for g in s.execute(query.order_by(Grievance.due_at)).scalars()]


def _staff_grievance(s: Session, actor: Actor, ticket_no: str) -> Grievance:
    """Village staff, or township staff for what was escalated to the township."""
    if not actor.is_township:
        require_staff(actor, "grievance transition")
    g = get_by_ticket(s, ticket_no)
    if not _may_view(actor, g, s):
        raise AccessDenied(f"{actor.sender_id} may not handle {ticket_no}")
    return g


ALLOWED = {
    "accept": {GrievanceState.accepted, GrievanceState.escalated},
    "note": set(OPEN_STATES),
    "resolve": set(OPEN_STATES),
    "escalate": set(OPEN_STATES),
    "reject": {GrievanceState.accepted, GrievanceState.escalated},
}


def transition(s: Session, actor: Actor, ticket_no: str, action: str, note: str = "",
               now: dt.datetime | None = None) -> Grievance:
    """Staff actions: accept (start handling), note, resolve, escalate, reject."""
    g = _staff_grievance(s, actor, ticket_no)
    if g.state not in ALLOWED.get(action, set()):
        raise InvalidTransition(f"{action} not allowed in {g.state.value}")
    now = now or utcnow()
    if action in ("resolve", "reject") and not note.strip():
        raise GrievanceError("a result or reason is required")
    if action == "accept":
        event = _add_event(s, g, actor.user_id, "accepted", GrievanceState.in_progress, note, now)
        g.assignee_id = actor.user_id
        g.due_at = now + dt.timedelta(hours=RESOLVE_HOURS[g.urgency])
        text = f"您反映的{g.ticket_no}号诉求，{actor.display_name}已经开始办理。"
    elif action == "note":
        event = _add_event(s, g, actor.user_id, "note", None, note, now)
        text = f"您反映的{g.ticket_no}号诉求有新进展：{note}"
    elif action == "resolve":
        event = _add_event(s, g, actor.user_id, "resolved", GrievanceState.resolved, note, now)
        g.due_at = None
        text = f"您反映的{g.ticket_no}号诉求已经办结：{note}。"
        _notify_reporter(s, g, event, text)
        open_followup(s, g, event, now)
        audit(s, actor, "write", "grievance", g.id, action, household_id=g.household_id)
        return g
    elif action == "escalate":
        g = escalate(s, g, actor.user_id, note or "网格员申请上报", now)
        audit(s, actor, "write", "grievance", g.id, action, household_id=g.household_id)
        return g
    else:
        event = _add_event(s, g, actor.user_id, "rejected", GrievanceState.rejected, note, now)
        g.due_at = None
        text = f"您反映的{g.ticket_no}号诉求没有受理，原因是：{note}"
    _notify_reporter(s, g, event, text)
    audit(s, actor, "write", "grievance", g.id, action, household_id=g.household_id)
    return g


def escalate(s: Session, g: Grievance, actor_id: int | None, note: str, now: dt.datetime | None = None,
             township_limit_hours: int | None = None) -> Grievance:
    """One level up (组 → 村 → 镇), to the person who handles that level, who is notified; the
    reporter is told where it went and who has it. Raises :class:`NoTownshipStaff` (changing
    nothing) when the township has no account to receive it."""
    now = now or utcnow()
    if g.level <= 1:
        raise InvalidTransition("already at township level")
    level = g.level - 1
    assignee_id = _grid_leader_for(s, g.household, g.village_id, level)
    if level == 1 and assignee_id is None:
        raise NoTownshipStaff(f"no township account for village {g.village_id}")
    g.level = level
    g.assignee_id = assignee_id
    hours = township_hours(g.urgency, township_limit_hours) if level == 1 else FIRST_RESPONSE_HOURS[g.urgency]
    g.due_at = now + dt.timedelta(hours=hours)
    event = _add_event(s, g, actor_id, "escalated", GrievanceState.escalated,
                       f"上报到{LEVEL_NAMES[g.level]}：{note}", now)
    s.expire(g, ["assignee"])  # reloaded for where_text: the assignee just changed
    if level == 1:
        village = s.get(Village, g.village_id)
        notify(s, g.assignee_id, "township_referral",
               f"{village.township}：{village.name}诉求{g.ticket_no}（{g.category}，{g.place or '地点未说'}）"
               f"上报到镇里：{g.description[:40]}。请在{hours}小时内处理。",
               f"grievance:{g.id}:event:{event.id}:assignee",
               payload={"ticket_no": g.ticket_no, "level": 1, "village": village.name})
    else:
        notify(s, g.assignee_id, "grievance_assigned", f"诉求{g.ticket_no}已上报到{LEVEL_NAMES[g.level]}，请处理。",
               f"grievance:{g.id}:event:{event.id}:assignee", payload={"ticket_no": g.ticket_no})
    moved = "" if level == 1 else "已上报，现在"  # level 1 says "已经上报到青山镇…" itself
    _notify_reporter(s, g, event, f"您反映的{g.ticket_no}号诉求{moved}{where_text(s, g)}。")
    return g


def escalate_overdue(s: Session, now: dt.datetime | None = None, township_limit_hours: int | None = None) -> list[str]:
    """Scheduler job: every open grievance past its time limit goes one level up.

    Rows are locked with SKIP LOCKED where the database supports it, so several
    scheduler replicas escalate each grievance exactly once."""
    now = now or utcnow()
    query = (select(Grievance)
             .where(Grievance.state.in_(OPEN_STATES), Grievance.due_at.is_not(None), Grievance.due_at < now,
                    Grievance.level > 1)
             .with_for_update(skip_locked=True))
    escalated = []
    for g in s.execute(query).scalars().all():
        try:
            escalate(s, g, None, "超过办理时限，自动上报", now, township_limit_hours)
        except NoTownshipStaff:
            # Nobody at the township to receive it: it stays with the admin, who is told once.
            notify(s, g.assignee_id or village_admin_id(s, g.village_id), "grievance_overdue",
                   f"诉求{g.ticket_no}已经超过办理时限，但镇里没有接收账号，不能上报，请村里尽快办理或直接联系镇里。",
                   f"grievance:{g.id}:no-township", payload={"ticket_no": g.ticket_no})
            continue
        audit(s, system_actor(g.village_id), "write", "grievance", g.id, f"escalated to level {g.level}",
              household_id=g.household_id)
        escalated.append(g.ticket_no)
    return escalated


# --- the township -----------------------------------------------------------------------

def township_queue(s: Session, actor: Actor, now: dt.datetime | None = None) -> list[GrievanceView]:
    """Open grievances escalated to the township of the actor (township staff; a village admin
    sees their own village's), most urgent deadline first, with ``overdue`` flags."""
    require_role(actor, (Role.township, Role.admin), "read the township queue")
    query = select(Grievance).where(Grievance.level == 1, Grievance.state.in_(OPEN_STATES))
    if actor.role == Role.admin:
        query = query.where(Grievance.village_id == actor.village_id)
    else:
        township = township_of(s, actor.village_id)
        query = query.join(Village, Village.id == Grievance.village_id).where(Village.township == township)
    rows = list(s.execute(query.order_by(Grievance.due_at, Grievance.id)).scalars())
    for g in rows:
        audit(s, actor, "read", "grievance", g.id, "township queue", household_id=g.household_id)
    return [view(s, g, now) for g in rows]


def township_overdue(s: Session, now: dt.datetime | None = None) -> list[str]:
    """Scheduler job: grievances at the township past their time limit remind the township
    assignee and the village admin, once per deadline."""
    now = now or utcnow()
    rows = s.execute(
        select(Grievance).where(Grievance.level == 1, Grievance.state.in_(OPEN_STATES),
                                Grievance.due_at.is_not(None), Grievance.due_at < now)
        .order_by(Grievance.id).with_for_update(skip_locked=True)).scalars().all()
    reminded = []
    for g in rows:
        stamp = g.due_at.strftime("%Y%m%d%H%M")
        text = f"镇里处理的诉求{g.ticket_no}（{g.category}）已经超过办理时限，请尽快办结。"
        duty = township_duty(s, g.village_id) if g.assignee_id is None else None
        recipients = [g.assignee_id or (duty.id if duty is not None else None), village_admin_id(s, g.village_id)]
        sent = False
        for user_id in dict.fromkeys(r for r in recipients if r is not None):
            key = f"grievance:{g.id}:township-overdue:{stamp}:{user_id}"
            if s.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first():
                continue
            notify(s, user_id, "township_overdue", text, key, payload={"ticket_no": g.ticket_no})
            sent = True
        if sent:
            reminded.append(g.ticket_no)
    return reminded


SATISFACTION = ("满意", "基本满意", "不满意")


def record_satisfaction(s: Session, actor: Actor, ticket_no: str, answer: str,
                        now: dt.datetime | None = None, via: str | None = None, note: str = "") -> Grievance:
    """回访: the reporter's verdict after 办结 (or, on a follow-up task, the grid worker's record
    of it: ``via`` "phone" / "visit"); 不满意 reopens the case. The open follow-up is answered
    with who, when and how (``via``, default the actor's channel)."""
    g = get_by_ticket(s, ticket_no)
    if not _may_view(actor, g, s) or g.state != GrievanceState.resolved:
        raise InvalidTransition("no resolved grievance to follow up")
    if answer not in SATISFACTION:
        raise GrievanceError("unknown satisfaction")
    now = now or utcnow()
    g.satisfaction = answer
    followup = s.execute(select(Followup).where(Followup.grievance_id == g.id,
                                                Followup.state != FollowupState.answered)
                         .order_by(Followup.id.desc()).limit(1)).scalar_one_or_none()
    if followup is not None:
        followup.state, followup.answer, followup.answered_at = FollowupState.answered, answer, now
        followup.answered_by, followup.answered_via = actor.user_id, (via or actor.channel)[:16]
        followup.note = (note or "").strip()[:1000] or None
    detail = f"{answer}（{via}）" if via else answer
    if answer == "不满意":
        event = _add_event(s, g, actor.user_id, "reopened", GrievanceState.in_progress, "群众不满意，重新办理", now)
        g.due_at = now + dt.timedelta(hours=RESOLVE_HOURS[g.urgency])
        notify(s, g.assignee_id, "grievance_reopened", f"诉求{g.ticket_no}回访不满意，请重新办理。",
               f"grievance:{g.id}:event:{event.id}:reopen", payload={"ticket_no": g.ticket_no})
    else:
        _add_event(s, g, actor.user_id, "followed_up", GrievanceState.followed_up, detail, now)
    audit(s, actor, "write", "grievance", g.id, f"satisfaction {detail}", household_id=g.household_id)
    return g


def pending_followups(s: Session, actor: Actor) -> list[Grievance]:
    """Resolved grievances waiting for this reporter's 回访 answer: the ones they filed, or for a
    household device, the household's (whoever filed them)."""
    if actor.user_id is not None:
        mine = Grievance.reporter_id == actor.user_id
    elif actor.household_id is not None:
        mine = Grievance.household_id == actor.household_id
    else:
        return []
    return list(s.execute(
        select(Grievance).where(mine, Grievance.state == GrievanceState.resolved).order_by(Grievance.id)
    ).scalars())


# --- 回访 -------------------------------------------------------------------------------

def followup_worker(s: Session, g: Grievance) -> int | None:
    """Who phones or visits when the reporter does not answer: the household's 三线 contact, else
    its grid leader, else whoever handled the grievance, else the village admin."""
    household = g.household
    if household is not None and household.contact_user_id:
        return household.contact_user_id
    leader = _grid_leader_for(s, household, g.village_id, 3) if household is not None else None
    return leader or g.assignee_id or village_admin_id(s, g.village_id)


def open_followup(s: Session, g: Grievance, resolved_event: GrievanceEvent,
                  now: dt.datetime | None = None) -> Followup:
    """The 回访 of one 办结 (idempotent per resolution event): the reporter is asked on their own
    channel — a ``followup_question`` to the reporter's account, or to the household (a voice
    device answers for it). A reporter nobody can reach becomes a task for the grid worker at once."""
    existing = s.execute(select(Followup).where(Followup.resolved_event_id == resolved_event.id)).scalar_one_or_none()
    if existing is not None:
        return existing
    now = now or utcnow()
    followup = Followup(grievance_id=g.id, resolved_event_id=resolved_event.id, village_id=g.village_id,
                        household_id=g.household_id, reporter_id=g.reporter_id, state=FollowupState.asked,
                        asked_at=now)
    s.add(followup)
    s.flush()
    if g.reporter_id is None and g.household_id is None:
        followup.state, followup.task_at = FollowupState.task, now
        followup.worker_id = followup_worker(s, g)
        notify(s, followup.worker_id, "followup_task",
               f"回访任务：诉求{g.ticket_no}（{g.description[:30]}）已办结，反映人没有留下联系方式，"
               f"能找到的话请电话或上门问一下是否满意。",
               f"followup:{followup.id}:task", payload={"followup_id": followup.id, "ticket_no": g.ticket_no})
        return followup
    notify(s, g.reporter_id, "followup_question",
           f"回访：您反映的{g.ticket_no}号诉求“{g.description[:20]}”已经办结，您满意吗？请说满意、基本满意或不满意。",
           f"followup:{followup.id}:ask", household_id=g.household_id,
           payload={"followup_id": followup.id, "ticket_no": g.ticket_no, "expects": "satisfaction"})
    return followup


def seed_demo_grievances(url: str | None = None) -> None:
    """A few grievances in different states for the demo village."""
    from bot.db import session_scope
    from bot.identity import resolve_actor

    now = utcnow()
    with session_scope(write=True, url=url) as s:
        if s.execute(select(Grievance.id).limit(1)).first():
            return
        villager = resolve_actor(s, "cli:liguifang")
        g1 = file(s, villager, "道路交通", "村口路灯坏了好几天了", "村口", now=now - dt.timedelta(days=5))
        g2 = file(s, villager, "环境卫生", "三组垃圾桶满了没人清", "三组", now=now - dt.timedelta(days=3))
        g3 = file(s, resolve_actor(s, "cli:hh003"), "水电气", "家门口水管漏水", now=now - dt.timedelta(days=10))
        g4 = file(s, resolve_actor(s, "cli:hh014"), "噪音", "晚上广场舞喇叭太吵", now=now - dt.timedelta(hours=1))
        for g in (g1, g2, g3, g4):
            g.ticket_no = {g1: "260101", g2: "260102", g3: "260103", g4: "260104"}[g]
        s.flush()
        leader = resolve_actor(s, "cli:zhaodefu")
        transition(s, leader, "260102", "accept", "已联系保洁员", now=now - dt.timedelta(days=2))
        transition(s, leader, "260103", "accept", "", now=now - dt.timedelta(days=9))
        transition(s, leader, "260103", "resolve", "水管已经修好了", now=now - dt.timedelta(days=8))
