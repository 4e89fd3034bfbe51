"""Staff actions on grievances: list, accept, note, resolve, escalate, reject."""
from __future__ import annotations

from bot.cli.common import actor_for
from bot.config import Settings


def cmd_grievance(args, settings: Settings) -> int:
    from bot import grievances
    from bot.db import session_scope

    actor = actor_for(args.as_user, settings)
    with session_scope(write=args.action != "list", url=settings.database_url) as s:
        if args.action == "list":
            for v in grievances.open_queue(s, actor):
                print(f"{v.ticket_no}  {v.state_name}  {v.level_name}  {v.category}  {v.place}  {v.description}")
            return 0
        g = grievances.transition(s, actor, args.ticket, args.action, args.note or "")
        print(f"{g.ticket_no}: {g.state.value}")
    return 0
