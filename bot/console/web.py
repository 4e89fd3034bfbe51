"""What every page of the console shares.

* **Who**: the signed session cookie (Starlette's SessionMiddleware, key derived from the server
  secret) holds the id of the user who logged in with their console password; every request
  turns it into an :class:`~bot.identity.Actor` on channel ``console`` afresh
  (:func:`bot.identity.actor_for_user`), so a changed role or grid counts at once.
* **One transaction per request**: a page's builder (``build(ctx) -> dict``) or an action
  (``do(ctx) -> Done``) runs inside one ``session_scope``, in a SAVEPOINT
  (:func:`all_or_nothing`): when it fails, every write it made is undone except the audit rows
  the domain wrote (a refusal is recorded even though nothing else is).
* **CSRF**: every POST carries the session's token (hidden ``csrf`` field, or the
  ``X-CSRF-Token`` header for htmx); without it nothing runs.
* **Errors**: domain exceptions and bad form input become a short Chinese sentence
  (:mod:`bot.console.texts`), shown on the page the form was on (with what was typed) or on an
  error page; never a stack trace.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.clock import to_local
from bot.config import Settings
from bot.console import texts
from bot.console.texts import Refusal
from bot.db import session_scope
from bot.identity import Actor, actor_for_user
from bot.models import ROLE_NAMES, AuditLog, Role, utcnow

log = logging.getLogger("bot.console")

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

#: Roles that have a console; villagers and relatives use the chat, voice and Telegram.
CONSOLE_ROLES = (Role.admin, Role.grid_worker, Role.township, Role.shopkeeper)
MAX_FIELD = 4000  # characters of one form field; longer input is refused, not cut


@dataclass
class Done:
    """What a successful action answers: where to go next and what to say there."""

    to: str
    message: str = ""


@dataclass
class Ctx:
    """One request: the user, the open database session and the input."""

    request: Request
    s: Session
    actor: Actor
    settings: Settings
    form: dict[str, str] = field(default_factory=dict)
    now: dt.datetime = field(default_factory=utcnow)

    # --- input -----------------------------------------------------------------------------

    def path(self, name: str) -> Any:
        return self.request.path_params[name]

    def query(self, name: str, default: str = "") -> str:
        return (self.request.query_params.get(name) or default).strip()[:200]

    def text(self, name: str, label: str, *, required: bool = True, limit: int = MAX_FIELD) -> str:
        value = (self.form.get(name) or "").strip()
        if required and not value:
            raise Refusal(texts.need(label))
        if len(value) > limit:
            raise Refusal(texts.too_long(label, limit))
        return value

    def number(self, name: str, label: str, *, required: bool = True, low: int = 0,
               high: int = 10**9) -> int | None:
        value = (self.form.get(name) or "").strip()
        if not value and not required:
            return None
        if not value:
            raise Refusal(texts.need(label))
        if not value.isdigit() or not low <= int(value) <= high:
            raise Refusal(texts.not_a_number(label))
        return int(value)

    def choice(self, name: str, label: str, options) -> str:
        value = (self.form.get(name) or "").strip()
        if value not in options:
            raise Refusal(texts.choose(label))
        return value

    def key(self, name: str = "key") -> str:
        """The idempotency key a form was rendered with (a retried or double-clicked submit
        replays the first result instead of writing twice)."""
        value = (self.form.get(name) or "").strip()
        if not re.fullmatch(r"[0-9a-f]{32}", value):
            raise Refusal(texts.EXPIRED_FORM)
        return f"console:{value}"

    def local(self, at: dt.datetime | None) -> dt.datetime | None:
        return to_local(at, self.settings.timezone) if at is not None else None

    def today(self) -> dt.date:
        return to_local(self.now, self.settings.timezone).date()


# --- the database ---------------------------------------------------------------------------

_AUDIT_COLUMNS = [c.key for c in AuditLog.__table__.columns if c.key != "id"]


@contextlib.contextmanager
def all_or_nothing(s: Session) -> Iterator[None]:
    """Runs a request's work in a SAVEPOINT. On any failure its writes are rolled back, but the
    audit rows it added (the domain's record of a refusal or a read) are written again after
    the rollback: a refused request leaves exactly its audit trail."""
    captured: list[AuditLog] = []

    def remember(_session, instance) -> None:
        if isinstance(instance, AuditLog):
            captured.append(instance)

    event.listen(s, "transient_to_pending", remember)
    nested = s.begin_nested()
    try:
        yield
        nested.commit()
    except BaseException:
        kept = [{name: getattr(row, name) for name in _AUDIT_COLUMNS} for row in captured]
        if nested.is_active:
            nested.rollback()
        for values in kept:
            s.add(AuditLog(**values))
        raise
    finally:
        event.remove(s, "transient_to_pending", remember)


# --- rendering --------------------------------------------------------------------------------

def _local_time(value: dt.datetime | None, fmt: str = "%m月%d日 %H:%M", tz: str | None = None) -> str:
    if value is None:
        return ""
    text = to_local(value, tz).strftime(fmt)
    return re.sub(r"(?<!\d)0(\d[月日])", r"\1", text)  # 11月05日 → 11月5日, times keep their zeros


def make_environment(settings: Settings) -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda value, fmt="%m月%d日 %H:%M": _local_time(value, fmt, settings.timezone)
    env.filters["day"] = lambda value: (f"{value.month}月{value.day}日" if value is not None else "")
    env.filters["minutes"] = lambda value: "" if value is None else f"{value:g}分钟"
    env.filters["percent"] = lambda value: f"{value * 100:.0f}%"
    env.globals["new_key"] = lambda: uuid.uuid4().hex
    env.globals["ROLE_NAMES"] = ROLE_NAMES
    return env


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), [kind, message]][-3:]


def _nav(actor: Actor | None) -> list[tuple[str, str]]:
    """The menu for a role: only what the role can use (the domain refuses the rest anyway)."""
    if actor is None:
        return []
    if actor.role == Role.shopkeeper:
        return [("/", "工作台"), ("/points", "积分超市")]
    if actor.role == Role.township:
        return [("/", "工作台"), ("/grievances", "诉求"), ("/emergencies", "紧急求助"), ("/stats", "统计")]
    items = [("/", "工作台"), ("/grievances", "诉求"), ("/emergencies", "紧急求助"), ("/households", "住户"),
             ("/points", "积分"), ("/notices", "公告"), ("/stats", "统计")]
    if actor.role == Role.admin:
        items.append(("/audit", "审计"))
    return items


def render(request: Request, template: str, context: dict, status: int = 200,
           actor: Actor | None = None) -> HTMLResponse:
    app_state = request.app.state
    has_session = "session" in request.scope  # not for a crash caught outside the session middleware
    page = {
        "request": request, "actor": actor, "nav": _nav(actor), "csrf": _csrf(request) if has_session else "",
        "flashes": request.session.pop("flash", []) if has_session else [], "path": request.url.path,
        "role_name": ROLE_NAMES.get(actor.role, "") if actor is not None and actor.role else "",
        "settings": app_state.settings,
        **context,
    }
    html = app_state.templates.get_template(template).render(page)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str, actor: Actor | None = None) -> HTMLResponse:
    return render(request, "error.html", {"title": texts.ERROR_TITLES.get(status, "提示"), "message": message},
                  status=status, actor=actor)


# --- who is asking ----------------------------------------------------------------------------

def safe_next(value: str | None, default: str = "/") -> str:
    """A redirect target inside the console (a path), never another site."""
    value = (value or "").strip()
    # A path of printable characters only: browsers drop tabs and newlines, so "/\t/evil.example"
    # would become "//evil.example", another site.
    if re.fullmatch(r"/(?!/)[!-~]{0,499}", value) and "\\" not in value:
        return value
    return default


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def _actor(s: Session, request: Request) -> Actor | None:
    actor = actor_for_user(s, request.session.get("uid"), "console")
    if actor is None or actor.role not in CONSOLE_ROLES:
        return None
    return actor


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    expected = request.session.get("csrf") or ""
    given = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    return bool(expected) and hmac.compare_digest(str(given), str(expected))


async def read_form(request: Request) -> dict[str, str] | None:
    """The posted fields as text (files are ignored); None for a body that is not a form."""
    try:
        form = await request.form(max_files=0, max_fields=200)
    except Exception:  # noqa: BLE001 - a malformed or oversized body is answered, not raised
        return None
    return {key: value for key, value in form.items() if isinstance(value, str)}


# --- endpoints --------------------------------------------------------------------------------

Builder = Callable[[Ctx], "dict | Response"]
Action = Callable[[Ctx], Done]


def _run(request: Request, work: Callable[[Ctx], Any], form: dict[str, str] | None,
         respond: Callable[[Ctx, Any], Response], fail: Callable[[Ctx | None, Exception], Response]) -> Response:
    settings = request.app.state.settings
    with session_scope(write=True, url=settings.database_url) as s:
        actor = _actor(s, request)
        if actor is None:
            request.session.pop("uid", None)
            return _login_redirect(request)
        ctx = Ctx(request=request, s=s, actor=actor, settings=settings, form=form or {})
        try:
            with all_or_nothing(s):
                result = work(ctx)
        except Exception as exc:  # noqa: BLE001 - every failure gets a sentence, known ones a precise one
            return fail(ctx, exc)
        return respond(ctx, result)


def _failure(request: Request, ctx: Ctx | None, exc: Exception,
             back: tuple[Builder, str] | None = None) -> Response:
    status, message = texts.explain(exc)
    if status >= 500:
        log.exception("console request %s %s failed", request.method, request.url.path, exc_info=exc)
    else:
        log.info("console refused %s %s: %s", request.method, request.url.path, exc)
    actor = ctx.actor if ctx is not None else None
    if back is not None and ctx is not None and status < 500:
        build, template = back
        try:
            with all_or_nothing(ctx.s):
                data = build(ctx)
        except Exception:  # noqa: BLE001 - the page itself cannot be shown: the plain error page
            return error_page(request, status, message, actor)
        if isinstance(data, Response):
            return error_page(request, status, message, actor)
        return render(request, template, {**data, "error": message, "form": ctx.form}, status=status, actor=actor)
    return error_page(request, status, message, actor)


def page(path: str, build: Builder, template: str, name: str | None = None) -> Route:
    """A GET page: ``build(ctx)`` returns the template's context (or a Response)."""

    async def endpoint(request: Request) -> Response:
        if request.session.get("uid") is None:
            if request.headers.get("hx-request"):
                return Response(status_code=286)  # htmx: stop polling; the next click goes to the login
            return _login_redirect(request)

        def respond(ctx: Ctx, data) -> Response:
            if isinstance(data, Response):
                return data
            return render(request, template, {"form": {}, **data}, actor=ctx.actor)

        return await run_in_threadpool(_run, request, build, None, respond,
                                       lambda ctx, exc: _failure(request, ctx, exc))

    return Route(path, endpoint, methods=["GET"], name=name)


def action(path: str, do: Action, back: tuple[Builder, str] | None = None, name: str | None = None) -> Route:
    """A POST form: checks the CSRF token, runs ``do(ctx)`` and redirects (303) to ``Done.to``
    with its message; on failure shows ``back`` (the form's own page, with what was typed and
    the reason) or the error page."""

    async def endpoint(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return error_page(request, 400, texts.BAD_FORM)
        if not csrf_ok(request, form):
            log.warning("console POST %s without a valid CSRF token", request.url.path)
            return error_page(request, 403, texts.EXPIRED_FORM)
        if request.session.get("uid") is None:
            flash(request, texts.LOGIN_FIRST, "error")
            return RedirectResponse("/login", status_code=303)

        def respond(ctx: Ctx, done: Done) -> Response:
            if done.message:
                flash(request, done.message)
            return RedirectResponse(safe_next(done.to), status_code=303)

        return await run_in_threadpool(_run, request, do, form, respond,
                                       lambda ctx, exc: _failure(request, ctx, exc, back))

    return Route(path, endpoint, methods=["POST"], name=name)


def query_string(**params) -> str:
    """``?a=1&b=2`` of the non-empty parameters."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return ("?" + urlencode(kept, quote_via=quote)) if kept else ""
