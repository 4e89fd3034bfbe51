"""One model load in a fresh process: ``python -m bench.model_load MODEL [--own] [--parse FILE]``
prints {"seconds": load time, "rss_mb": resident memory after the first parse} as JSON. ``--own``
loads with Rasa's own code; without it, as our Rasa server loads it (bot/ops/rasa_patches.py).
``--parse FILE`` (one sentence a line) adds "parses": [[intent, confidence, [[entity, value] …]] …],
so two loads can be compared sentence by sentence (tests/e2e/test_model_load.py)."""
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
    parser.add_argument("--parse", help="a file of sentences, one a line: their parses are printed too")
    args = parser.parse_args(argv)
    from rasa.core.agent import load_agent

    if not args.own:
        from bot.ops.rasa_patches import apply

        apply()
    started = time.monotonic()
    agent = asyncio.run(load_agent(model_path=args.model))
    seconds = time.monotonic() - started
    asyncio.run(agent.parse_message("俺家积分多少"))
    result = {"seconds": round(seconds, 2), "rss_mb": round(rss_mb(os.getpid()), 0)}
    if args.parse:
        texts = [t for t in open(args.parse, encoding="utf-8").read().splitlines() if t.strip()]

        async def parse_all() -> list:
            return [await agent.parse_message(text) for text in texts]

        result["parses"] = [[p["intent"]["name"], p["intent"]["confidence"],
                             sorted([e["entity"], str(e["value"])] for e in p["entities"])]
                            for p in asyncio.run(parse_all())]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
