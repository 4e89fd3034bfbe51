"""诉求: the list with filters and search, one case with its whole timeline, the state transitions
(受理 / 进展 / 办结 / 上报 / 退回) with reply templates, staff-only notes, and 代为登记 for a villager
who phoned or came in. The rules (who may see or move which case, what each state allows) are
the domain's (:mod:`bot.grievances`)."""
from __future__ import annotations

import datetime as dt
import mimetypes

from starlette.responses import FileResponse, Response

from bot import grievances, households
from bot.clock import day_start_utc
from bot.console.texts import Refusal
from bot.console.web import Ctx, Done, action, page, query_string
from bot.grievances import ALLOWED, CATEGORIES, GrievanceQuery, LEVEL_NAMES
from bot.models import GRIEVANCE_STATE_NAMES, GrievanceState

PAGE_SIZE = 50

EVENT_NAMES = {
    "filed": "登记", "accepted": "开始办理", "note": "办理进展", "internal": "内部备注（群众看不到）",
    "resolved": "办结", "escalated": "上报", "rejected": "退回", "followed_up": "回访", "reopened": "重新办理",
    "joined": "又有人反映", "photo": "照片",
}
ACTION_NAMES = {"accept": "受理，开始办理", "note": "告诉群众进展", "resolve": "办结", "escalate": "上报",
                "reject": "退回"}
ACTION_DONE = {"accept": "已受理，群众已经知道您在办了。", "note": "进展已经告诉群众了。",
               "resolve": "已办结，系统会去问群众满不满意。", "escalate": "已上报，群众已经知道现在在哪里办。",
               "reject": "已退回，群众已经知道原因了。"}
NOTE_LABELS = {"accept": "说明", "note": "进展", "resolve": "办理结果", "escalate": "上报原因", "reject": "退回原因"}
NOTE_REQUIRED = ("note", "resolve", "reject")
# Reply templates per action, and per category where the words differ (FixMyStreet's templates).
TEMPLATES = {
    "accept": ["已经记下了，今天之内去现场看。", "已经联系了负责的人，马上处理。"],
    "note": ["已经到现场看过了，正在联系人来修。", "材料已经报上去了，正在等回复。"],
    "resolve": ["已经处理好了，请您看看还有没有问题。", "已经按政策办理完了。"],
    "escalate": ["村里解决不了，需要上级协调。"],
    "reject": ["这件事不归村里管，请到镇里相关部门反映。", "核实后情况和反映的不一样。"],
}
CATEGORY_TEMPLATES = {
    ("resolve", "道路交通"): ["路灯已经换好了。", "路面已经补好了。"],
    ("resolve", "水电气"): ["供电所已经来修好了。", "水管已经修好了，已经通水。"],
    ("resolve", "环境卫生"): ["垃圾已经清走了，保洁员以后每天来。"],
    ("resolve", "邻里纠纷"): ["已经当面调解好了，双方都同意。"],
    ("resolve", "噪音"): ["已经和对方说好了，晚上九点以后不再放音乐。"],
}


def templates_for(category: str) -> dict[str, list[str]]:
    return {act: CATEGORY_TEMPLATES.get((act, category), []) + lines for act, lines in TEMPLATES.items()}


