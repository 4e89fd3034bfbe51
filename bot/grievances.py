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
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot import replies
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
    ("环境卫生", ["垃圾", "厕所", "污水", "臭", "脏", "卫生", "粪", "下水道", "阴沟", "水沟", "排水沟", "化粪池", "蚊子", "苍蝇"]),
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


def open_reports_about(s: Session, village_id: int, text: str) -> list[Grievance]:
    """Open grievances of the village about the thing ``text`` names: its category and the same
    word for the thing ("路灯" in "村口那盏路灯咋还黑着呢" and in "村口路灯坏了好几天了"), newest
    first. For "has anyone seen to it" from a villager who reported nothing himself."""
    category = infer_category(text)
    words = [w for c, ws in CATEGORY_TRIGGERS if c == category for w in ws if len(w) >= 2 and w in (text or "")]
    if not words:
        return []
    rows = s.execute(select(Grievance).where(Grievance.village_id == village_id, Grievance.category == category,
                                             Grievance.state.in_(OPEN_STATES))
                     .order_by(Grievance.created_at.desc())).scalars()
    return [g for g in rows if any(w in g.description for w in words)]


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


#: Shared two-character runs a ticket's words need with a sentence that names it by its subject (and
#: more than any other ticket of the queue has).
SUBJECT_MIN_SHARED = 1
_HAN_PAIR = re.compile(r"(?=([\u4e00-\u9fff]{2}))")


def _pairs(text: str) -> set[str]:
    return set(_HAN_PAIR.findall(text or ""))


def open_ticket_about(s: Session, actor: Actor, text: str) -> GrievanceView | None:
    """The one open ticket of the staff member's queue that ``text`` names by its subject ("三组
    垃圾桶老满那一件" → the 三组 rubbish-bin ticket): the most two-character runs shared with its
    place, description and kind, at least ``SUBJECT_MIN_SHARED``, and more than any other ticket;
    None when no ticket or more than one fits."""
    said = _pairs(text)
    scored = sorted(((len(said & _pairs(f"{v.place}{v.description}{v.category}")), v) for v in open_queue(s, actor)),
                    key=lambda sv: -sv[0])
    if not scored or scored[0][0] < SUBJECT_MIN_SHARED or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]


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


SATISFACTION = replies.SATISFACTION  # 回访's answers, with the words that mean them (bot/replies.py)


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
    """Resolved grievances waiting for this reporter's 回访 answer: the ones they filed; for a
    household device, the household's (whoever filed them); and for a member of a household,
    also what the household's device filed (its 回访 question may reach them on their own
    channel first, and their answer must count)."""
    household_filed = and_(Grievance.household_id == actor.household_id, Grievance.reporter_id.is_(None))
    if actor.user_id is not None:
        mine = Grievance.reporter_id == actor.user_id
        if actor.household_id is not None:
            mine = or_(mine, household_filed)
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


# --- case handling in the staff console (list, case file, internal notes, 代为登记, report) ---

@dataclass(frozen=True)
class GrievanceQuery:
    """Filters of the staff list; every field left empty matches every grievance."""

    state: GrievanceState | None = None
    open_only: bool = False  # 受理 / 办理中 / 上报, whatever the state filter
    category: str | None = None
    grid_id: int | None = None  # the household's grid or any grid below it
    level: int | None = None  # 3 组, 2 村, 1 镇
    overdue: bool = False
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str = ""  # ticket number, a resident's or reporter's name, words of the text or place
    limit: int = 50
    offset: int = 0

    def describe(self) -> str:
        parts = [f"state={self.state.value}" if self.state else "", "open" if self.open_only else "",
                 f"category={self.category}" if self.category else "", f"grid={self.grid_id}" if self.grid_id else "",
                 f"level={self.level}" if self.level else "", "overdue" if self.overdue else "",
                 f"since={self.since:%Y-%m-%d}" if self.since else "", f"until={self.until:%Y-%m-%d}" if self.until else "",
                 f"text={self.text[:20]}" if self.text else ""]
        return " ".join(p for p in parts if p) or "all"


STAFF_CASE_ROLES = (Role.admin, Role.grid_worker, Role.township)


def _visible_to(s: Session, actor: Actor):
    """The grievances a staff member may handle, as a WHERE clause: the admin their village; a grid
    worker what is assigned to them or concerns a household of their grids; township staff what
    was escalated to their township or assigned to them (the rules of :func:`_may_view`)."""
    require_role(actor, STAFF_CASE_ROLES, "list grievances")
    if actor.role == Role.admin:
        return Grievance.village_id == actor.village_id
    if actor.role == Role.township:
        villages = select(Village.id).where(Village.township == township_of(s, actor.village_id))
        return (Grievance.assignee_id == actor.user_id) | ((Grievance.level == 1) & Grievance.village_id.in_(villages))
    households = select(Household.id).where(Household.grid_id.in_(actor.grid_ids or {-1}))
    return (Grievance.assignee_id == actor.user_id) | Grievance.household_id.in_(households)


