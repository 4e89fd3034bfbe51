"""The action server: rasa_sdk's app, bound to ``settings.security.bind``, answering only Rasa.

rasa_sdk 3.6 has no authentication and binds 0.0.0.0 (its ``SANIC_HOST``). Rasa sends the
``token`` of its action endpoint (endpoints.yml) as a query parameter on every call; this
launcher refuses ``/webhook`` and ``/actions`` without the token derived from the server secret
(:func:`bot.security.keys.action_server_token`) with 401 and a log line. ``/health`` stays open
(it says nothing but "ok").

    python -m bot.ops.action_server --port 5055

Before it listens (so before the runtime sees it ready) it does what the first action call
would otherwise do lazily (:func:`warm_up`): the ORM's mappers are configured, a pooled database
connection is opened and used for the lookup every action starts with (who is talking), and the
knowledge base is loaded and asked one question (its index, the tokenizer's dictionary).
"""
from __future__ import annotations

import argparse
import hmac
import logging

from bot.config import Settings, load_settings, quiet_libraries

log = logging.getLogger("xiangyin.action_server")
OPEN_PATHS = frozenset({"/health"})


def create_app(settings: Settings):
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from sanic import response

    from bot.security.keys import action_server_token

    expected = action_server_token(settings)
    app = create_sdk_app("actions", cors_origins=None)

    @app.middleware("request")
    async def require_token(request):
        if request.path in OPEN_PATHS:
            return None
        given = request.args.get("token") or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("refused %s %s from %s: %s", request.method, request.path, request.ip,
                        "no token" if not given else "wrong token")
            return response.json({"error": "unauthorized"}, status=401)
        return None

    return app


#: Asked of the knowledge base at start-up, so the first villager's question is not the one
#: that loads it.
WARM_UP_QUESTION = "低保怎么申请"
WARM_UP_SENDER = "warm-up:0"


def warm_up(settings: Settings) -> float:
    """Configured mappers, a database connection in the pool that has run the actor lookup, and a
    loaded, once-asked knowledge base; the seconds it took. Nothing is written."""
    import time

    from sqlalchemy.orm import configure_mappers

    from bot.db import session_scope
    from bot.identity import resolve_actor

    started = time.perf_counter()
    configure_mappers()  # the ORM's first query would do it: 0.4 s on a busy 2-core machine
    with session_scope(url=settings.database.url) as session:
        resolve_actor(session, WARM_UP_SENDER)  # read only: an unknown sender is looked up, nothing added
    try:
        from knowledge.retriever import default_kb
    except ImportError:  # a deployment without the knowledge package: nothing to load
        return time.perf_counter() - started
    default_kb(settings.paths.knowledge_dir, var_dir=settings.paths.var_dir).answer(WARM_UP_QUESTION)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)  # imports the actions
    try:
        log.info("warmed up in %.1f s", warm_up(settings))
    except Exception:  # noqa: BLE001 - a failed warm-up costs only the first call's speed
        log.exception("warm-up failed; the first action call will be slower")
    port = args.port or settings.action_port
    log.info("action server on %s:%s", settings.security.bind, port)
    app.run(host=settings.security.bind, port=port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
