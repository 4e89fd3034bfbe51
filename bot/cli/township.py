"""``township queue``: the grievances the villages escalated to the township (镇), most urgent
deadline first, for township staff (a village admin sees their own village's)."""
from __future__ import annotations

from bot.cli.common import actor_for
from bot.config import Settings


def register(sub) -> None:
    p = sub.add_parser("township", help="township staff: the queue of grievances escalated to 镇")
    p.add_argument("action", choices=("queue",))
    p.add_argument("--as", dest="as_user", required=True, help="township staff (or village admin) login")
    p.set_defaults(func=cmd_township)


def cmd_township(args, settings: Settings) -> int:
    from sqlalchemy import select

    from bot import grievances
    from bot.clock import to_local
    from bot.db import session_scope
    from bot.models import Grievance, Village

    actor = actor_for(args.as_user, settings)
    with session_scope(write=True, url=settings.database_url) as s:  # reading the queue is audited
        views = grievances.township_queue(s, actor)
        villages = dict(s.execute(
            select(Grievance.ticket_no, Village.name).join(Village, Village.id == Grievance.village_id)
            .where(Grievance.ticket_no.in_([v.ticket_no for v in views] or ["-"]))).all())
        for v in views:
            due = f"限{to_local(v.due_at, settings.timezone):%m-%d %H:%M}" if v.due_at else ""
            late = " 已超时/OVERDUE" if v.overdue else ""
            print(f"{v.ticket_no}  {villages.get(v.ticket_no, '')}  {v.state_name}  {v.category}  {v.place}  "
                  f"{v.description[:40]}  {v.assignee or ''}  {due}{late}")
        if not views:
            print("镇里没有待办的上报诉求。 / the township queue is empty.")
    return 0
