"""统计: per grid and month — grievances (first response against the time limit, closure),
回访 satisfaction, emergency response times against the 30-minute target, points earned,
deducted and redeemed — with a bar chart drawn on the server (SVG, no script) and a CSV export of
every table. The figures and who may see which come from the domain's reports."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable

from starlette.responses import Response

from bot import emergency, followups, grievances, points
from bot.clock import month_bounds_utc
from bot.console.texts import Refusal
from bot.console.web import Ctx, page

MONTH_CHOICES = (1, 3, 6, 12, 24)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list]


def _period(ctx: Ctx) -> tuple[int, object, object]:
    raw = ctx.query("months", "6")
    months = int(raw) if raw.isdigit() and int(raw) in MONTH_CHOICES else 6
    today = ctx.today()
    year, month = today.year, today.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    since = month_bounds_utc(year, month, ctx.settings.timezone)[0]
    until = month_bounds_utc(today.year, today.month, ctx.settings.timezone)[1]
    return months, since, until


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _rate(value: float) -> str:
    return f"{value * 100:.0f}%"


def grievance_table(ctx: Ctx, since, until) -> Table:
    rows = grievances.monthly_report(ctx.s, ctx.actor, since, until, now=ctx.now, tz=ctx.settings.timezone)
    return Table("grievances", "诉求办理", ["月份", "网格", "反映", "有首次答复", "按时答复", "按时率",
                                          "首次答复用时（小时，中位数）", "办结", "退回", "办结率", "超期未办"],
                 [[r.month, r.grid, r.filed, r.responded, r.responded_in_time, _rate(r.in_time_rate),
                   _hours(r.median_response_hours), r.closed, r.rejected, _rate(r.closure_rate), r.open_overdue]
                  for r in rows])


def satisfaction_table(ctx: Ctx, since, until) -> Table:
    rows = followups.satisfaction_report(ctx.s, ctx.actor, since, until)
    return Table("satisfaction", "回访满意度", ["网格", "类别", "回访", "已回答", "满意", "基本满意", "不满意",
                                             "网格员电话或上门问的", "还没回答", "满意率"],
                 [[r.grid, r.category, r.asked, r.answered, r.satisfied, r.basically, r.dissatisfied, r.by_worker,
                   r.waiting, _rate(r.satisfaction_rate)] for r in rows])


def emergency_table(ctx: Ctx, since, until) -> Table:
    target = ctx.settings.emergency.target_minutes
    rows = emergency.response_report(ctx.s, ctx.actor, since, until, target_minutes=target, tz=ctx.settings.timezone)
    return Table("emergencies", f"紧急求助响应（目标{target}分钟内到现场）",
                 ["月份", "网格", "求助", "有人响应", "到现场", f"{target}分钟内到", "达标率",
                  "响应用时（分钟，中位数）", "到现场用时（分钟，中位数）", "最长（分钟）", "上报过"],
                 [[r.month, r.grid, r.alerts, r.acknowledged, r.on_site, r.within_target, _rate(r.target_rate),
                   _hours(r.median_ack_minutes), _hours(r.median_on_site_minutes), _hours(r.max_on_site_minutes),
                   r.escalated] for r in rows])


def points_table(ctx: Ctx, since, until) -> Table:
    rows = points.monthly_report(ctx.s, ctx.actor, since, until, tz=ctx.settings.timezone)
    return Table("points", "积分", ["月份", "网格", "加分", "扣分", "兑换用掉", "有变动的户数"],
                 [[r.month, r.grid, r.earned, r.deducted, r.redeemed, r.households] for r in rows])


TABLES: dict[str, Callable[[Ctx, object, object], Table]] = {
    "grievances": grievance_table, "satisfaction": satisfaction_table, "emergencies": emergency_table,
    "points": points_table,
}


def _tables_for(ctx: Ctx) -> list[str]:
    """The tables this role has (the domain refuses the others)."""
    return list(TABLES) if ctx.actor.is_staff else ["grievances", "satisfaction", "emergencies"]


NUMERALS = "一二三四五六七八九十"


def grid_order(name: str) -> tuple:
    """第二网格 after 第一网格, not after 第三网格 (as plain string order would put it)."""
    digits = [NUMERALS.index(ch) + 1 for ch in name if ch in NUMERALS]
    return (digits[:1] or [99], name)


def _bars(table: Table, label_col: int, value_col: int) -> list[tuple[str, float, str]]:
    """(label, fraction of the largest, text) per grid over the period, for a bar chart."""
    totals: dict[str, float] = {}
    for row in table.rows:
        totals[row[label_col]] = totals.get(row[label_col], 0) + row[value_col]
    top = max(totals.values(), default=0) or 1
    return [(label, value / top, f"{value:g}") for label, value in sorted(totals.items(), key=lambda i: grid_order(i[0]))]


def _closure_bars(table: Table) -> list[tuple[str, float, str]]:
    per_grid: dict[str, list[int]] = {}
    for row in table.rows:
        filed, closed, rejected = row[2], row[7], row[8]
        totals = per_grid.setdefault(row[1], [0, 0])
        totals[0] += closed
        totals[1] += filed - rejected
    return [(grid, closed / handled if handled else 0.0, f"{closed}/{handled}件 {(closed / handled * 100 if handled else 0):.0f}%")
            for grid, (closed, handled) in sorted(per_grid.items(), key=lambda i: grid_order(i[0]))]


def overview(ctx: Ctx) -> dict:
    months, since, until = _period(ctx)
    tables = [TABLES[key](ctx, since, until) for key in _tables_for(ctx)]
    by_key = {t.key: t for t in tables}
    charts = [("各网格诉求办结率", _closure_bars(by_key["grievances"]))]
    if "points" in by_key:
        charts.append(("各网格加分", _bars(by_key["points"], 1, 2)))
    return {"tables": tables, "months": months, "choices": MONTH_CHOICES, "charts": charts}


def export(ctx: Ctx) -> Response:
    key = ctx.path("table")
    if key not in TABLES:
        raise Refusal("没有这张表。", 404)
    _months, since, until = _period(ctx)
    table = TABLES[key](ctx, since, until)
    out = io.StringIO()
    out.write("\ufeff")  # a BOM, so spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    filename = f"xiangyin-{key}-{ctx.today().isoformat()}.csv"
    return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


routes = [
    page("/stats", overview, "stats.html"),
    page("/stats/{table}.csv", export, "error.html"),
]
