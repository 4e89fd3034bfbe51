"""The Rasa server's health route reports the model, the database and the outbox backlog."""
from __future__ import annotations

import json
import urllib.request


def test_health_route_reports_model_database_and_outbox(rasa_server):
    with urllib.request.urlopen(f"{rasa_server}/webhooks/health/", timeout=60) as reply:
        assert reply.status == 200
        report = json.loads(reply.read())
    assert report["status"] in ("ok", "warn")
    assert report["database"] and report["outbox"] is not None and report["model"]
