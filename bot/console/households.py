"""住户: the register by grid and colour, one household's file (residents, 三线 contact, visits,
grievances, points, colour history), adding a visit, and a colour change with its reason.
Health, custody and allowance details only for the roles the domain lets see them."""
from __future__ import annotations

from bot import care, grievances, households, points
from bot.console.web import Ctx, Done, action, page, query_string
from bot.households import HouseholdFilter
from bot.models import CARE_COLOUR_NAMES, CareColour

PAGE_SIZE = 100
COLOURS = {c.value: CARE_COLOUR_NAMES[c] for c in (CareColour.red, CareColour.yellow, CareColour.green)}


def register(ctx: Ctx) -> dict:
    grids = households.grids_for(ctx.s, ctx.actor)
    raw = {name: ctx.query(name) for name in ("colour", "grid", "alone", "q", "page", "due")}
    colour = CareColour(raw["colour"]) if raw["colour"] in COLOURS else None
    grid_names = {g.name for g in grids}
    group = raw["grid"] if raw["grid"] in grid_names else None
    number = int(raw["page"]) if raw["page"].isdigit() and 0 < int(raw["page"]) < 100000 else 1
    wanted = HouseholdFilter(colour=colour, group=group, living_alone=raw["alone"] == "1")
    due = None
    if raw["due"] == "1":  # today's visits, the whole list (the home page shows the first few)
        due = care.visits_due(ctx.s, ctx.actor, now=ctx.now, tz=ctx.settings.timezone)
        total, lines = len(due), []
    else:
        total, lines = households.register(ctx.s, ctx.actor, wanted, text=raw["q"], limit=PAGE_SIZE,
                                           offset=(number - 1) * PAGE_SIZE, today=ctx.today())
    pages = max(1, -(-total // PAGE_SIZE))
    keep = {k: v for k, v in raw.items() if k != "page"}
    return {
        "lines": lines, "due": due, "total": total, "grids": grids, "colours": COLOURS, "filters": raw,
        "page_no": number, "pages": pages,
        "prev_url": "/households" + query_string(**keep, page=number - 1) if number > 1 else None,
        "next_url": "/households" + query_string(**keep, page=number + 1) if number < pages and due is None else None,
    }


def _household_id(ctx: Ctx) -> int:
    return int(ctx.path("id"))


def detail(ctx: Ctx) -> dict:
    household_id = _household_id(ctx)
    household, visits = households.household_file(ctx.s, ctx.actor, household_id)
    summary = households.summarise(ctx.s, ctx.actor, household_id)
    year = ctx.today().year
    return {
        "h": household, "summary": summary, "visits": visits, "year": year,
        "sensitive": households.sensitive_note(ctx.s, ctx.actor, household_id),
        "history": care.colour_history(ctx.s, ctx.actor, household_id),
        "grievances": [(g, grievances.view(ctx.s, g, ctx.now))
                       for g in households.grievances_of(ctx.s, ctx.actor, household_id)],
        "ledger": points.household_ledger(ctx.s, ctx.actor, household_id),
        "colours": COLOURS, "policies": care.policies(ctx.s, household.village_id),
    }


def add_visit(ctx: Ctx) -> Done:
    household_id = _household_id(ctx)
    note = ctx.text("note", "走访情况", limit=2000)
    households.log_visit(ctx.s, ctx.actor, household_id, note, now=ctx.now)
    return Done(f"/households/{household_id}", "走访已记录。")


def change_colour(ctx: Ctx) -> Done:
    household_id = _household_id(ctx)
    colour = ctx.choice("colour", "新的颜色", COLOURS)
    reason = ctx.text("reason", "换颜色的原因", limit=1000)
    care.change_colour(ctx.s, ctx.actor, household_id, colour, reason, now=ctx.now)
    return Done(f"/households/{household_id}", f"已经改成{COLOURS[colour]}，原因已记下。")


routes = [
    page("/households", register, "households.html"),
    page("/households/{id:int}", detail, "household.html"),
    action("/households/{id:int}/visit", add_visit, back=(detail, "household.html")),
    action("/households/{id:int}/colour", change_colour, back=(detail, "household.html")),
]