def _grid_and_below(s: Session, grid_id: int) -> set[int]:
    found, frontier = {grid_id}, {grid_id}
    while frontier:
        frontier = set(s.execute(select(Grid.id).where(Grid.parent_id.in_(frontier))).scalars()) - found
        found |= frontier
    return found


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(s: Session, actor: Actor, wanted: GrievanceQuery = GrievanceQuery(),
           now: dt.datetime | None = None) -> tuple[int, list[Grievance]]:
    """The staff list: grievances the actor may handle that match ``wanted``, newest first, one
    page of ``wanted.limit`` from ``wanted.offset``; returns (how many match, the page). The
    search itself is audited once (the rows are listed, not opened)."""
    from sqlalchemy import func, or_

    from bot.models import Resident, User

    now = now or utcnow()
    query = select(Grievance).where(_visible_to(s, actor))
    if wanted.state is not None:
        query = query.where(Grievance.state == wanted.state)
    if wanted.open_only:
        query = query.where(Grievance.state.in_(OPEN_STATES))
    if wanted.category:
        query = query.where(Grievance.category == wanted.category)
    if wanted.grid_id is not None:
        households = select(Household.id).where(Household.grid_id.in_(_grid_and_below(s, wanted.grid_id)))
        query = query.where(Grievance.household_id.in_(households))
    if wanted.level is not None:
        query = query.where(Grievance.level == wanted.level)
    if wanted.overdue:
        query = query.where(Grievance.state.in_(OPEN_STATES), Grievance.due_at.is_not(None), Grievance.due_at < now)
    if wanted.since is not None:
        query = query.where(Grievance.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Grievance.created_at < wanted.until)
    text = (wanted.text or "").strip()[:40]
    if text:
        pattern = _like(text)
        by_resident = select(Resident.household_id).where(Resident.name.like(pattern, escape="\\"))
        by_reporter = select(User.id).where(User.display_name.like(pattern, escape="\\"))
        query = query.where(or_(Grievance.ticket_no == text, Grievance.description.like(pattern, escape="\\"),
                                Grievance.place.like(pattern, escape="\\"), Grievance.household_id.in_(by_resident),
                                Grievance.reporter_id.in_(by_reporter)))
    total = s.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    limit = max(1, min(int(wanted.limit), 500))
    from sqlalchemy.orm import selectinload  # the page's rows with what a view of each reads

    page = (query.order_by(Grievance.created_at.desc(), Grievance.id.desc()).limit(limit)
            .offset(max(0, int(wanted.offset)))
            .options(selectinload(Grievance.events), selectinload(Grievance.assignee),
                     selectinload(Grievance.household).selectinload(Household.grid)))
    rows = list(s.execute(page).scalars())
    audit(s, actor, "read", "grievance", None, f"list {wanted.describe()}: {total}")
    return total, rows


def case_file(s: Session, actor: Actor, ticket_no: str) -> Grievance:
    """One grievance with its whole history, for staff who may handle it (audited). A ticket
    the actor may not see is answered like a missing one (:class:`TicketNotFound`), and the
    attempt is audited."""
    require_role(actor, STAFF_CASE_ROLES, "open a grievance")
    g = get_by_ticket(s, ticket_no)
    if not _may_view(actor, g, s):
        audit(s, actor, "refused", "grievance", g.id, "case file", household_id=g.household_id)
        raise TicketNotFound(ticket_no)
    audit(s, actor, "read", "grievance", g.id, "case file", household_id=g.household_id)
    return g


#: Event kinds the reporter never hears of: staff-only notes.
INTERNAL_KINDS = ("internal",)


def add_internal_note(s: Session, actor: Actor, ticket_no: str, note: str,
                      now: dt.datetime | None = None) -> GrievanceEvent:
    """A staff-only note on the case (FixMyStreet's internal notes): in the timeline for staff,
    never sent to the reporter, never in what the resident is told. Any state."""
    g = _staff_grievance(s, actor, ticket_no)
    note = (note or "").strip()[:2000]
    if not note:
        raise GrievanceError("an internal note needs a text")
    event = GrievanceEvent(grievance_id=g.id, at=now or utcnow(), actor_id=actor.user_id, kind="internal",
                           from_state=None, to_state=None, note=note)
    s.add(event)
    s.flush()
    audit(s, actor, "write", "grievance", g.id, "internal note", household_id=g.household_id)
    return event


ENTRY_WAYS = ("电话", "来访", "走访")


