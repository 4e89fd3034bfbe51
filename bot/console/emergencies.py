"""紧急求助: the live panel (工作台 and this page, refreshed by htmx every few seconds, with a
chime while an alert waits), the board of recent alerts with every timestamp and who took
charge, response times against the target, and the three steps 收到 → 到现场 → 处理完."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot import emergency
from bot.clock import month_bounds_utc
from bot.console.web import Ctx, Done, action, page, safe_next
from bot.models import EMERGENCY_STATE_NAMES, EmergencyEvent, EmergencyState

BOARD_DAYS = 30


@dataclass(frozen=True)
class AlertRow:
    """One emergency as the console shows it."""

    id: int
    at: dt.datetime
    where: str
    who: str
    phone: str
    text: str
    state: EmergencyState
    state_name: str
    alerted: str
    acknowledged_at: dt.datetime | None
    acknowledged_by: str
    on_site_at: dt.datetime | None
    on_site_by: str
    closed_at: dt.datetime | None
    closed_by: str
    close_note: str
    escalation_step: int
    minutes_waiting: int  # since the alert, until on site (or now)
    ack_minutes: float | None
    on_site_minutes: float | None
    within_target: bool | None  # on site within the target; None while nobody is there

    @property
    def waiting(self) -> bool:
        return self.state == EmergencyState.alert


def _name(user) -> str:
    return user.display_name if user is not None else ""


def _minutes(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


def alert_row(event: EmergencyEvent, now: dt.datetime, target: int) -> AlertRow:
    household = event.household
    head = next((r for r in household.residents if r.is_head), None) if household is not None else None
    on_site = _minutes(event.at, event.on_site_at)
    end = event.on_site_at or event.closed_at or now
    return AlertRow(
        id=event.id, at=event.at, where=household.address if household is not None else f"未绑定的{event.channel}用户",
        who=head.name if head is not None else _name(event.caller), phone=(head.phone or "") if head else "",
        text=event.text, state=event.state, state_name=EMERGENCY_STATE_NAMES[event.state],
        alerted=_name(event.alerted), acknowledged_at=event.acknowledged_at, acknowledged_by=_name(event.acknowledger),
        on_site_at=event.on_site_at, on_site_by=_name(event.on_site_user), closed_at=event.closed_at,
        closed_by=_name(event.closer), close_note=event.close_note or "", escalation_step=event.escalation_step,
        minutes_waiting=max(0, int((end - event.at).total_seconds() // 60)),
        ack_minutes=_minutes(event.at, event.acknowledged_at), on_site_minutes=on_site,
        within_target=None if on_site is None else on_site <= target)


def active_rows(ctx: Ctx) -> list[AlertRow]:
    """Emergencies not closed that the user may respond to (the domain decides who)."""
    target = ctx.settings.emergency.target_minutes
    return [alert_row(e, ctx.now, target) for e in emergency.active_emergencies(ctx.s, ctx.actor)]


def panel(ctx: Ctx) -> dict:
    return {"alerts": active_rows(ctx), "target": ctx.settings.emergency.target_minutes,
            "next": safe_next(ctx.query("next"), "/")}


def board(ctx: Ctx) -> dict:
    target = ctx.settings.emergency.target_minutes
    since = ctx.now - dt.timedelta(days=BOARD_DAYS)
    if ctx.actor.is_staff:
        events = emergency.staff_overview(ctx.s, ctx.actor, since)
    else:  # township staff: what they may respond to (the domain refuses everyone else)
        events = list(reversed(emergency.active_emergencies(ctx.s, ctx.actor)))
    rows = [alert_row(e, ctx.now, target) for e in events]
    today = ctx.today()
    start, end = month_bounds_utc(today.year, today.month, ctx.settings.timezone)
    report = emergency.response_report(ctx.s, ctx.actor, since=start, until=end, target_minutes=target,
                                       tz=ctx.settings.timezone)
    return {"alerts": [r for r in rows if r.state != EmergencyState.closed],
            "closed": [r for r in rows if r.state == EmergencyState.closed],
            "report": report, "target": target, "days": BOARD_DAYS, "month": f"{today.year}年{today.month}月",
            "next": "/emergencies"}


def _done(ctx: Ctx, message: str) -> Done:
    return Done(safe_next(ctx.form.get("next"), "/emergencies"), message)


def acknowledge(ctx: Ctx) -> Done:
    event = emergency.acknowledge(ctx.s, ctx.actor, ctx.path("id"), now=ctx.now)
    if event.acknowledged_by != ctx.actor.user_id:
        return _done(ctx, f"{_name(event.acknowledger)}已经接手这条求助了。")
    return _done(ctx, "已收到。求助的人已经知道您正在赶过去。")


def arrive(ctx: Ctx) -> Done:
    emergency.arrive(ctx.s, ctx.actor, ctx.path("id"), now=ctx.now)
    return _done(ctx, "已记录：到现场了。")


def close(ctx: Ctx) -> Done:
    note = ctx.text("note", "处理结果", limit=500)
    event = emergency.close(ctx.s, ctx.actor, ctx.path("id"), note, now=ctx.now)
    if event.closed_by != ctx.actor.user_id:
        raise emergency.EmergencyClosed(f"emergency {event.id} closed by someone else")
    return _done(ctx, "已记录：处理完了。")


routes = [
    page("/emergencies", board, "emergencies.html"),
    page("/panel/emergencies", panel, "_emergency_panel.html"),
    action("/emergencies/{id:int}/ack", acknowledge),
    action("/emergencies/{id:int}/arrive", arrive),
    action("/emergencies/{id:int}/close", close, back=(board, "emergencies.html")),
]

