"""Measured fixes for Rasa 3.6's own per-turn costs, applied by our Rasa launcher
(:mod:`bot.ops.rasa_server`) before Rasa starts. Each one keeps Rasa's behaviour and is pinned
to the Rasa minor version it was measured on; on any other version nothing is patched.

1. **Action-result validation.** ``RemoteAction._validate_action_result`` calls
   ``jsonschema.validate(result, schema)`` after every custom action, which re-checks the
   schema itself and builds a new validator each time: 27% of the Rasa server's CPU in a
   single-user profile (py-spy, 240 turns; README "Measured"). Here the validator is built
   once and reused; the same schema, the same ``ValidationError`` with Rasa's message. Each event
   is checked against the one branch of the schema its name selects rather than all 23 of its
   ``oneOf`` (the same verdict: the branches are told apart by their names; 5% of the Rasa
   server's CPU at 1 user before, py-spy, 2026-12-01).
2. **One HTTP connection pool per endpoint.** ``EndpointConfig.request`` opens a new
   ``aiohttp.ClientSession`` (and so a new TCP connection) for every request: every custom
   action of every turn paid a connect and a session set-up. Here ``EndpointConfig.session``
   hands out one long-lived session per endpoint settings and event loop, whose connections
   are kept alive for ``KEEPALIVE_S`` (below the action server's own 5 s keep-alive, so a
   connection the server is about to close is never reused); Rasa's ``async with`` no longer
   closes it. Same headers, authentication and timeout as Rasa's own session; the body is
   written as UTF-8 without escaped characters or spaces (the same JSON, fewer bytes).
3. **Loading DIET without tracing a training step.** ``RasaModel.load`` builds the model's
   variables by ``fit`` on one example before loading the trained weights: Keras traces the
   whole training step (the CRF entity loss and its gradients) into a graph that prediction
   never uses — 78% of the time to load the model and ~540 MB of the server's memory
   (py-spy; README "Measured"). Here that one fit step runs eagerly (no tracing; the same
   variables, optimizer slots included), then the weights are loaded and the prediction
   graph is traced as before. The same weights and the same predictions (e2e test
   ``tests/e2e/test_model_load.py``).
4. **Training DIET with one trace of the training step, not two.** Keras builds a model's
   variables (every layer's weights, and Adam's slots) lazily, inside the first call of the
   traced training step; a ``tf.function`` that creates variables is traced twice (once to
   create them, once more to run without creating any), and each trace of DIET's training step
   costs 11–14 s: the first epoch took 24–30 s and every later one 2–3 s (README "Measured").
   Here, before Keras' ``fit`` on a model without trainable variables, the loss of the first batch is
   computed eagerly (about 1 s: the layers build their weights, no update is made) and the
   optimizer builds its slots, so ``fit`` traces its training step once. The same training
   otherwise (Rasa's data, batches, epochs and update rule); applied in the training process by
   :mod:`bot.ops.rasa_train`.
5. **Event classes looked up once per name.** Rebuilding a tracker from its stored JSON (every
   ``retrieve`` of the in-memory tracker store, every turn) turns each event's name into its
   class with ``Event.resolve_by_type``, which walks the whole ``Event`` class tree and asks
   ``inspect.isabstract`` of every class, for every event: 7% of the Rasa server's CPU in a
   single-user profile (py-spy, 240 turns; README "Measured"). Here a name found once is
   remembered; names not found (and the ``default`` Rasa passes for them) go to Rasa's own
   lookup every time, so its errors and fallbacks are unchanged.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict

log = logging.getLogger(__name__)
RASA_MINOR = "3.6."
#: Idle keep-alive of pooled connections, below sanic's default KEEP_ALIVE_TIMEOUT (5 s).
KEEPALIVE_S = 2.0


def _cached_validator(schema_factory):
    """The action-result check, built once: per event type when the schema allows it
    (:class:`_EventwiseCheck`), else the whole schema's validator."""
    from jsonschema.validators import validator_for

    schema = schema_factory()
    cls = validator_for(schema)
    cls.check_schema(schema)
    try:
        return _EventwiseCheck(schema, cls)
    except ValueError:  # not the shape measured on: the whole schema, as Rasa checks it
        return cls(schema)


class _EventwiseCheck:
    """The action-result schema checked event by event against the one branch its name selects.

    Rasa's schema says each event is an object with an ``event`` name and exactly one of 23
    branches (``oneOf``), told apart by a different ``const`` name each: jsonschema tries all of
    them for every event (most of patch 1's remaining cost, 5% of the Rasa server's CPU). As the
    names are distinct, exactly one branch holds iff the branch of the event's own name holds, so
    checking only that one gives the same verdict; an unknown name matches no branch and is an
    error, as before. ``iter_errors`` yields the first error found, like a validator's."""

    def __init__(self, schema: Dict[str, Any], cls) -> None:
        import copy

        events = schema.get("properties", {}).get("events", {})
        item = events.get("items", {})
        branches = item.get("oneOf") or []
        names = [(b.get("properties") or {}).get("event", {}).get("const") for b in branches]
        if not branches or None in names or len(set(names)) != len(names) or "allOf" in item:
            raise ValueError("not one branch per event name")
        base = {k: v for k, v in item.items() if k != "oneOf"}
        self.by_name = {name: cls({**base, "allOf": [branch]}) for name, branch in zip(names, branches)}
        outer = copy.deepcopy(schema)
        outer["properties"]["events"]["items"] = {"type": "object"}
        self.outer = cls(outer)
        self.whole = cls(schema)

    def iter_errors(self, result: Any):
        errors = list(self.outer.iter_errors(result))
        if errors:
            yield from errors
            return
        for event in (result.get("events") or []) if isinstance(result, dict) else []:
            check = self.by_name.get(event.get("event")) if isinstance(event.get("event"), str) else None
            if check is None:  # no branch of that name (or no name): the whole schema says why
                yield from self.whole.iter_errors(result)
                return
            yield from check.iter_errors(event)


