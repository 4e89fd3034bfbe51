"""Rasa's REST channel with its input checked first: ``POST /webhooks/rest/webhook``.

Rasa's own ``rest`` channel answers 500 to an empty body or a JSON body that is not an
object (``[]``, ``null``, ``42``), answers nothing (200 ``[]``) to a missing or non-string
``message``, and accepts a message of any length (a 1M-character message drove one Rasa
process to 12 GB peak RSS in the fuzz run). This subclass keeps the same name, URL and
replies, and refuses such requests with a 4xx and a short Chinese message instead.

A turn that produced no reply at all (an action failed mid-turn) is answered with a request
to try again, so an unacknowledged write is never mistaken for silence.

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

MAX_CHARS = 2000
MAX_SENDER = 128
# Every turn ends with the bot saying something; an empty reply means the turn broke off
# (the action server died mid-turn), so the user is told to try again.
TURN_FAILED = "系统刚才出了点问题，这次没办成，请您再说一遍。"


def check_body(body: bytes, max_chars: int = MAX_CHARS) -> Optional[tuple[int, str]]:
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
        return 413, f"这句话太长了，请说短一点（最多{max_chars}个字）。"
    return None


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        return cls(int((credentials or {}).get("max_chars") or MAX_CHARS))

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self.max_chars = max_chars

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        @blueprint.middleware("request")
        async def refuse_malformed(request: Request):
            if request.method == "POST" and request.path.rstrip("/").endswith("/webhook"):
                problem = check_body(request.body, self.max_chars)
                if problem is not None:
                    status, message = problem
                    return response.json({"error": message}, status=status)
            return None

        @blueprint.middleware("response")
        async def no_silent_failure(request: Request, resp):
            if (request.method == "POST" and request.path.rstrip("/").endswith("/webhook")
                    and resp.status == 200 and resp.body == b"[]"):
                sender = json.loads(request.body).get("sender") or "default"
                return response.json([{"recipient_id": sender, "text": TURN_FAILED}])
            return None

        return blueprint
