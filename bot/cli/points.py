"""Staff commands on the points ledger: award by rule, appeals, corrections."""
from __future__ import annotations

import os
import sys

from bot.cli.common import actor_for
from bot.config import Settings


def cmd_points(args, settings: Settings) -> int:
    from sqlalchemy import select

    from bot import points
    from bot.db import session_scope
    from bot.models import Household

    actor = actor_for(args.as_user, settings)
    with session_scope(write=True, url=settings.database_url) as s:
        household = s.execute(select(Household).where(Household.number == args.household)).scalar_one()
        entry = points.award(s, actor, household.id, args.rule, args.reason or "", args.key or os.urandom(8).hex())
        print(f"household {args.household}: {entry.delta:+d} ({entry.reason}); balance {points.balance_of(s, household.id)}")
    return 0


def _refusal(exc: Exception) -> str:
    from bot import points

    reasons = {
        points.AppealClosed: "这个申诉已经处理过了",
        points.NotReversible: "兑换记录和更正记录不能再更正",
        points.InsufficientPoints: "更正以后积分会变成负数，不能更正",
    }
    return next((text for kind, text in reasons.items() if isinstance(exc, kind)), "没有权限，或者查不到这条记录")


def cmd_points_appeals(args, settings: Settings) -> int:
    from bot import points
    from bot.db import session_scope

    actor = actor_for(args.as_user, settings)
    with session_scope(url=settings.database_url) as s:
        appeals = points.open_appeals(s, actor)
    if not appeals:
        print("没有待处理的积分申诉。")
    for a in appeals:
        print(f"{a.id}  {a.household_number}号户  {a.entry_at:%Y-%m-%d} {a.entry_reason} {a.delta:+d}"
              f"（记录{a.entry_id}）  申诉理由：{a.reason or '无'}")
    return 0


def _refused(verb: str, exc: Exception) -> int:
    print(f"没有{verb}：{_refusal(exc)}（{exc!r}）", file=sys.stderr)
    return 1


def cmd_points_decide(args, settings: Settings) -> int:
    from bot import points
    from bot.db import session_scope
    from bot.identity import AccessDenied

    actor = actor_for(args.as_user, settings)
    try:
        with session_scope(write=True, url=settings.database_url) as s:
            decided = points.decide_appeal(s, actor, args.appeal_id, overturn=args.overturn, note=args.note or "")
            print(f"appeal {decided.id}: {decided.state.value}; balance {points.balance_of(s, decided.household_id)}")
    except (points.PointsError, AccessDenied) as exc:
        return _refused("处理", exc)
    return 0


def cmd_points_reverse(args, settings: Settings) -> int:
    from bot import points
    from bot.db import session_scope
    from bot.identity import AccessDenied

    actor = actor_for(args.as_user, settings)
    key = args.key or f"cli-reverse:{args.entry_id}"
    try:
        with session_scope(write=True, url=settings.database_url) as s:
            entry = points.reverse(s, actor, args.entry_id, args.reason, key)
            again = "（这条记录之前已经更正过）" if entry.idempotency_key != key else ""
            print(f"entry {entry.id} reverses {entry.reverses_id}: {entry.delta:+d}{again}; "
                  f"balance {points.balance_of(s, entry.household_id)}")
    except (points.PointsError, AccessDenied) as exc:
        return _refused("更正", exc)
    return 0
