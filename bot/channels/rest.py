"""Rasa's REST channel with its input checked first: ``POST /webhooks/rest/webhook``.

Rasa's own ``rest`` channel answers 500 to an empty body or a JSON body that is not an
object (``[]``, ``null``, ``42``), answers nothing (200 ``[]``) to a missing or non-string
``message``, and accepts a message of any length (a 1M-character message drove one Rasa
process to 12 GB peak RSS in the fuzz run). This subclass keeps the same name, URL and
replies, and refuses such requests with a 4xx and a short Chinese message instead.

Every message then goes through the turn pipeline (:mod:`bot.channels.turn`: blank input,
the emergency override). A turn that produced no reply at all (an action failed mid-turn)
is answered with :data:`~bot.channels.turn.TURN_FAILED`, so an unacknowledged write is
never mistaken for silence.

Enabled in ``credentials.yml``::

    bot.channels.rest.RestInput:
      max_chars: 2000
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.channels import turn

MAX_SENDER = 128


def check_body(body: bytes, max_chars: int = turn.MAX_CHARS) -> Optional[tuple[int, str]]:
    """None when the body is a usable REST message, else (status, message for the client)."""
    try:
        payload = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 400, "请求格式不对：需要 JSON，例如 {\"sender\": \"cli:wangjianguo\", \"message\": \"你好\"}。"
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
        return cls(int((credentials or {}).get("max_chars") or turn.MAX_CHARS))

    def __init__(self, max_chars: int = turn.MAX_CHARS) -> None:
        self.max_chars = max_chars

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(turn.pipeline(on_new_message, self.max_chars))

        @blueprint.middleware("request")
        async def refuse_malformed(request: Request):
            if _is_webhook_post(request):
                problem = check_body(request.body, self.max_chars)
                if problem is not None:
                    status, message = problem
                    return response.json({"error": message}, status=status)
            return None

        @blueprint.middleware("response")
        async def no_silent_failure(request: Request, resp):
            if _is_webhook_post(request) and resp.status == 200 and resp.body == b"[]":
                sender = json.loads(request.body).get("sender") or "default"
                return response.json([{"recipient_id": sender, "text": turn.TURN_FAILED}])
            return None

        return blueprint
