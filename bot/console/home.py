"""工作台: the day's work on one page, for whoever is logged in — open emergencies (live, with the
acknowledge button), grievances near or past their time limit, today's due visits (三色管理),
回访 to make, points applications and appeals to decide; the township's queue for township
staff; pickups waiting for the shop keeper. Every list comes from the domain with the actor."""
from __future__ import annotations

import datetime as dt

from bot import care, followups, grievances, points
from bot.console.emergencies import active_rows
from bot.console.web import Ctx, Done, action, page
from bot.models import Role

NEAR_HOURS = 2  # "快到期": due within this many hours
SHOWN = 12  # rows per list on the home page; the full list is one click away


def home(ctx: Ctx) -> dict:
    actor, s = ctx.actor, ctx.s
    data: dict = {"shown": SHOWN, "target": ctx.settings.emergency.target_minutes, "next": "/"}
    if actor.role in (Role.admin, Role.grid_worker, Role.township):
        data["alerts"] = active_rows(ctx)
    if actor.is_staff:
        queue = grievances.open_queue(s, actor)
        near = ctx.now + dt.timedelta(hours=NEAR_HOURS)
        data["overdue"] = [g for g in queue if g.overdue]
        data["near"] = [g for g in queue if not g.overdue and g.due_at is not None and g.due_at <= near]
        data["queue_total"] = len(queue)
        due = care.visits_due(s, actor, now=ctx.now, tz=ctx.settings.timezone)
        data["visits"], data["visits_overdue"] = due, sum(1 for d in due if d.overdue)
        data["tasks"] = followups.tasks_for(s, actor)
        data["applications"] = points.open_applications(s, actor)
        data["appeals"] = points.open_appeals(s, actor)
        data["rules"] = [r for r in points.rules(s, actor.village_id) if r.points > 0 and not r.by_quantity]
    if actor.is_township:
        data["township"] = grievances.township_queue(s, actor, now=ctx.now)
    if actor.is_shopkeeper:
        data["pickups"] = points.pending_pickups(s, actor)
    return data


def answer_followup(ctx: Ctx) -> Done:
    """A 回访 made by phone or in person: the answer the villager gave."""
    answer = ctx.choice("answer", "群众的回答", grievances.SATISFACTION)
    method = ctx.choice("method", "回访方式", followups.METHODS)
    note = ctx.text("note", "说明", required=False, limit=1000)
    followup = followups.answer_task(ctx.s, ctx.actor, ctx.path("id"), answer, method, note, now=ctx.now)
    more = "，诉求已经重新打开办理" if answer == "不满意" else ""
    return Done("/", f"回访已记录：{followup.answer}{more}。")


routes = [
    page("/", home, "home.html"),
    action("/followups/{id:int}", answer_followup, back=(home, "home.html")),
]
