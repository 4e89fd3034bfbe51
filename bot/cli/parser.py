"""The argument parser of ``python -m bot`` (also installed as ``xiangyin``): every subcommand,
its flags, and the function that runs it (``func(args, settings) -> exit code``)."""
from __future__ import annotations

import argparse

from bot.cli import grievances, points, servers, staff


def _as_staff(p: argparse.ArgumentParser, help: str | None = "staff login") -> None:
    p.add_argument("--as", dest="as_user", required=True, help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xiangyin", description="乡音 Xiangyin village assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train if needed, seed, serve and chat")
    p.add_argument("--user", help="demo login to chat as (default: XIANGYIN_DEMO_USER or wangjianguo)")
    p.add_argument("--no-chat", action="store_true")
    p.set_defaults(func=servers.cmd_run)
    p = sub.add_parser("train", help="train the Rasa model if data or config changed")
    p.add_argument("--config", default="config.yml")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=servers.cmd_train)
    sub.add_parser("seed", help="migrate the database and seed the demo village").set_defaults(func=servers.cmd_seed)
    sub.add_parser("serve", help="start action + Rasa servers").set_defaults(func=servers.cmd_serve)
    p = sub.add_parser("chat", help="terminal chat with a running server")
    p.add_argument("--user")
    p.set_defaults(func=servers.cmd_chat)

    p = sub.add_parser("grievance", help="staff actions on grievances")
    p.add_argument("action", choices=["list", "accept", "note", "resolve", "escalate", "reject"])
    p.add_argument("ticket", nargs="?")
    p.add_argument("--note")
    _as_staff(p)
    p.set_defaults(func=grievances.cmd_grievance)

    p = sub.add_parser("points", help="award or deduct points by rule")
    p.add_argument("household", type=int, help="house number")
    p.add_argument("rule", help="rule activity, e.g. 义务清扫")
    p.add_argument("--reason")
    p.add_argument("--key", help="idempotency key")
    _as_staff(p, help=None)
    p.set_defaults(func=points.cmd_points)
    p = sub.add_parser("points-appeals", help="list open points appeals")
    _as_staff(p)
    p.set_defaults(func=points.cmd_points_appeals)
    p = sub.add_parser("points-decide", help="uphold or overturn a points appeal")
    p.add_argument("appeal_id", type=int)
    decision = p.add_mutually_exclusive_group(required=True)
    decision.add_argument("--overturn", dest="overturn", action="store_true", help="撤销扣分, refund the points")
    decision.add_argument("--uphold", dest="overturn", action="store_false", help="维持扣分")
    p.add_argument("--note", required=True, help="decision note, shown to the household")
    _as_staff(p)
    p.set_defaults(func=points.cmd_points_decide)
    p = sub.add_parser("points-reverse", help="correct a ledger entry with a reversing entry")
    p.add_argument("entry_id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--key", help="idempotency key (default: one per entry)")
    _as_staff(p)
    p.set_defaults(func=points.cmd_points_reverse)

    p = sub.add_parser("link-code", help="issue a one-time code that links a Telegram account")
    p.add_argument("login", help="the user to link, e.g. hh012 or wangjianguo")
    _as_staff(p, help="admin or grid worker login")
    p.add_argument("--hours", type=float, default=72, help="validity (default 72)")
    p.set_defaults(func=staff.cmd_link_code)
    sub.add_parser("telegram", help="run the Telegram bot").set_defaults(func=servers.cmd_telegram)
    p = sub.add_parser("audit", help="audit trail of one household (admins)")
    p.add_argument("household", type=int, help="house number")
    _as_staff(p, help=None)
    p.set_defaults(func=staff.cmd_audit)
    p = sub.add_parser("emergency", help="list unacknowledged emergencies, or --ack ID to take charge")
    p.add_argument("--ack", type=int, metavar="ID")
    _as_staff(p, help=None)
    p.set_defaults(func=staff.cmd_emergency)

    p = sub.add_parser("jobs", help="scheduled jobs")
    p.add_argument("--loop", action="store_true")
    p.add_argument("--interval", type=float, default=None,
                   help="seconds between runs with --loop (default: XIANGYIN_JOBS_INTERVAL or 60)")
    p.set_defaults(func=servers.cmd_jobs)
    p = sub.add_parser("bench", help="benchmarks")
    p.add_argument("--only", nargs="*", default=None)
    p.set_defaults(func=servers.cmd_bench)
    sub.add_parser("cluster", help="scale-out mode: migrate once, N Rasa + M action replicas, scheduler, nginx"
                   ).set_defaults(func=servers.cmd_cluster)
    return parser
