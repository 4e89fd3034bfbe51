"""审计: the audit log per user and per household (village admins only: the domain refuses
everyone else, and records the attempt)."""
from __future__ import annotations

from bot import households
from bot.console.web import Ctx, page
from bot.identity import read_audit, village_users

ACTIONS = {"read": "查看", "write": "修改", "refused": "被拒绝", "login_ok": "登录", "login_failed": "登录失败",
           "login_locked": "账号锁定"}


def log_page(ctx: Ctx) -> dict:
    raw_user, raw_number = ctx.query("user"), ctx.query("household")
    household_id, message = None, ""
    users = village_users(ctx.s, ctx.actor)  # admins only
    user_id = int(raw_user) if raw_user.isdigit() and int(raw_user) in {u.id for u in users} else None
    if raw_number:
        found = households.find_households(ctx.s, ctx.actor, number=raw_number) if raw_number.isdigit() else []
        if found:
            household_id = found[0].id
        else:
            message = "没有这个门牌号。"
    rows = read_audit(ctx.s, ctx.actor, user_id=user_id, household_id=household_id, limit=300)
    names = {u.id: u.display_name for u in users}
    return {"rows": rows, "users": users, "names": names, "actions": ACTIONS, "lookup_error": message,
            "filters": {"user": raw_user, "household": raw_number}}


routes = [page("/audit", log_page, "audit.html")]
