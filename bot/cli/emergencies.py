"""``emergency``: the response loop from the command line — the alerts a staff member may
respond to, taking charge (ack), on site (arrive), handled (close), and the response-time report
per grid and month against the 30-minute target."""
from __future__ import annotations

import argparse
import datetime as dt

from bot.cli.common import actor_for
from bot.config import Settings

ACTIONS = ("list", "ack", "arrive", "close", "report")
STATE_NAMES = {"alert": "等人响应", "acknowledged": "已接手", "on_site": "已到场", "closed": "已处理"}


def register(sub) -> None:
    p = sub.add_parser("emergency", help="emergencies: list, ack ID, arrive ID, close ID --note, report --month")
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list")
    p.add_argument("id", nargs="?", type=int, help="the emergency (ack, arrive, close)")
    p.add_argument("--ack", type=int, metavar="ID", help=argparse.SUPPRESS)  # the older spelling of `ack ID`
    p.add_argument("--note", help="close: how it was handled (已送镇卫生院, 误按 …)")
    p.add_argument("--month", help="report: YYYY-MM (default: this month); --months N counts back from it")
    p.add_argument("--months", type=int, default=1)
    p.add_argument("--as", dest="as_user", required=True, help="staff login")
    p.set_defaults(func=cmd_emergency)


def _month_range(month: str | None, months: int, tz: str) -> tuple[dt.datetime, dt.datetime]:
    from bot.clock import local_date, month_bounds_utc
    from bot.models import utcnow

    if month:
        try:
            year, number = (int(part) for part in month.split("-"))
            dt.date(year, number, 1)
        except ValueError:
            raise SystemExit(f"--month wants YYYY-MM, not {month!r}") from None
    else:
        today = local_date(utcnow(), tz)
        year, number = today.year, today.month
    first = (year * 12 + number - 1) - (max(months, 1) - 1)
    since, _ = month_bounds_utc(first // 12, first % 12 + 1, tz)
    _, until = month_bounds_utc(year, number, tz)
    return since, until


def _line(event, tz: str) -> str:
    from bot.clock import to_local

    where = event.household.address if event.household else f"{event.channel}用户"
    step = f"  已上报{'镇里' if event.escalation_step >= 2 else '村里'}" if event.escalation_step else ""
    who = f"（{event.acknowledger.display_name}）" if event.acknowledger else ""
    return (f"{event.id}  {to_local(event.at, tz):%m-%d %H:%M}  {STATE_NAMES[event.state.value]}{who}  {where}"
            f"  “{event.text[:40]}”{step}")


def _report(s, actor, args, settings: Settings) -> None:
    from bot import emergency

    since, until = _month_range(args.month, args.months, settings.timezone)
    rows = emergency.response_report(s, actor, since, until, settings.emergency.target_minutes, settings.timezone)
    target = settings.emergency.target_minutes
    print(f"紧急求助响应 / emergency response, target {target} min (alert → on site)")
    print("month    grid        alerts  ack  on site  ≤target  rate   escalated  median ack  median on site  max")
    minutes = lambda value: "-" if value is None else f"{value:g}"  # noqa: E731
    for r in rows:
        print(f"{r.month}  {r.grid:<10}  {r.alerts:>6}  {r.acknowledged:>3}  {r.on_site:>7}  {r.within_target:>7}"
              f"  {r.target_rate:>4.0%}  {r.escalated:>9}  {minutes(r.median_ack_minutes):>10}"
              f"  {minutes(r.median_on_site_minutes):>14}  {minutes(r.max_on_site_minutes):>4}")
    if not rows:
        print("(这段时间没有紧急求助 / no emergencies in this period)")


def cmd_emergency(args, settings: Settings) -> int:
    from bot import emergency
    from bot.db import session_scope
    from bot.identity import AccessDenied
    from bot.models import EmergencyEvent

    action, emergency_id = args.action, args.id
    if args.ack:
        action, emergency_id = "ack", args.ack
    if action in ("ack", "arrive", "close") and emergency_id is None:
        raise SystemExit(f"emergency {action} needs the emergency's number, e.g. `emergency {action} 12`")
    if action == "close" and not (args.note or "").strip():
        raise SystemExit("emergency close needs --note: how it was handled (已送镇卫生院, 误按 …)")
    actor = actor_for(args.as_user, settings)
    tz = settings.timezone
    with session_scope(write=True, url=settings.database_url) as s:  # reads are audited too
        if action == "report":
            _report(s, actor, args, settings)
            return 0
        if action == "list":
            events = emergency.active_emergencies(s, actor)
            for event in events:
                print(_line(event, tz))
            if not events:
                print("没有未处理的紧急求助。 / no open emergencies.")
            return 0
        try:  # inside the transaction: a refusal stays in the audit log
            before = s.get(EmergencyEvent, emergency_id)
            had = before.acknowledged_by if before is not None else None
            if action == "ack":
                event = emergency.acknowledge(s, actor, emergency_id)
            elif action == "arrive":
                event = emergency.arrive(s, actor, emergency_id)
            else:
                event = emergency.close(s, actor, emergency_id, args.note)
        except LookupError:
            error = f"没有第{emergency_id}号紧急求助。 / no emergency {emergency_id}."
        except AccessDenied:
            error = f"第{emergency_id}号紧急求助不归您处理。 / not yours to respond to."
        except emergency.EmergencyClosed:
            error = f"第{emergency_id}号紧急求助已经处理完了。 / already closed."
        else:
            error = None
            if action == "ack" and event.acknowledged_by != actor.user_id:
                who = event.acknowledger.display_name if event.acknowledger else "别人"
                print(f"{event.id}: {who}已经接手了。 / taken by someone else.")
            elif action == "ack" and had == actor.user_id:
                print(f"{event.id}: 您已经接手了。 / you had taken charge already.")
            else:
                print(_line(event, tz))
    if error:
        raise SystemExit(error)
    return 0
