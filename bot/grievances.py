"""Grievances (诉求): filing, routing, the closed loop and its time limits.

A grievance is a report with an append-only event history; its state is changed only by
the transitions below, each of which writes a ``GrievanceEvent`` and an outbox message
for the reporter (FixMyStreet's report → updates → state model).

受理 accepted → 办理中 in_progress → 办结 resolved → 回访 followed_up,
plus 上报 escalated (组 → 村 → 镇) and 退回 rejected.
"""
from __future__ import annotations

import datetime as dt
import difflib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.identity import AccessDenied, Actor, audit, require_staff, village_admin_id
from bot.outbox import notify
from bot.models import (
    GRIEVANCE_STATE_NAMES,
    Grid,
    Grievance,
    GrievanceEvent,
    GrievanceState,
    Household,
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
    """Who handles a grievance at an escalation level: the household's 组 leader (3),
    the village admin (2), nobody inside the village for the township (1)."""
    if level == 3 and household is not None:
        grid = s.get(Grid, household.grid_id)
        while grid is not None and grid.leader_id is None:
            grid = grid.parent
        if grid is not None:
            return grid.leader_id
    if level >= 2:
        return village_admin_id(s, village_id)
    return None


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


def view(s: Session, g: Grievance) -> GrievanceView:
    notes = [e.note for e in g.events if e.kind in ("note", "resolved", "rejected", "escalated") and e.note]
    return GrievanceView(
        ticket_no=g.ticket_no, category=g.category, description=g.description, place=g.place,
        state=g.state, state_name=GRIEVANCE_STATE_NAMES[g.state], level_name=LEVEL_NAMES[g.level],
        assignee=g.assignee.display_name if g.assignee else None, created_at=g.created_at,
        last_note=notes[-1] if notes else "",
    )


def _may_view(actor: Actor, g: Grievance) -> bool:
    if actor.role == Role.admin and actor.village_id == g.village_id:
        return True
    if actor.is_staff and (g.assignee_id == actor.user_id or (g.household and g.household.grid_id in actor.grid_ids)):
        return True
    return (actor.user_id is not None and g.reporter_id == actor.user_id) or (
        actor.household_id is not None and g.household_id == actor.household_id)


def status(s: Session, actor: Actor, ticket_no: str | None = None) -> list[GrievanceView]:
    """By ticket number, or the actor's own grievances, most recent first."""
    if ticket_no:
        g = get_by_ticket(s, ticket_no)
        if not _may_view(actor, g):
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
    require_staff(actor, "grievance transition")
    g = get_by_ticket(s, ticket_no)
    if not _may_view(actor, g):
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
        text = f"您反映的{g.ticket_no}号诉求已经办结：{note}。您满意吗？请说满意、基本满意或不满意。"
    elif action == "escalate":
        return escalate(s, g, actor.user_id, note or "网格员申请上报", now)
    else:
        event = _add_event(s, g, actor.user_id, "rejected", GrievanceState.rejected, note, now)
        g.due_at = None
        text = f"您反映的{g.ticket_no}号诉求没有受理，原因是：{note}"
    _notify_reporter(s, g, event, text)
    audit(s, actor, "write", "grievance", g.id, action, household_id=g.household_id)
    return g


def escalate(s: Session, g: Grievance, actor_id: int | None, note: str, now: dt.datetime | None = None) -> Grievance:
    now = now or utcnow()
    if g.level <= 1:
        raise InvalidTransition("already at township level")
    g.level -= 1
    household = g.household
    g.assignee_id = _grid_leader_for(s, household, g.village_id, g.level)
    g.due_at = now + dt.timedelta(hours=FIRST_RESPONSE_HOURS[g.urgency])
    event = _add_event(s, g, actor_id, "escalated", GrievanceState.escalated,
                       f"上报到{LEVEL_NAMES[g.level]}：{note}", now)
    notify(s, g.assignee_id, "grievance_assigned", f"诉求{g.ticket_no}已上报到{LEVEL_NAMES[g.level]}，请处理。",
           f"grievance:{g.id}:event:{event.id}:assignee", payload={"ticket_no": g.ticket_no})
    if g.level == 1:
        village = s.get(Village, g.village_id)
        notify(s, None, "township_referral", f"{village.township}：{village.name}诉求{g.ticket_no}需要镇里处理",
               f"grievance:{g.id}:township", household_id=None)
    _notify_reporter(s, g, event, f"您反映的{g.ticket_no}号诉求已经上报到{LEVEL_NAMES[g.level]}里处理。")
    return g


def escalate_overdue(s: Session, now: dt.datetime | None = None) -> list[str]:
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
        escalate(s, g, None, "超过办理时限，自动上报", now)
        escalated.append(g.ticket_no)
    return escalated


SATISFACTION = ("满意", "基本满意", "不满意")


def record_satisfaction(s: Session, actor: Actor, ticket_no: str, answer: str,
                        now: dt.datetime | None = None) -> Grievance:
    """回访: the reporter's verdict after 办结; 不满意 reopens the case."""
    g = get_by_ticket(s, ticket_no)
    if not _may_view(actor, g) or g.state != GrievanceState.resolved:
        raise InvalidTransition("no resolved grievance to follow up")
    if answer not in SATISFACTION:
        raise GrievanceError("unknown satisfaction")
    now = now or utcnow()
    g.satisfaction = answer
    if answer == "不满意":
        event = _add_event(s, g, actor.user_id, "reopened", GrievanceState.in_progress, "群众不满意，重新办理", now)
        g.due_at = now + dt.timedelta(hours=RESOLVE_HOURS[g.urgency])
        notify(s, g.assignee_id, "grievance_reopened", f"诉求{g.ticket_no}回访不满意，请重新办理。",
               f"grievance:{g.id}:event:{event.id}:reopen", payload={"ticket_no": g.ticket_no})
    else:
        _add_event(s, g, actor.user_id, "followed_up", GrievanceState.followed_up, answer, now)
    return g


def pending_followups(s: Session, actor: Actor) -> list[Grievance]:
    if actor.user_id is None:
        return []
    return list(s.execute(
        select(Grievance).where(Grievance.reporter_id == actor.user_id, Grievance.state == GrievanceState.resolved)
    ).scalars())


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
