"""The console's Starlette application: routes of every page, the signed session, security
headers, the static files (htmx, CSS, the alarm chime's script) and Chinese error pages."""
from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.config import Settings, load_settings
from bot.console import audit, auth, emergencies, grievances, home, households, notices, points, stats, texts
from bot.console.web import STATIC_DIR, error_page, make_environment
from bot.security.keys import derive_text

log = logging.getLogger("bot.console")

SESSION_COOKIE = "xiangyin_console"
#: Only our own files: no CDN, no inline script (the console works offline and resists injection).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI, so streaming stays untouched)."""

    HEADERS = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.HEADERS
                            if name not in names and not (static and name == b"cache-control")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        return error_page(request, 405, texts.METHOD_NOT_ALLOWED)
    return error_page(request, exc.status_code, texts.NOT_FOUND_PAGE)


async def _crashed(request: Request, exc: Exception) -> Response:
    log.exception("console crashed on %s %s", request.method, request.url.path, exc_info=exc)
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>出错了</title>"
                        f"<h1>{texts.SERVER_ERROR}</h1>", status_code=500)


def create_app(settings: Settings | None = None) -> Starlette:
    """The console for ``settings`` (its database, time zone, server secret)."""
    settings = settings or load_settings()
    routes = [*auth.routes, *home.routes, *grievances.routes, *emergencies.routes, *households.routes,
              *points.routes, *notices.routes, *stats.routes, *audit.routes,
              Route("/favicon.ico", lambda request: Response(status_code=204)),
              Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static")]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=derive_text(settings, "console-session"),
                   session_cookie=SESSION_COOKIE, max_age=settings.security.token_hours * 3600,
                   same_site="strict", https_only=settings.console.url.startswith("https:")),
    ]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={404: _not_found, 405: _not_found, 500: _crashed})
    app.state.settings = settings
    app.state.templates = make_environment(settings)
    return app
