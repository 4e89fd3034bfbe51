"""Other staff commands: Telegram link codes, a household's audit trail (emergencies: emergencies.py)."""
from __future__ import annotations

from bot.cli.common import actor_for
from bot.config import Settings


def cmd_link_code(args, settings: Settings) -> int:
    from bot.db import session_scope
    from bot.identity import AccessDenied
    from bot.linking import issue_link_code

    actor = actor_for(args.as_user, settings)
    with session_scope(write=True, url=settings.database_url) as s:
        try:  # inside the transaction, so a refusal stays in the audit log
            code = issue_link_code(s, actor, args.login, ttl_hours=args.hours)
        except (AccessDenied, LookupError) as exc:
            code, error = None, exc
    if code is None:
        raise SystemExit(f"cannot issue a link code for {args.login!r}: {error}")
    print(f"{args.login}: 绑定码 {code}（{args.hours:g}小时内有效，只能用一次）"
          f" / link code {code} (valid {args.hours:g} h, single use). 在电报里发 /link {code}")
    return 0


def cmd_audit(args, settings: Settings) -> int:
    from sqlalchemy import select

    from bot import households
    from bot.db import session_scope
    from bot.models import Household

    actor = actor_for(args.as_user, settings)
    with session_scope(url=settings.database_url) as s:
        household = s.execute(select(Household).where(Household.number == args.household)).scalar_one_or_none()
        if household is None:
            raise SystemExit(f"no household {args.household}")
        for row in households.audit_trail(s, actor, household.id):
            who = row.actor_id if row.actor_id is not None else "-"
            print(f"{row.at:%Y-%m-%d %H:%M:%S}  user {who}  {row.channel:<8} {row.action:<8} {row.detail}")
    return 0

