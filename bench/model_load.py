"""One model load in a fresh process: ``python -m bench.model_load MODEL [--own]`` prints
{"seconds": load time, "rss_mb": resident memory after the first parse} as JSON. ``--own`` loads
with Rasa's own code; without it, as our Rasa server loads it (bot/ops/rasa_patches.py)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from bench.stats import rss_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_load")
    parser.add_argument("model")
    parser.add_argument("--own", action="store_true", help="Rasa's own load, no patches")
    args = parser.parse_args(argv)
    from rasa.core.agent import load_agent

    if not args.own:
        from bot.ops.rasa_patches import apply

        apply()
    started = time.monotonic()
    agent = asyncio.run(load_agent(model_path=args.model))
    seconds = time.monotonic() - started
    asyncio.run(agent.parse_message("俺家积分多少"))
    print(json.dumps({"seconds": round(seconds, 2), "rss_mb": round(rss_mb(os.getpid()), 0)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
