"""Command line: `python -m bot <command>` (also installed as `xiangyin`).

    run        train if needed, seed, start the servers and open a chat (what `make run` does)
    train      train the Rasa model if training data or config changed
    seed       create the database schema and the demo village
    serve      start the action server and the Rasa server until Ctrl-C
    chat       chat in the terminal with a running server, as a demo user
    jobs       run the scheduled jobs (time limits, emergencies) once or in a loop
    grievance  staff actions on grievances: list, accept, note, resolve, escalate, reject
    points     staff awards/deductions by rule
    link-code  staff: a one-time code that links a Telegram account to a user
    telegram   run the Telegram bot (polling, or webhook when configured)
    points-appeals / points-decide / points-reverse
               staff: open points appeals, decide one, correct a ledger entry
    audit      admins: the audit trail of one household
    emergency  staff: open emergencies; ack / arrive / close ID; report (response times per grid
               and month against the 30-minute target)
    township   township staff: the queue of grievances escalated to 镇
    relative   staff: a relative living elsewhere (account, household link, Telegram link code)
    outbox     notifications: status (backlog and who can receive it), deliver (Telegram, once)
    bench      print benchmark figures
    cluster    scale-out mode: PostgreSQL + Redis, several Rasa and action replicas behind nginx
               (XIANGYIN_MODE=cluster; see bot/ops/cluster.py)
    backup / restore / migrate-data / migrate / verify / health
               operations (bot/cli/ops.py): backups that restore, moving a village to the county
               database, the schema, the ledger checks, a health report (README "Operations")

The parser is in :mod:`bot.cli.parser`; the commands, thin over the domain, in
:mod:`bot.cli.servers`, :mod:`bot.cli.grievances`, :mod:`bot.cli.points`, :mod:`bot.cli.staff`,
and for the village loops :mod:`bot.cli.emergencies`, :mod:`bot.cli.township`,
:mod:`bot.cli.relatives` and :mod:`bot.cli.delivery` (each registers its own subcommand).
The settings are read once here and passed to the command.
"""
from __future__ import annotations

import sys
import warnings

from bot.config import Settings, SettingsError, load_settings, quiet_libraries


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    quiet_libraries()
    warnings.filterwarnings("ignore")
    from bot.cli.parser import build_parser
    from bot.identity import AccessDenied

    args = build_parser().parse_args(argv)
    try:
        settings = settings or load_settings()
    except SettingsError as exc:
        print(f"配置有误 / configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(args, settings) or 0
    except AccessDenied as exc:
        print(f"没有权限做这件事。({exc})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
