"""Rasa's REST channel with its input checked first: ``POST /webhooks/rest/webhook``.

Rasa's own ``rest`` channel answers 500 to an empty body or a JSON body that is not an
object (``[]``, ``null``, ``42``), answers nothing (200 ``[]``) to a missing or non-string
``message``, and accepts a message of any length (a 1M-character message drove one Rasa
process to 12 GB peak RSS in the fuzz run). This subclass keeps the same name, URL and
replies, and refuses such requests with a 4xx and a short Chinese message instead.

Identity comes from the token, never from the body: every webhook call carries
``Authorization: Bearer <token>`` (:mod:`bot.security.tokens`); the turn speaks as the token's
sender. A ``sender`` in the body, if present, must be the same (else 403). No or a bad token is
401. Both refusals write an audit row. Tokens come from ``POST /webhooks/rest/login`` with
``{"login": ..., "pin": ...}`` (staff PIN, lockout after repeated failures), or are issued by our
own processes that hold the server secret (terminal chat, Telegram bridge, benchmarks).

Every message then goes through the turn pipeline (:mod:`bot.channels.turn`: blank input,
the emergency override). A turn that produced no reply at all (an action failed mid-turn)
is answered with :data:`~bot.channels.turn.TURN_FAILED`, so an unacknowledged write is
never mistaken for silence.

Enabled in ``credentials.yml``::

    bot.channels.rest.RestInput:
      max_chars: 2000
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels import turn
from bot.config import Settings, load_settings

log = logging.getLogger(__name__)
MAX_SENDER = 128
NEED_LOGIN = "请先登录。"
NOT_YOURS = "只能用您自己的身份说话。"
LOGIN_WRONG = "登录名或PIN不对。"
LOGIN_LOCKED = "错的次数太多，已暂时锁定，请过一会儿再试，或找村委会。"
LOGIN_FORMAT = "请求格式不对：需要 JSON，例如 {\"login\": \"wangxiulan\", \"pin\": \"1234\"}。"


def check_body(body: bytes, max_chars: int = turn.MAX_CHARS) -> Optional[tuple[int, str]]:
    """None when the body is a usable REST message, else (status, message for the client)."""
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 400, "请求格式不对：需要 JSON，例如 {\"message\": \"你好\"}。"
    if not isinstance(payload, dict):
        return 400, "请求格式不对：需要一个 JSON 对象。"
    sender, message = payload.get("sender"), payload.get("message")
    if sender is not None and (not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER):
        return 400, "sender 需要是不超过128个字符的文字。"
    if not isinstance(message, str):
        return 400, "message 需要是文字。"
    if len(message) > max_chars:
        return 413, turn.TOO_LONG.format(limit=max_chars)
    return None


def _is_webhook_post(request: Request) -> bool:
    return request.method == "POST" and request.path.rstrip("/").endswith("/webhook")


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        return cls(int((credentials or {}).get("max_chars") or turn.MAX_CHARS), load_settings())

    def __init__(self, max_chars: int = turn.MAX_CHARS, settings: Settings | None = None) -> None:
        self.max_chars = max_chars
        self.settings = settings or load_settings()

    async def _extract_sender(self, req: Request) -> Optional[Text]:
        return req.ctx.sender  # set from the verified token by the request middleware

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(turn.pipeline(on_new_message, self.max_chars))

        @blueprint.middleware("request")
        async def authenticate_and_check(request: Request):
            if not _is_webhook_post(request):
                return None
            loop = asyncio.get_running_loop()
            sender, refusal = await loop.run_in_executor(None, token_sender, self.settings, request)
            if refusal is not None:
                status, message = refusal
                return response.json({"error": message}, status=status)
            request.ctx.sender = sender
            problem = check_body(request.body, self.max_chars)
            if problem is not None:
                status, message = problem
                return response.json({"error": message}, status=status)
            return None

        @blueprint.route("/login", methods=["POST"])
        async def login(request: Request):
            loop = asyncio.get_running_loop()
            status, body = await loop.run_in_executor(None, staff_login, self.settings, request.body)
            return response.json(body, status=status)

        @blueprint.middleware("response")
        async def no_silent_failure(request: Request, resp):
            if _is_webhook_post(request) and resp.status == 200 and resp.body == b"[]":
                sender = getattr(request.ctx, "sender", None) or "default"
                return response.json([{"recipient_id": sender, "text": turn.TURN_FAILED}])
            return None

        return blueprint


def _audit_refusal(settings: Settings, detail: str, user_id: int | None = None) -> None:
    from bot.db import session_scope
    from bot.models import AuditLog

    with session_scope(write=True, url=settings.database.url) as s:
        s.add(AuditLog(actor_id=user_id, action="auth_refused", object_type="rest", object_id=None,
                       channel="rest", detail=detail[:1000]))


def token_sender(settings: Settings, request: Request) -> tuple[Optional[str], Optional[tuple[int, str]]]:
    """(the sender of the request's valid token, None) or (None, (status, message)); refusals
    are logged and audited."""
    from bot.security.tokens import TokenError, bearer, sender_of

    try:
        sender = sender_of(settings, bearer(request.headers.get("authorization")))
    except TokenError as exc:
        log.warning("REST call refused from %s: %s", request.ip, exc)
        _audit_refusal(settings, f"{request.ip}: {exc}")
        return None, (401, NEED_LOGIN)
    try:
        claimed = json.loads(request.body or b"").get("sender")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        claimed = None  # check_body answers the malformed body
    if claimed is not None and claimed != sender:
        log.warning("REST call from %s as %s claimed sender %r; refused", request.ip, sender, str(claimed)[:128])
        _audit_refusal(settings, f"{request.ip}: token of {sender} claimed {str(claimed)[:128]}")
        return None, (403, NOT_YOURS)
    return sender, None


def staff_login(settings: Settings, body: bytes) -> tuple[int, dict]:
    """``{"login", "pin"}`` → 200 ``{"token", "sender", "expires_in"}``, else 400/401/423."""
    from bot.db import session_scope
    from bot.security import logins, tokens

    try:
        payload = json.loads(body or b"")
        login, pin = payload.get("login"), payload.get("pin")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return 400, {"error": LOGIN_FORMAT}
    if not (isinstance(login, str) and isinstance(pin, str) and 0 < len(login) <= 32 and 0 < len(pin) <= 32):
        return 400, {"error": LOGIN_FORMAT}
    with session_scope(write=True, url=settings.database.url) as s:
        outcome, user = logins.check_login(s, login, pin, kind=logins.Kind.pin, channel="rest", settings=settings)
    if outcome is logins.Outcome.locked:
        return 423, {"error": LOGIN_LOCKED}
    if user is None:
        return 401, {"error": LOGIN_WRONG}
    sender = f"cli:{user.login}"
    return 200, {"token": tokens.issue(settings, sender), "sender": sender,
                 "expires_in": settings.security.token_hours * 3600}