def _date(value: str, label: str, warnings: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        warnings.append(f"{label}的日期看不懂，没有按日期筛选。")
        return None


def _filters(ctx: Ctx, grid_ids: set[int]) -> tuple[GrievanceQuery, dict, list[str]]:
    """The list's filters from the query string; a value that is not one is ignored and said so."""
    warnings: list[str] = []
    raw = {name: ctx.query(name) for name in ("state", "category", "grid", "level", "from", "to", "q", "open",
                                              "overdue", "page")}
    state = GrievanceState(raw["state"]) if raw["state"] in GrievanceState._value2member_map_ else None
    category = raw["category"] if raw["category"] in CATEGORIES else None
    grid = int(raw["grid"]) if raw["grid"].isdigit() and int(raw["grid"]) in grid_ids else None
    level = int(raw["level"]) if raw["level"] in ("1", "2", "3") else None
    since, until = _date(raw["from"], "开始", warnings), _date(raw["to"], "结束", warnings)
    number = int(raw["page"]) if raw["page"].isdigit() and 0 < int(raw["page"]) < 100000 else 1
    tz = ctx.settings.timezone
    wanted = GrievanceQuery(
        state=state, open_only=raw["open"] == "1", category=category, grid_id=grid, level=level,
        overdue=raw["overdue"] == "1", since=day_start_utc(since, tz) if since else None,
        until=day_start_utc(until + dt.timedelta(days=1), tz) if until else None, text=raw["q"][:40],
        limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    return wanted, {**raw, "page": number}, warnings


def listing(ctx: Ctx) -> dict:
    grids = households.grids_for(ctx.s, ctx.actor) if ctx.actor.is_staff else []
    wanted, raw, warnings = _filters(ctx, {g.id for g in grids})
    total, rows = grievances.search(ctx.s, ctx.actor, wanted, now=ctx.now)
    views = [(g, grievances.view(ctx.s, g, ctx.now)) for g in rows]
    pages = max(1, -(-total // PAGE_SIZE))
    keep = {k: v for k, v in raw.items() if k != "page"}
    return {
        "rows": views, "total": total, "filters": raw, "warnings": warnings, "grids": grids,
        "states": GRIEVANCE_STATE_NAMES, "categories": CATEGORIES, "levels": LEVEL_NAMES,
        "page_no": raw["page"], "pages": pages,
        "prev_url": "/grievances" + query_string(**keep, page=raw["page"] - 1) if raw["page"] > 1 else None,
        "next_url": "/grievances" + query_string(**keep, page=raw["page"] + 1) if raw["page"] < pages else None,
    }


def _ticket(ctx: Ctx) -> str:
    ticket = str(ctx.path("ticket"))
    if not (ticket.isdigit() and len(ticket) <= 8):
        raise grievances.TicketNotFound(ticket)
    return ticket


def detail(ctx: Ctx) -> dict:
    g = grievances.case_file(ctx.s, ctx.actor, _ticket(ctx))
    actions = [act for act, states in ALLOWED.items() if g.state in states]
    if g.level <= 1:
        actions = [act for act in actions if act != "escalate"]
    return {
        "g": g, "v": grievances.view(ctx.s, g, ctx.now), "events": g.events, "event_names": EVENT_NAMES,
        "actions": actions, "action_names": ACTION_NAMES, "note_labels": NOTE_LABELS, "note_required": NOTE_REQUIRED,
        "templates": templates_for(g.category), "levels": LEVEL_NAMES,
        "reporter": g.reporter, "household": g.household,
    }


def photo(ctx: Ctx) -> Response:
    """A photo the villager sent with the grievance (Telegram), for staff who may open the case:
    the file named by the case's own ``photo`` event, and only under the var folder's uploads."""
    g = grievances.case_file(ctx.s, ctx.actor, _ticket(ctx))
    event = next((e for e in g.events if e.kind == "photo" and e.id == ctx.path("event")), None)
    uploads = (ctx.settings.var_dir / "uploads").resolve()
    path = (ctx.settings.var_dir / event.note).resolve() if event is not None else None
    if path is None or uploads not in path.parents or not path.is_file():
        raise LookupError(f"no photo {ctx.path('event')} on {g.ticket_no}")
    media_type = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def act(ctx: Ctx) -> Done:
    ticket = _ticket(ctx)
    what = ctx.choice("action", "怎么办理", ALLOWED)
    note = ctx.text("note", NOTE_LABELS[what], required=what in NOTE_REQUIRED, limit=2000)
    grievances.transition(ctx.s, ctx.actor, ticket, what, note, now=ctx.now)
    return Done(f"/grievances/{ticket}", ACTION_DONE[what])


def internal_note(ctx: Ctx) -> Done:
    ticket = _ticket(ctx)
    grievances.add_internal_note(ctx.s, ctx.actor, ticket, ctx.text("internal", "内部备注", limit=2000), now=ctx.now)
    return Done(f"/grievances/{ticket}", "内部备注已保存，群众看不到。")


# --- 代为登记 -------------------------------------------------------------------------------

def new_form(ctx: Ctx) -> dict:
    """Step 1: the house number; step 2 (the household found): who asked, what, where."""
    number_text = (ctx.form.get("number") or ctx.query("number")).strip()
    found, message = None, ""
    if number_text:
        if not number_text.isdigit():
            message = "门牌号要填数字。"
        else:
            matches = households.find_households(ctx.s, ctx.actor, number=number_text)
            if matches:
                found, _visits = households.household_file(ctx.s, ctx.actor, matches[0].id, visits=0)
            else:
                message = "没有找到这个门牌号，或者这一户不在您负责的网格里。"
    return {"number": number_text, "household": found, "lookup_error": message, "categories": CATEGORIES,
            "ways": grievances.ENTRY_WAYS}


def file_new(ctx: Ctx) -> Done:
    household_id = ctx.number("household_id", "住户")
    resident = ctx.form.get("resident") or ""
    resident_id = int(resident) if resident.isdigit() else None
    if resident and resident != "none" and resident_id is None:
        raise Refusal("请从名单里选反映人。")
    category = ctx.choice("category", "诉求类别", CATEGORIES)
    description = ctx.text("description", "反映的问题", limit=2000)
    place = ctx.text("place", "地点", required=False, limit=128)
    urgency = ctx.choice("urgency", "是否紧急", grievances.FIRST_RESPONSE_HOURS)
    via = ctx.choice("via", "怎么反映的", grievances.ENTRY_WAYS)
    g = grievances.file_on_behalf(ctx.s, ctx.actor, household_id, category, description, place, urgency,
                                  resident_id=resident_id, via=via, now=ctx.now)
    return Done(f"/grievances/{g.ticket_no}", f"已登记，编号{g.ticket_no}。请把编号告诉群众。")


routes = [
    page("/grievances", listing, "grievances.html"),
    page("/grievances/new", new_form, "grievance_new.html"),
    action("/grievances/new", file_new, back=(new_form, "grievance_new.html")),
    page("/grievances/{ticket}", detail, "grievance.html"),
    page("/grievances/{ticket}/photos/{event:int}", photo, "error.html"),
    action("/grievances/{ticket}/act", act, back=(detail, "grievance.html")),
    action("/grievances/{ticket}/internal", internal_note, back=(detail, "grievance.html")),
]
