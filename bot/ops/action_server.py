"""The action server: rasa_sdk's app, bound to ``settings.security.bind``, answering only Rasa.

rasa_sdk 3.6 has no authentication and binds 0.0.0.0 (its ``SANIC_HOST``). Rasa sends the
``token`` of its action endpoint (endpoints.yml) as a query parameter on every call; this
launcher refuses ``/webhook`` and ``/actions`` without the token derived from the server secret
(:func:`bot.security.keys.action_server_token`) with 401 and a log line. ``/health`` stays open
(it says nothing but "ok").

    python -m bot.ops.action_server --port 5055
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


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    port = args.port or settings.action_port
    log.info("action server on %s:%s", settings.security.bind, port)
    app.run(host=settings.security.bind, port=port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