def file_on_behalf(s: Session, actor: Actor, household_id: int, category: str, description: str,
                   place: str = "", urgency: str = "一般", resident_id: int | None = None, via: str = "电话",
                   now: dt.datetime | None = None) -> Grievance:
    """代为登记: staff enter a grievance for a villager who phoned or came in. The household must
    be one the staff member may see. The reporter is the resident who asked (``resident_id``, one
    of the household's) through their own account when they have one, so they follow it on their
    own channel; otherwise the household is (its voice device hears the updates and the 回访).
    The filing event records who entered it, how, and for whom."""
    require_staff(actor, "file on behalf of a villager")
    from bot.identity import require_household
    from bot.models import Resident, User

    household = require_household(s, actor, household_id, "file on behalf of a villager")
    resident, reporter = None, None
    if resident_id is not None:
        resident = s.get(Resident, resident_id)
        if resident is None or resident.household_id != household.id:
            raise GrievanceError(f"resident {resident_id} is not in household {household.id}")
        reporter = s.execute(select(User).where(User.resident_id == resident.id, User.role == Role.villager)
                             .order_by(User.id).limit(1)).scalar_one_or_none()
    description = (description or "").strip()[:2000]
    if not description:
        raise GrievanceError("empty description")
    if category not in CATEGORIES:
        category = infer_category(description) or "其他"
    if urgency not in FIRST_RESPONSE_HOURS:
        urgency = "一般"
    via = via if via in ENTRY_WAYS else "电话"
    now = now or utcnow()
    g = Grievance(
        village_id=household.village_id, ticket_no=_new_ticket_no(s), reporter_id=reporter.id if reporter else None,
        household_id=household.id, category=category, description=description,
        place=((place or "").strip() or household.address)[:128], urgency=urgency, anonymous=False,
        state=GrievanceState.accepted, level=3, assignee_id=_grid_leader_for(s, household, household.village_id, 3),
        due_at=now + dt.timedelta(hours=FIRST_RESPONSE_HOURS[urgency]), created_at=now, updated_at=now,
    )
    s.add(g)
    s.flush()
    event = _add_event(s, g, actor.user_id, "filed", GrievanceState.accepted,
                       f"{actor.display_name or '工作人员'}代为登记（{via}"
                       + (f"，反映人{resident.name}）" if resident is not None else "）"), now, first=True)
    notify(s, g.assignee_id, "grievance_assigned",
           f"新诉求{g.ticket_no}：{g.category}，{g.place}，{g.description[:40]}",
           f"grievance:{g.id}:assigned:{g.assignee_id}", payload={"ticket_no": g.ticket_no})
    _notify_reporter(s, g, event, f"您反映的问题已经登记，编号{g.ticket_no}，{where_text(s, g)}。")
    audit(s, actor, "write", "grievance", g.id, f"filed {category} on behalf ({via})", household_id=g.household_id)
    return g


@dataclass(frozen=True)
class GrievanceMonthRow:
    """Grievances of one grid (第一网格 …) filed in one local month."""

    grid: str
    month: str  # "2026-11"
    filed: int
    responded: int  # had a first response (受理, a note, 办结, 退回 or a 上报 by a person)
    responded_in_time: int  # within the first-response limit (8 hours; 2 when urgent)
    median_response_hours: float | None
    closed: int  # 办结 or 回访
    rejected: int
    open_overdue: int  # still open and past the limit now

    @property
    def closure_rate(self) -> float:
        handled = self.filed - self.rejected
        return self.closed / handled if handled > 0 else 0.0

    @property
    def in_time_rate(self) -> float:
        return self.responded_in_time / self.filed if self.filed else 0.0


def _first_response(g: Grievance) -> GrievanceEvent | None:
    for event in g.events:
        if event.kind in ("accepted", "note", "resolved", "rejected") or (
                event.kind == "escalated" and event.actor_id is not None):
            return event
    return None


def monthly_report(s: Session, actor: Actor, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   now: dt.datetime | None = None, tz: str | None = None) -> list[GrievanceMonthRow]:
    """Per grid and local month of filing: how many were filed, answered within the
    first-response limit (and the median hours), closed, rejected, and open past their limit.
    Same visibility as the staff list (:func:`search`)."""
    import statistics

    from sqlalchemy.orm import selectinload

    from bot.clock import local_date
    from bot.identity import area_name

    now = now or utcnow()
    query = select(Grievance).where(_visible_to(s, actor)).options(selectinload(Grievance.events))
    if since is not None:
        query = query.where(Grievance.created_at >= since)
    if until is not None:
        query = query.where(Grievance.created_at < until)
    groups: dict[tuple[str, str], list[Grievance]] = {}
    for g in s.execute(query.order_by(Grievance.created_at)).scalars():
        month = local_date(g.created_at, tz).strftime("%Y-%m")
        groups.setdefault((area_name(g.household), month), []).append(g)
    rows = []
    for (grid, month), items in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        hours, in_time = [], 0
        for g in items:
            first = _first_response(g)
            if first is None:
                continue
            taken = (first.at - g.created_at).total_seconds() / 3600
            hours.append(taken)
            in_time += taken <= FIRST_RESPONSE_HOURS.get(g.urgency, 8)
        rows.append(GrievanceMonthRow(
            grid=grid, month=month, filed=len(items), responded=len(hours), responded_in_time=in_time,
            median_response_hours=round(statistics.median(hours), 1) if hours else None,
            closed=sum(g.state in (GrievanceState.resolved, GrievanceState.followed_up) for g in items),
            rejected=sum(g.state == GrievanceState.rejected for g in items),
            open_overdue=sum(g.state in OPEN_STATES and g.due_at is not None and g.due_at < now for g in items)))
    audit(s, actor, "read", "grievance_report", None, f"{len(rows)} rows")
    return rows