class _Borrowed:
    """``async with`` over a shared session that does not close it on exit."""

    def __init__(self, session):
        self.session = session

    async def __aenter__(self):
        return self.session

    async def __aexit__(self, *exc) -> None:
        return None


def _compact_json(obj: Any) -> str:
    """The action call's body as UTF-8 text: Chinese characters as themselves, not as six-byte
    escapes (the tracker's texts and slots), and no spaces."""
    import json

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _pooled_session_factory():
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    sessions: Dict[Any, Any] = {}

    def session(self) -> "_Borrowed":
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        loop = asyncio.get_running_loop()
        key = (id(loop), tuple(sorted((self.headers or {}).items())), auth)
        shared = sessions.get(key)
        if shared is None or shared.closed or shared.loop is not loop:
            shared = sessions[key] = aiohttp.ClientSession(
                headers=self.headers, auth=auth, json_serialize=_compact_json,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S))
        return _Borrowed(shared)

    async def close_all() -> None:
        for shared in list(sessions.values()):
            if not shared.closed:
                await shared.close()

    session.close_all = close_all  # type: ignore[attr-defined]
    session.sessions = lambda: list(sessions.values())  # type: ignore[attr-defined]
    return session


def _load_without_tracing_training(cls, model_file_name, model_data_example, predict_data_example=None,
                                   finetune_mode: bool = False, *args: Any, **kwargs: Any):
    """``RasaModel.load`` of Rasa 3.6 with its one fit step run eagerly (see the module doc)."""
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    model = cls(*args, **kwargs)
    config = kwargs.get("config", {})
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)), run_eagerly=True)
    model.fit(RasaBatchDataGenerator(model_data_example, batch_size=1), verbose=False)
    model.run_eagerly = config.get(RUN_EAGERLY)  # prediction: traced once, as in Rasa
    model.load_weights(model_file_name)
    if not finetune_mode and predict_data_example:
        model.run_inference(predict_data_example)
    return model


def _fit_with_variables_built(original_fit):
    """``RasaModel.fit`` that builds the model's and the optimizer's variables eagerly first."""

    @functools.wraps(original_fit)
    def fit(self, x=None, *args: Any, **kwargs: Any):
        from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

        if not self.trainable_variables and not self.run_eagerly and isinstance(x, RasaBatchDataGenerator) and len(x):
            batch, _ = x[0]
            self._training = True  # the training branch of every layer: all weights are built
            try:
                self.batch_loss(batch)
            finally:
                self._training = None
            self.optimizer.build(self.trainable_variables)
        return original_fit(self, x, *args, **kwargs)

    fit.variables_built_first = True  # type: ignore[attr-defined]
    return fit


def _remembering_event_lookup(resolve_by_type):
    """``Event.resolve_by_type`` that remembers the classes it found by name."""
    found: Dict[str, Any] = {}

    def cached(type_name, default=None):
        cls = found.get(type_name)
        if cls is None:
            cls = resolve_by_type(type_name, default)
            if cls is not None and cls is not default and getattr(cls, "type_name", None) == type_name:
                found[type_name] = cls
        return cls

    cached.remembers = True  # type: ignore[attr-defined]
    return cached


def apply() -> list[str]:
    """Applies the patches that fit the installed Rasa; returns their names."""
    import rasa
    from rasa.core.actions import action as rasa_action

    if not rasa.__version__.startswith(RASA_MINOR):
        log.warning("Rasa %s is not %sx: performance patches not applied", rasa.__version__, RASA_MINOR)
        return []
    original = rasa_action.RemoteAction._validate_action_result
    validator = functools.lru_cache(maxsize=1)(
        lambda: _cached_validator(rasa_action.RemoteAction.action_response_format_spec))

    def _validate_action_result(self, result: Dict[str, Any]) -> bool:
        from jsonschema import ValidationError

        try:
            error = next(validator().iter_errors(result), None)
        except Exception:  # noqa: BLE001 - anything unexpected: Rasa's own path decides
            return original(self, result)
        if error is None:
            return True
        try:  # Rasa's own message and exception for an invalid result
            return original(self, result)
        except ValidationError:
            raise
        except Exception:  # pragma: no cover - cannot happen: the schemas are the same
            raise error

    rasa_action.RemoteAction._validate_action_result = _validate_action_result

    from rasa.utils.endpoints import EndpointConfig

    from rasa.core import run as rasa_run

    if getattr(rasa_run.close_resources, "pooled", None) is None:  # not applied twice
        pooled = _pooled_session_factory()
        EndpointConfig.session = pooled
        close_resources = rasa_run.close_resources

        async def close_resources_and_pools(app, loop) -> None:
            try:
                await close_resources(app, loop)
            finally:
                await pooled.close_all()

        close_resources_and_pools.pooled = pooled  # type: ignore[attr-defined]
        rasa_run.close_resources = close_resources_and_pools  # registered by serve_application later
    from rasa.shared.core.events import Event

    if not getattr(Event.resolve_by_type, "remembers", False):
        Event.resolve_by_type = staticmethod(_remembering_event_lookup(Event.resolve_by_type))
    from rasa.utils.tensorflow.models import RasaModel

    RasaModel.load = classmethod(_load_without_tracing_training)
    if not getattr(RasaModel.fit, "variables_built_first", False):
        RasaModel.fit = _fit_with_variables_built(RasaModel.fit)
    return ["action-result validation compiled once", "one HTTP connection pool per endpoint",
            "model loaded without tracing a training step", "training step traced once",
            "event classes looked up once per name"]
