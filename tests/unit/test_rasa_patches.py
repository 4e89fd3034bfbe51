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
    from rasa.shared.core.events import Event
    from rasa.utils.endpoints import EndpointConfig
    from rasa.utils.tensorflow.models import RasaModel

    saved = (RemoteAction._validate_action_result, EndpointConfig.session, rasa_run.close_resources,
             RasaModel.__dict__["load"], RasaModel.fit, Event.__dict__["resolve_by_type"])
    yield
    (RemoteAction._validate_action_result, EndpointConfig.session, rasa_run.close_resources, RasaModel.load,
     RasaModel.fit, Event.resolve_by_type) = saved


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


def test_event_lookup_is_rasas():
    """Patch 5: a stored conversation comes back as the same events; an unknown event name is still
    Rasa's error, or its fallback when one is given; the lookup walks the class tree once per name."""
    from unittest import mock

    import rasa.shared.utils.common
    from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered

    from bot.ops.rasa_patches import apply

    events = [UserUttered("我家有多少积分", {"name": "ask_points", "confidence": 0.9}), ActionExecuted("action_points"),
              SlotSet("ticket", "260101"), BotUttered("您家有43分。"), ActionExecuted("action_listen")]
    stored = [e.as_dict() for e in events]
    before = [Event.from_parameters(d) for d in stored]
    assert "event classes looked up once per name" in apply()
    with mock.patch.object(rasa.shared.utils.common, "all_subclasses",
                           wraps=rasa.shared.utils.common.all_subclasses) as walk:
        after = [Event.from_parameters(d) for d in stored * 3]
    assert [e.as_dict() for e in after] == [e.as_dict() for e in before] * 3
    assert [type(e) for e in after] == [UserUttered, ActionExecuted, SlotSet, BotUttered, ActionExecuted] * 3
    walks = [c for c in walk.call_args_list if c.args[0] is Event]
    assert len(walks) == 4  # user, action, slot, bot: the class tree walked once each
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
    assert Event.resolve_by_type("slot") is SlotSet


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
        body = await request.read()
        assert "中".encode() in body and b"\\u" not in body and b": " not in body  # UTF-8, compact
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
            answers = [await endpoint.request(json={"n": n, "text": "中文"}) for n in range(3)]
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
    assert [s[1:] for s in seen] == [("s3cret", "yes", {"n": n, "text": "中文"}) for n in range(3)]
    assert len({s[0] for s in seen}) == 1, "a new connection per request"


@pytest.mark.slow
def test_diet_training_traces_its_training_step_once(tmp_path, monkeypatch):
    """Keras traces a training step that creates variables twice; with the patch the variables
    exist before ``fit`` and DIET's training step is traced once (Rasa's own: twice)."""
    from rasa.model_training import train_nlu
    from rasa.utils.tensorflow.models import RasaModel

    from bot.ops.rasa_patches import apply

    (tmp_path / "config.yml").write_text(
        "recipe: default.v1\nlanguage: en\npipeline:\n- name: WhitespaceTokenizer\n"
        "- name: CountVectorsFeaturizer\n- name: DIETClassifier\n  epochs: 2\n"
        "  number_of_transformer_layers: 0\n  random_seed: 1\n", encoding="utf-8")
    (tmp_path / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hello there\n    - hi\n    - good morning\n'
        "- intent: bye\n  examples: |\n    - bye now\n    - see you\n    - good night\n", encoding="utf-8")
    original_step = RasaModel.train_step
    traces = []

    def counted(self, batch):
        traces.append(1)  # Python runs only while Keras traces the step into a graph
        return original_step(self, batch)

    def train(name):
        traces.clear()
        monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / f"cache-{name}"))  # nothing reused
        train_nlu(config=str(tmp_path / "config.yml"), nlu_data=str(tmp_path / "nlu.yml"),
                  output=str(tmp_path / "models"), fixed_model_name=name)
        return len(traces)

    RasaModel.train_step = counted
    try:
        assert train("own") == 2
        assert "training step traced once" in apply()
        assert train("patched") == 1
        assert (tmp_path / "models" / "patched.tar.gz").exists()
    finally:
        RasaModel.train_step = original_step


def test_checking_each_event_against_its_own_branch_gives_the_whole_schemas_verdict():
    """Patch 1's event-by-event check and Rasa's whole schema agree on every event Rasa can
    serialise and on broken copies of them (wrong types, missing or unknown names, extra fields)."""
    import copy
    import datetime as dt

    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core import events as ev

    from bot.ops.rasa_patches import _EventwiseCheck, _cached_validator

    schema = RemoteAction.action_response_format_spec()
    whole = validator_for(schema)(schema)
    check = _cached_validator(RemoteAction.action_response_format_spec)
    assert isinstance(check, _EventwiseCheck)
    samples = [
        ev.UserUttered("低保怎么申请", {"name": "ask_policy", "confidence": 0.9}, [{"entity": "topic", "value": "低保"}]),
        ev.BotUttered("好的", {"buttons": []}), ev.SlotSet("ticket", "260101"), ev.SlotSet("pending_write", {"kind": "x"}),
        ev.ActionExecuted("action_listen"), ev.FollowupAction("grievance_form"), ev.ActiveLoop("grievance_form"),
        ev.ActiveLoop(None), ev.Restarted(), ev.SessionStarted(), ev.AllSlotsReset(), ev.ConversationPaused(),
        ev.ConversationResumed(), ev.UserUtteranceReverted(), ev.ActionReverted(), ev.StoryExported(),
        ev.ActionExecutionRejected("action_x"), ev.LoopInterrupted(True), ev.EntitiesAdded([{"entity": "a", "value": 1}]),
        ev.ReminderScheduled("remind", dt.datetime(2026, 12, 1, 9, 0)), ev.ReminderCancelled("remind"),
        ev.AgentUttered("hi"),
    ]
    events = [e.as_dict() for e in samples]
    broken = [{"event": "no_such_event"}, {"name": "ticket", "value": 1}, {"event": 3}, "not an object",
              {"event": "slot", "name": 5, "value": 1}, {"event": "slot", "value": 1},
              {"event": "action", "name": None}, {"event": "user", "text": 5}, {"event": "bot", "text": ["x"]},
              {"event": "slot", "name": "a", "value": 1, "timestamp": "now"}, {"event": "followup"},
              {"event": "active_loop", "name": 7}, {"event": "restart", "metadata": "m"}]
    for event in events:
        for field in [k for k in event if k != "event"]:
            wrong = copy.deepcopy(event)
            wrong[field] = [object.__name__] if not isinstance(event[field], list) else "x"
            broken.append(wrong)
    results = [{"events": [e], "responses": []} for e in events + broken]
    results += [{"events": events, "responses": [{"text": "好"}]}, {"events": events + [broken[0]]},
                {"events": "x"}, {"responses": [1]}, {}, [], {"events": [], "responses": []}]
    verdicts = [(next(whole.iter_errors(r), None) is None, next(check.iter_errors(r), None) is None) for r in results]
    assert all(a == b for a, b in verdicts), [r for r, (a, b) in zip(results, verdicts) if a != b][:3]
    # both verdicts occur often (the schema leaves some fields free, so not every broken copy is invalid)
    assert sum(a for a, _ in verdicts) >= len(events) + 2 and sum(not a for a, _ in verdicts) >= 40
