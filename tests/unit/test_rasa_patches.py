"""The Rasa performance patches keep Rasa's behaviour: a valid action result passes, an invalid
one raises Rasa's own ValidationError with its message (bot/ops/rasa_patches.py)."""
from __future__ import annotations

import types

import pytest


@pytest.fixture(autouse=True)
def _unpatched():
    """Each test applies the patches itself; Rasa's own functions are put back afterwards."""
    from rasa.core import run as rasa_run
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig
    from rasa.utils.tensorflow.models import RasaModel

    saved = (RemoteAction._validate_action_result, EndpointConfig.session, rasa_run.close_resources,
             RasaModel.__dict__["load"])
    yield
    RemoteAction._validate_action_result, EndpointConfig.session, rasa_run.close_resources, RasaModel.load = saved


def test_action_result_validation_is_rasas():
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    from bot.ops.rasa_patches import apply

    original = RemoteAction._validate_action_result
    try:
        assert apply()[0] == "action-result validation compiled once"
        action = RemoteAction("action_x", None)
        valid = {"events": [{"event": "slot", "name": "ticket", "value": "260101"}],
                 "responses": [{"text": "好的"}]}
        assert action._validate_action_result(valid) is True
        assert action._validate_action_result({"events": [], "responses": []}) is True
        for invalid in ({"events": "not a list"}, {"responses": [1]}, {"events": [{"event": "no_such_event"}]}):
            with pytest.raises(ValidationError, match="Failed to validate Action server response"):
                action._validate_action_result(invalid)
            with pytest.raises(ValidationError):
                original(action, invalid)  # Rasa's own check agrees
    finally:
        RemoteAction._validate_action_result = original


def test_endpoint_requests_share_one_connection():
    """Two action calls in a row go over one kept-alive connection (Rasa's own session opened a
    new one per call); the answer, headers and token are Rasa's; the pool closes with the server."""
    import asyncio

    from aiohttp import web
    from rasa.core import run as rasa_run
    from rasa.utils.endpoints import EndpointConfig

    from bot.ops.rasa_patches import apply

    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.transport.get_extra_info("peername"), request.query.get("token"),
                     request.headers.get("X-Test"), await request.json()))
        return web.json_response({"events": [], "responses": []})

    async def scenario() -> list:
        app = web.Application()
        app.router.add_post("/webhook", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="s3cret",
                                      headers={"X-Test": "yes"})
            answers = [await endpoint.request(json={"n": n}) for n in range(3)]
            await rasa_run.close_resources(types.SimpleNamespace(ctx=types.SimpleNamespace()),
                                           asyncio.get_running_loop())
            pools = rasa_run.close_resources.pooled.sessions()
            assert len(pools) == 1 and pools[0].closed
            return answers
        finally:
            await runner.cleanup()

    assert "one HTTP connection pool per endpoint" in apply()
    apply()  # twice: still one pool, closed once
    assert EndpointConfig.session is rasa_run.close_resources.pooled
    answers = asyncio.run(scenario())
    assert answers == [{"events": [], "responses": []}] * 3
    assert [s[1:] for s in seen] == [("s3cret", "yes", {"n": n}) for n in range(3)]
    assert len({s[0] for s in seen}) == 1, "a new connection per request"
