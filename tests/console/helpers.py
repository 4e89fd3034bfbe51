"""What the console tests share: logging in through the form, reading what the page says, and
looking things up in the database the console writes to."""
from __future__ import annotations

from sqlalchemy import func, select

from bot.models import AuditLog, OutboxMessage, User
from bot.seed import demo_password


def login(page, console, login: str, password: str | None = None, next_path: str = "/") -> None:
    """Logs in through the login form, as a clerk would."""
    page.goto(f"{console.url}/login?next={next_path}")
    page.fill("#login", login)
    page.fill("#password", demo_password(login) if password is None else password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def flashes(page) -> str:
    """Every message the page shows (success and refusal alike), joined."""
    return " / ".join(page.locator(".flash").all_inner_texts())


def user_id(s, login: str) -> int:
    return s.execute(select(User.id).where(User.login == login)).scalar_one()


def audit_rows(s, login: str | None = None, action: str | None = None, object_type: str | None = None):
    query = select(AuditLog).order_by(AuditLog.id)
    if login is not None:
        query = query.where(AuditLog.actor_id == user_id(s, login))
    if action is not None:
        query = query.where(AuditLog.action == action)
    if object_type is not None:
        query = query.where(AuditLog.object_type == object_type)
    return list(s.execute(query).scalars())


def count(s, model) -> int:
    return s.execute(select(func.count()).select_from(model)).scalar_one()


def outbox_texts(s, *, user: int | None = None, household: int | None = None, kind: str | None = None) -> list[str]:
    query = select(OutboxMessage.text).order_by(OutboxMessage.id)
    if user is not None:
        query = query.where(OutboxMessage.user_id == user)
    if household is not None:
        query = query.where(OutboxMessage.household_id == household)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list(s.execute(query).scalars())


def post_form(page, path: str, data: dict, console) -> tuple[int, str]:
    """A POST from inside the logged-in browser context (its cookies), for what a form cannot
    send: a forged id, a missing CSRF token, a replayed submit. Returns (status, page text)."""
    response = page.request.post(f"{console.url}{path}", form=data, max_redirects=0)
    return response.status, response.text()


def csrf_of(page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value")
