"""The argument parser of ``python -m bot`` (also installed as ``xiangyin``): every subcommand,
its flags, and the function that runs it (``func(args, settings) -> exit code``)."""
from __future__ import annotations

import argparse

from bot.cli import credentials, delivery, emergencies, grievances, ops, points, relatives, servers, staff, township


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
    p.add_argument("--validated", action="store_true",
                   help="the data was just checked by `rasa data validate` (make test): Rasa's own check is skipped")
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
    for loop_commands in (emergencies, township, relatives, delivery):  # the village loops
        loop_commands.register(sub)
    credentials.register(sub)  # devices, PINs, console passwords

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
    _add_ops_commands(sub)
    return parser


def _add_ops_commands(sub) -> None:
    """Operations (bot/cli/ops.py): backup, restore, migrate-data, migrate, verify, health."""
    p = sub.add_parser("backup", help="consistent online backup (SQLite backup API / pg_dump), checksum, retention")
    p.add_argument("--to", metavar="DIR", help="backup folder (default: XIANGYIN_BACKUP_DIR or var/backups)")
    p.add_argument("--list", action="store_true", help="list the backups and what retention keeps")
    p.add_argument("--no-prune", action="store_true", help="keep every older backup this time")
    p.add_argument("--no-copy", action="store_true", help="no second copy to XIANGYIN_BACKUP_COPY_TO this time")
    p.set_defaults(func=ops.cmd_backup)
    p = sub.add_parser("restore", help="restore a backup: checksum, schema version, migrations, ledger checks")
    p.add_argument("file", help="the backup (.sqlite.gz / .pgdump) or its .json manifest")
    p.add_argument("--to", metavar="URL", help="database URL to restore into (default: XIANGYIN_DATABASE_URL)")
    p.add_argument("--force", action="store_true", help="overwrite a database that holds data (saved first)")
    p.set_defaults(func=ops.cmd_restore)
    p = sub.add_parser("migrate-data", help="move a village's database into a county (PostgreSQL) database")
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="the village's database, sqlite:///…")
    p.add_argument("--to", dest="target", required=True, metavar="URL", help="the county database, postgresql://…")
    p.add_argument("--dry-run", action="store_true", help="do it all in one transaction, report, roll back")
    p.add_argument("--batch-size", type=int, default=None, help="rows per transaction (default: XIANGYIN_MOVE_BATCH)")
    p.add_argument("--pause", type=float, default=None, help="seconds between batches (default: XIANGYIN_MOVE_PAUSE)")
    p.add_argument("--report", metavar="FILE", help="write the full report as JSON")
    p.set_defaults(func=ops.cmd_migrate_data)
    p = sub.add_parser("migrate", help="bring the database schema to this code's version (alembic upgrade head)")
    p.add_argument("--url", help="database URL (default: XIANGYIN_DATABASE_URL)")
    p.set_defaults(func=ops.cmd_migrate)
    p = sub.add_parser("verify", help="check every balance against its ledger and grievance states against events")
    p.add_argument("--url", help="database URL (default: XIANGYIN_DATABASE_URL)")
    p.set_defaults(func=ops.cmd_verify)
    p = sub.add_parser("health", help="model, database, outbox backlog, disk and backups as JSON (exit 1: failing)")
    p.add_argument("--no-servers", action="store_true", help="do not probe the Rasa and action servers")
    p.set_defaults(func=ops.cmd_health)
