"""登录 / 退出: the console password, checked by the one login check of the project
(:func:`bot.security.logins.check_login`: salted hashes, persistent lockout, every attempt
audited). The session then holds only the user id and a fresh CSRF token."""
from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console import texts
from bot.console.web import CONSOLE_ROLES, csrf_ok, error_page, flash, read_form, render, safe_next
from bot.db import session_scope
from bot.identity import actor_for_user, audit
from bot.security.logins import Kind, Outcome, check_login


async def login_page(request: Request) -> Response:
    if request.session.get("uid") is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "form": {}})


def _check(settings, login: str, password: str):
    """(outcome, user id, may use the console) for one attempt; all in one transaction."""
    with session_scope(write=True, url=settings.database_url) as s:
        outcome, user = check_login(s, login, password, kind=Kind.password, channel="console", settings=settings)
        if user is None:
            return outcome, None, False
        actor = actor_for_user(s, user.id, "console")
        allowed = actor is not None and actor.role in CONSOLE_ROLES
        if not allowed:
            audit(s, actor, "refused", "console", user.id, "no console for this role")
        return outcome, user.id, allowed


async def login(request: Request) -> Response:
    form = await read_form(request)
    if form is None:
        return error_page(request, 400, texts.BAD_FORM)
    next_page = safe_next(form.get("next"))
    if not csrf_ok(request, form):
        return render(request, "login.html", {"next": next_page, "form": form, "error": texts.EXPIRED_FORM},
                      status=403)
    login_name = (form.get("login") or "").strip()[:32]
    password = (form.get("password") or "")[:200]
    if not login_name or not password:
        return render(request, "login.html", {"next": next_page, "form": form, "error": texts.LOGIN_EMPTY},
                      status=400)
    settings = request.app.state.settings
    outcome, user_id, allowed = await run_in_threadpool(_check, settings, login_name, password)
    if outcome is Outcome.locked:
        return render(request, "login.html", {"next": next_page, "form": form, "error": texts.LOGIN_LOCKED},
                      status=423)
    if user_id is None:
        return render(request, "login.html", {"next": next_page, "form": form, "error": texts.LOGIN_WRONG},
                      status=401)
    if not allowed:
        return render(request, "login.html", {"next": next_page, "form": form, "error": texts.LOGIN_NOT_CONSOLE},
                      status=403)
    request.session.clear()  # nothing from before the login survives it
    request.session["uid"] = user_id
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(next_page, status_code=303)


async def logout(request: Request) -> Response:
    form = await read_form(request) or {}
    if not csrf_ok(request, form):
        return error_page(request, 403, texts.EXPIRED_FORM)
    request.session.clear()
    flash(request, texts.LOGGED_OUT)
    return RedirectResponse("/login", status_code=303)


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
