"""The Rasa server: ``rasa run`` bound to ``settings.security.bind``, its HTTP API behind a token.

    python -m bot.ops.rasa_server --model M --port P --endpoints E --credentials C

adds ``-i <settings.security.bind>`` and, when ``settings.security.rasa_api`` (default on),
``--enable-api --auth-token <rasa_api_token(settings)>`` (trackers, events and model replacement
need ``?token=``); with ``XIANGYIN_RASA_API=0`` there is no HTTP API at all, only the channel
webhooks. The token is added to Rasa's arguments inside this process, so it never appears on a
command line that every local user can read (``ps``, /proc/<pid>/cmdline). The action server's
token (``XIANGYIN_ACTION_TOKEN``, read by endpoints.yml) comes from the environment the runtime
starts this with (:func:`bot.ops.runtime.start_rasa_server`).
"""
from __future__ import annotations

import sys

from bot.config import Settings, load_settings, quiet_libraries


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

    rasa_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
