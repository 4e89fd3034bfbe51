"""``GET /webhooks/health/`` on the Rasa server: the health report of :mod:`bot.ops.health`
(model, database and schema revision, outbox backlog, disk space) as JSON; 503 when it fails.

Enabled in ``credentials.yml`` as ``bot.channels.health.HealthInput``. It takes no messages.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot.config import Settings, load_settings


class HealthInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "health"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "HealthInput":
        return cls(load_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("health_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def check(request: Request) -> response.HTTPResponse:
            # Imported here: bot.ops.health imports the runtime, which starts these servers.
            from bot.ops.health import health

            report = await asyncio.to_thread(health, self.settings)
            return response.json(report, status=503 if report["status"] == "fail" else 200)

        return blueprint
