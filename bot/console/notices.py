"""公告 (村务公开): write and publish a notice to the village (admin) or a grid (a worker: one they
serve); it reaches every linked account and every voice device in scope through the outbox, and
the assistant can answer about it at once (its knowledge entry is written and the retrieval index
rebuilt after the commit). Per notice: who it went to, who received it, who heard it, and a page
to print for the notice board."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot import households, notices
from bot.console.texts import Refusal
from bot.console.web import Ctx, Done, action, page
from bot.models import Village


def _reindex(ctx: Ctx):
    settings = ctx.settings

    def rebuild(_path: Path) -> None:
        from knowledge.retriever import build_index

        build_index(settings.knowledge_dir, var_dir=settings.var_dir)

    return rebuild


def board(ctx: Ctx) -> dict:
    grids = [g for g in households.grids_for(ctx.s, ctx.actor) if g.level > 1]
    return {"notices": notices.notices_for(ctx.s, ctx.actor, limit=30), "grids": grids,
            "village_wide": ctx.actor.role.value == "admin"}


def publish(ctx: Ctx) -> Done:
    title = ctx.text("title", "标题", limit=64)
    body = ctx.text("body", "通知内容", limit=4000)
    scope = (ctx.form.get("scope") or "").strip()
    if scope == "village":
        grid_id = None
    elif scope.isdigit():
        grid_id = int(scope)
    else:
        raise Refusal("请选择发给谁：全村还是哪个网格。")
    deadline_text = ctx.text("deadline", "截止日期", required=False, limit=10)
    deadline = None
    if deadline_text:
        try:
            deadline = dt.date.fromisoformat(deadline_text)
        except ValueError:
            raise Refusal("截止日期看不懂，请用日历选一个日期。") from None
        if deadline < ctx.today():
            raise Refusal("截止日期已经过了，请改一下。")
    notice = notices.publish(ctx.s, ctx.actor, title, body, grid_id=grid_id, deadline=deadline, now=ctx.now,
                             knowledge_dir=ctx.settings.knowledge_dir, tz=ctx.settings.timezone,
                             reindex=_reindex(ctx))
    return Done(f"/notices/{notice.id}", "通知已经发出去了。")


def detail(ctx: Ctx) -> dict:
    notice = notices.get_notice(ctx.s, ctx.actor, ctx.path("id"))
    receipts = notices.receipts(ctx.s, ctx.actor, notice.id)
    return {"n": notice, "receipts": receipts, "received": sum(r.received for r in receipts),
            "heard": sum(r.heard for r in receipts)}


def printable(ctx: Ctx) -> dict:
    notice = notices.get_notice(ctx.s, ctx.actor, ctx.path("id"))
    village = ctx.s.get(Village, notice.village_id)
    return {"n": notice, "published_on": ctx.local(notice.published_at).date(), "village": village.name}


routes = [
    page("/notices", board, "notices.html"),
    action("/notices", publish, back=(board, "notices.html")),
    page("/notices/{id:int}", detail, "notice.html"),
    page("/notices/{id:int}/print", printable, "notice_print.html"),
]
