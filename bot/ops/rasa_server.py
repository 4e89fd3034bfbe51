"""The Rasa server: ``rasa run`` bound to ``settings.security.bind``, its HTTP API behind a token.

    python -m bot.ops.rasa_server --model M --port P --endpoints E --credentials C

adds ``-i <settings.security.bind>`` and, when ``settings.security.rasa_api`` (default on),
``--enable-api --auth-token <rasa_api_token(settings)>`` (trackers, events and model replacement
need ``?token=``); with ``XIANGYIN_RASA_API=0`` there is no HTTP API at all, only the channel
webhooks. The token is added to Rasa's arguments inside this process, so it never appears on a
command line that every local user can read (``ps``, /proc/<pid>/cmdline). The action server's
token (``XIANGYIN_ACTION_TOKEN``, read by endpoints.yml) comes from the environment the runtime
starts this with (:func:`bot.ops.runtime.start_rasa_server`).

**Warm before ready.** Rasa loads the model before its server accepts connections (a
``before_server_start`` listener). Here the loading is followed by a few parses and policy
predictions on throwaway trackers (never stored) and the imports our channel code does on its
first request (:func:`warm_up`), so that nothing the first user's turn needs is still lazy.
Measured: this takes 0.1 s, because Rasa 3.6 already runs DIET once while loading it; the one-
second first turn was the action server's (knowledge base, ORM set-up: bot/ops/action_server.py),
and this stays as the guard on the Rasa side.
"""
from __future__ import annotations

import logging
import sys
import time

from bot.config import Settings, load_settings, quiet_libraries

log = logging.getLogger("xiangyin.rasa_server")
#: Texts parsed and predicted on at start-up: a greeting, a points and a policy question.
WARM_UP_TEXTS = ("你好", "我家有多少积分", "低保怎么申请")
WARM_UP_SENDER = "xiangyin-warm-up"


async def warm_up(agent, texts: tuple[str, ...] = WARM_UP_TEXTS) -> float:
    """Parses and policy predictions on throwaway trackers (nothing reaches the tracker store,
    the action server or the database); the seconds it took."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    started = time.perf_counter()
    if agent is None or not agent.is_ready():
        return 0.0
    for text in texts:
        parse = await agent.parse_message(text)
        tracker = DialogueStateTracker.from_events(
            WARM_UP_SENDER, [ActionExecuted(ACTION_LISTEN_NAME),
                             UserUttered(text, intent=parse.get("intent"), entities=parse.get("entities"),
                                         parse_data=parse)],
            slots=agent.domain.slots)
        agent.processor.predict_next_with_tracker(tracker)
    # What the first request through our channels imports (token check, identity, database).
    import bot.db  # noqa: F401
    import bot.identity  # noqa: F401
    import bot.security.tokens  # noqa: F401
    return time.perf_counter() - started


def warm_before_ready() -> None:
    """Wraps Rasa's model loading at server start with :func:`warm_up`."""
    import rasa.core.run as rasa_run

    load = rasa_run.load_agent_on_start

    async def load_and_warm(*args, **kwargs):
        agent = await load(*args, **kwargs)
        try:
            seconds = await warm_up(agent)
            log.info("warmed up in %.1f s", seconds)
        except Exception:  # noqa: BLE001 - a failed warm-up costs only the first turn's speed
            log.exception("warm-up failed; the first turn will be slower")
        return agent

    rasa_run.load_agent_on_start = load_and_warm


def rasa_arguments(settings: Settings, args: list[str]) -> list[str]:
    """``rasa`` arguments: ``run``, ours, the interface, and the API switch with its token."""
    extra = ["-i", settings.security.bind]
    if settings.security.rasa_api:
        from bot.security.keys import rasa_api_token

        extra += ["--enable-api", "--auth-token", rasa_api_token(settings)]
    return ["run", *args, *extra]


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    settings = load_settings()
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["rasa", *rasa_arguments(settings, args)]
    from rasa.__main__ import main as rasa_main

    from bot.ops.rasa_patches import apply as apply_patches

    apply_patches()  # measured per-turn costs of Rasa 3.6 itself (bot/ops/rasa_patches.py)
    warm_before_ready()

    rasa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
