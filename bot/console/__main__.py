"""``python -m bot.console``: the staff web console on ``settings.security.bind`` (127.0.0.1 by
default) and ``settings.console.port`` (5090); migrates the database first (idempotent)."""
from __future__ import annotations

import argparse
import sys

from bot.config import load_settings, quiet_libraries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console", description="乡音工作台 (staff web console)")
    parser.add_argument("--port", type=int, default=None, help="port (default: XIANGYIN_CONSOLE_PORT, 5090)")
    args = parser.parse_args(argv)
    quiet_libraries()
    settings = load_settings()

    import uvicorn

    from bot.console.app import create_app
    from bot.db import migrate

    migrate(settings.database_url)
    port = args.port or settings.console.port
    print(f"乡音工作台 / staff console: http://{settings.security.bind}:{port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(create_app(settings), host=settings.security.bind, port=port, log_level="warning",
                proxy_headers=False, server_header=False, ws="none")  # no websockets (Rasa pins an old one)
    return 0


if __name__ == "__main__":
    sys.exit(main())
