"""``relative``: relatives living elsewhere (子女在外). ``add`` creates the relative's account (or
finds it), links it to the household and prints a one-time code with which the relative links
their Telegram account (``/link 123456``); from then on they hear of the household's emergencies
and who is coming. ``list`` shows a household's relatives and whether they are reachable."""
from __future__ import annotations

from bot.cli.common import actor_for
from bot.config import Settings


def register(sub) -> None:
    p = sub.add_parser("relative", help="relatives living elsewhere: add (account + link code), list")
    p.add_argument("action", choices=("add", "list"))
    p.add_argument("login", nargs="?", help="add: the relative's login, e.g. limingliang")
    p.add_argument("--household", type=int, required=True, help="house number")
    p.add_argument("--name", help="add: the relative's name, e.g. 李明亮")
    p.add_argument("--relation", default="子女", help="add: 儿子, 女儿, … (default 子女)")
    p.add_argument("--phone")
    p.add_argument("--hours", type=float, default=72, help="add: validity of the link code (default 72)")
    p.add_argument("--as", dest="as_user", required=True, help="admin or grid worker login")
    p.set_defaults(func=cmd_relative)


def cmd_relative(args, settings: Settings) -> int:
    from sqlalchemy import select

    from bot.db import session_scope
    from bot.identity import AccessDenied, relatives_of, require_household
    from bot.linking import issue_link_code, register_relative
    from bot.models import ChannelIdentity, Household

    actor = actor_for(args.as_user, settings)
    if args.action == "add" and not (args.login and args.name):
        raise SystemExit("relative add needs a login and --name, e.g. `relative add limingliang --name 李明亮 …`")
    error = None
    with session_scope(write=True, url=settings.database_url) as s:  # refusals stay in the audit log
        household = s.execute(select(Household).where(Household.number == args.household,
                                                      Household.village_id == actor.village_id)).scalar_one_or_none()
        if household is None:
            raise SystemExit(f"没有{args.household}号户。 / no household {args.household}.")
        try:
            if args.action == "list":
                require_household(s, actor, household.id, "list relatives")
                for user in relatives_of(s, household.id):
                    linked = s.execute(select(ChannelIdentity.id).where(
                        ChannelIdentity.user_id == user.id, ChannelIdentity.channel == "telegram")).first()
                    print(f"{user.login}  {user.display_name}  {'已绑定电报' if linked else '未绑定电报'}")
                return 0
            user = register_relative(s, actor, args.login, args.name, household.id, args.relation, args.phone)
            code = issue_link_code(s, actor, user.login, ttl_hours=args.hours)
        except (AccessDenied, ValueError) as exc:
            error = str(exc) if isinstance(exc, ValueError) else f"没有权限 / not allowed: {exc}"
    if error:
        raise SystemExit(error)
    print(f"{user.display_name}（{args.relation}）已关联{args.household}号户。绑定码 {code}"
          f"（{args.hours:g}小时内有效，只能用一次）：在电报里发 /link {code}")
    return 0
