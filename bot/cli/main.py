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
    bench      print benchmark figures
    cluster    scale-out mode: PostgreSQL + Redis, several Rasa and action replicas behind nginx
               (XIANGYIN_MODE=cluster; see bot/cluster.py)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from bot.config import load_settings


def _quiet() -> None:
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")


def cmd_seed(args) -> int:
    from bot.db import migrate
    from bot.seed import demo_summary, seed_demo_village

    print("==> Database schema (alembic upgrade head)")
    migrate()
    created = seed_demo_village()
    summary = demo_summary()
    print(f"==> Demo village {'created' if created else 'already present'}: "
          f"{summary['households']} households, {summary['residents']} residents, {summary['users']} users")
    return 0


def cmd_train(args) -> int:
    from bot.ops.runtime import train_if_needed

    train_if_needed(config=args.config, force=args.force)
    return 0


def _start_servers(settings, log_dir):
    """Action server, Rasa server, the scheduler and (when a token is configured) the
    Telegram bot, as child processes; returns them for ``stop``."""
    import sys as _sys

    from bot.ops.runtime import spawn, model_path, start_action_server, start_rasa_server, stop, wait_for_http
    from bot.channels.telegram.app import NO_TOKEN_HELP, read_token

    model = model_path(settings)
    if not model.exists():
        raise SystemExit(f"No trained model at {model}. Run `make train` first.")
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"==> Starting the action server on :{settings.action_port} (log: {log_dir / 'actions.log'})")
    actions = start_action_server(settings.action_port, log_dir / "actions.log")
    print(f"==> Starting the Rasa server on :{settings.rasa_port} (log: {log_dir / 'rasa.log'}); loading the model ...")
    rasa = start_rasa_server(model, settings.rasa_port, settings.action_url, log_dir / "rasa.log")
    procs = [rasa, actions]
    try:
        wait_for_http(settings.action_url.rsplit("/", 1)[0] + "/health", 120, actions)
        wait_for_http(f"{settings.rasa_url}/status", 300, rasa)
        print(f"==> Scheduler: grievance time limits and emergency escalation (log: {log_dir / 'jobs.log'})")
        procs.append(spawn([_sys.executable, "-m", "bot", "jobs", "--loop"], log_dir / "jobs.log"))
        if read_token(os.environ):
            print(f"==> Telegram bot (log: {log_dir / 'telegram.log'})")
            procs.append(spawn([_sys.executable, "-m", "bot", "telegram"], log_dir / "telegram.log"))
        else:
            print("==> " + NO_TOKEN_HELP.splitlines()[0] + " 设置 XIANGYIN_TELEGRAM_TOKEN 即可启用。")
        print(f"==> Voice device endpoint: POST {settings.rasa_url}/webhooks/voice/webhook")
    except BaseException:
        stop(*procs)
        raise
    print("==> Ready.")
    return procs


def _cluster_mode() -> bool:
    return os.environ.get("XIANGYIN_MODE", "embedded").strip().lower() == "cluster"


def cmd_serve(args) -> int:
    from bot.ops.runtime import stop

    if _cluster_mode():
        return cmd_cluster(args)
    settings = load_settings()
    procs = _start_servers(settings, settings.var_dir / "logs")
    try:
        while all(p.poll() is None for p in procs[:2]):  # the Rasa and action servers
            time.sleep(1)
        print("A server process exited; see var/logs.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> Stopping ...")
        return 0
    finally:
        stop(*procs)


def cmd_chat(args) -> int:
    from bot.channels.terminal import repl

    settings = load_settings()
    repl(settings.rasa_url, args.user or settings.demo_user)
    return 0


def cmd_run(args) -> int:
    from bot.channels.terminal import repl
    from bot.ops.runtime import stop, train_if_needed

    settings = load_settings()
    train_if_needed()
    if _cluster_mode():  # migrations, seed, replicas and the load balancer: bot/cluster.py
        return cmd_cluster(args)
    cmd_seed(args)
    procs = _start_servers(settings, settings.var_dir / "logs")
    try:
        if sys.stdin.isatty() and not args.no_chat:
            repl(settings.rasa_url, args.user or settings.demo_user)
        else:
            print("No terminal attached: serving until Ctrl-C (REST: POST /webhooks/rest/webhook).")
            while all(p.poll() is None for p in procs[:2]):
                time.sleep(1)
    except KeyboardInterrupt:
        print()
    finally:
        print("==> Stopping the servers ...")
        stop(*procs)
        print("==> Stopped.")
    return 0


def _actor(login: str):
    from bot.db import session_scope
    from bot.identity import resolve_actor

    with session_scope() as s:
        actor = resolve_actor(s, f"cli:{login}")
    if actor.user_id is None:
        raise SystemExit(f"unknown user {login!r}")
    return actor


def cmd_grievance(args) -> int:
    from bot import grievances
    from bot.db import session_scope

    actor = _actor(args.as_user)
    with session_scope(write=args.action != "list") as s:
        if args.action == "list":
            for v in grievances.open_queue(s, actor):
                print(f"{v.ticket_no}  {v.state_name}  {v.level_name}  {v.category}  {v.place}  {v.description}")
            return 0
        g = grievances.transition(s, actor, args.ticket, args.action, args.note or "")
        print(f"{g.ticket_no}: {g.state.value}")
    return 0


def cmd_points(args) -> int:
    from bot import points
    from bot.db import session_scope
    from bot.models import Household
    from sqlalchemy import select

    actor = _actor(args.as_user)
    with session_scope(write=True) as s:
        household = s.execute(select(Household).where(Household.number == args.household)).scalar_one()
        entry = points.award(s, actor, household.id, args.rule, args.reason or "", args.key or os.urandom(8).hex())
        print(f"household {args.household}: {entry.delta:+d} ({entry.reason}); balance {points.balance_of(s, household.id)}")
    return 0


def _points_refusal(exc: Exception) -> str:
    from bot import points

    reasons = {
        points.AppealClosed: "这个申诉已经处理过了",
        points.NotReversible: "兑换记录和更正记录不能再更正",
        points.InsufficientPoints: "更正以后积分会变成负数，不能更正",
    }
    return next((text for kind, text in reasons.items() if isinstance(exc, kind)), "没有权限，或者查不到这条记录")


def cmd_points_appeals(args) -> int:
    from bot import points
    from bot.db import session_scope

    actor = _actor(args.as_user)
    with session_scope() as s:
        appeals = points.open_appeals(s, actor)
    if not appeals:
        print("没有待处理的积分申诉。")
    for a in appeals:
        print(f"{a.id}  {a.household_number}号户  {a.entry_at:%Y-%m-%d} {a.entry_reason} {a.delta:+d}"
              f"（记录{a.entry_id}）  申诉理由：{a.reason or '无'}")
    return 0


def cmd_points_decide(args) -> int:
    from bot import points
    from bot.db import session_scope
    from bot.identity import AccessDenied

    actor = _actor(args.as_user)
    try:
        with session_scope(write=True) as s:
            decided = points.decide_appeal(s, actor, args.appeal_id, overturn=args.overturn, note=args.note or "")
            print(f"appeal {decided.id}: {decided.state.value}; balance {points.balance_of(s, decided.household_id)}")
    except (points.PointsError, AccessDenied) as exc:
        print(f"没有处理：{_points_refusal(exc)}（{exc!r}）", file=sys.stderr)
        return 1
    return 0


def cmd_points_reverse(args) -> int:
    from bot import points
    from bot.db import session_scope
    from bot.identity import AccessDenied

    actor = _actor(args.as_user)
    key = args.key or f"cli-reverse:{args.entry_id}"
    try:
        with session_scope(write=True) as s:
            entry = points.reverse(s, actor, args.entry_id, args.reason, key)
            again = "（这条记录之前已经更正过）" if entry.idempotency_key != key else ""
            print(f"entry {entry.id} reverses {entry.reverses_id}: {entry.delta:+d}{again}; "
                  f"balance {points.balance_of(s, entry.household_id)}")
    except (points.PointsError, AccessDenied) as exc:
        print(f"没有更正：{_points_refusal(exc)}（{exc!r}）", file=sys.stderr)
        return 1
    return 0


def cmd_link_code(args) -> int:
    from bot.db import session_scope
    from bot.identity import AccessDenied
    from bot.linking import issue_link_code

    actor = _actor(args.as_user)
    with session_scope(write=True) as s:
        try:  # inside the transaction, so a refusal stays in the audit log
            code = issue_link_code(s, actor, args.login, ttl_hours=args.hours)
        except (AccessDenied, LookupError) as exc:
            code, error = None, exc
    if code is None:
        raise SystemExit(f"cannot issue a link code for {args.login!r}: {error}")
    print(f"{args.login}: 绑定码 {code}（{args.hours:g}小时内有效，只能用一次）"
          f" / link code {code} (valid {args.hours:g} h, single use). 在电报里发 /link {code}")
    return 0


def cmd_telegram(args) -> int:
    from bot.channels.telegram.app import main as telegram_main

    return telegram_main()


def cmd_audit(args) -> int:
    from bot import households
    from bot.db import session_scope
    from bot.models import Household
    from sqlalchemy import select

    actor = _actor(args.as_user)
    with session_scope() as s:
        household = s.execute(select(Household).where(Household.number == args.household)).scalar_one_or_none()
        if household is None:
            raise SystemExit(f"no household {args.household}")
        for row in households.audit_trail(s, actor, household.id):
            who = row.actor_id if row.actor_id is not None else "-"
            print(f"{row.at:%Y-%m-%d %H:%M:%S}  user {who}  {row.channel:<8} {row.action:<8} {row.detail}")
    return 0


def cmd_emergency(args) -> int:
    from bot import emergency
    from bot.db import session_scope

    actor = _actor(args.as_user)
    with session_scope(write=bool(args.ack)) as s:
        if args.ack:
            event = emergency.acknowledge(s, actor, args.ack)
            print(f"emergency {event.id} acknowledged at {event.acknowledged_at:%H:%M}")
            return 0
        for e in emergency.open_emergencies(s, actor.village_id):
            where = e.household.address if e.household else e.channel
            print(f"{e.id}  {e.at:%m-%d %H:%M}  {where}  “{e.text}”  {'已上报村里' if e.escalated_at else ''}")
    return 0


def cmd_jobs(args) -> int:
    from bot.ops.scheduler import run_jobs_forever, run_jobs_once

    if args.loop:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        run_jobs_forever(args.interval)
    else:
        print(run_jobs_once())
    return 0


def cmd_bench(args) -> int:
    from bench.run import main as bench_main

    return bench_main(args.only)


def cmd_cluster(args) -> int:
    from bot.ops.cluster import run_cluster

    return run_cluster()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xiangyin", description="乡音 Xiangyin village assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train if needed, seed, serve and chat")
    p.add_argument("--user", help="demo login to chat as (default: XIANGYIN_DEMO_USER or wangjianguo)")
    p.add_argument("--no-chat", action="store_true")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("train", help="train the Rasa model if data or config changed")
    p.add_argument("--config", default="config.yml")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_train)
    sub.add_parser("seed", help="migrate the database and seed the demo village").set_defaults(func=cmd_seed)
    sub.add_parser("serve", help="start action + Rasa servers").set_defaults(func=cmd_serve)
    p = sub.add_parser("chat", help="terminal chat with a running server")
    p.add_argument("--user")
    p.set_defaults(func=cmd_chat)
    p = sub.add_parser("grievance", help="staff actions on grievances")
    p.add_argument("action", choices=["list", "accept", "note", "resolve", "escalate", "reject"])
    p.add_argument("ticket", nargs="?")
    p.add_argument("--note")
    p.add_argument("--as", dest="as_user", required=True, help="staff login")
    p.set_defaults(func=cmd_grievance)
    p = sub.add_parser("points", help="award or deduct points by rule")
    p.add_argument("household", type=int, help="house number")
    p.add_argument("rule", help="rule activity, e.g. 义务清扫")
    p.add_argument("--reason")
    p.add_argument("--key", help="idempotency key")
    p.add_argument("--as", dest="as_user", required=True)
    p.set_defaults(func=cmd_points)
    p = sub.add_parser("points-appeals", help="list open points appeals")
    p.add_argument("--as", dest="as_user", required=True, help="staff login")
    p.set_defaults(func=cmd_points_appeals)
    p = sub.add_parser("points-decide", help="uphold or overturn a points appeal")
    p.add_argument("appeal_id", type=int)
    decision = p.add_mutually_exclusive_group(required=True)
    decision.add_argument("--overturn", dest="overturn", action="store_true", help="撤销扣分, refund the points")
    decision.add_argument("--uphold", dest="overturn", action="store_false", help="维持扣分")
    p.add_argument("--note", required=True, help="decision note, shown to the household")
    p.add_argument("--as", dest="as_user", required=True, help="staff login")
    p.set_defaults(func=cmd_points_decide)
    p = sub.add_parser("points-reverse", help="correct a ledger entry with a reversing entry")
    p.add_argument("entry_id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--key", help="idempotency key (default: one per entry)")
    p.add_argument("--as", dest="as_user", required=True, help="staff login")
    p.set_defaults(func=cmd_points_reverse)
    p = sub.add_parser("link-code", help="issue a one-time code that links a Telegram account")
    p.add_argument("login", help="the user to link, e.g. hh012 or wangjianguo")
    p.add_argument("--as", dest="as_user", required=True, help="admin or grid worker login")
    p.add_argument("--hours", type=float, default=72, help="validity (default 72)")
    p.set_defaults(func=cmd_link_code)
    sub.add_parser("telegram", help="run the Telegram bot").set_defaults(func=cmd_telegram)
    p = sub.add_parser("audit", help="audit trail of one household (admins)")
    p.add_argument("household", type=int, help="house number")
    p.add_argument("--as", dest="as_user", required=True)
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("emergency", help="list unacknowledged emergencies, or --ack ID to take charge")
    p.add_argument("--ack", type=int, metavar="ID")
    p.add_argument("--as", dest="as_user", required=True)
    p.set_defaults(func=cmd_emergency)
    p = sub.add_parser("jobs", help="scheduled jobs")
    p.add_argument("--loop", action="store_true")
    p.add_argument("--interval", type=float, default=60)
    p.set_defaults(func=cmd_jobs)
    p = sub.add_parser("bench", help="benchmarks")
    p.add_argument("--only", nargs="*", default=None)
    p.set_defaults(func=cmd_bench)
    sub.add_parser("cluster", help="scale-out mode: migrate once, N Rasa + M action replicas, scheduler, nginx"
                   ).set_defaults(func=cmd_cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet()
    args = build_parser().parse_args(argv)
    from bot.identity import AccessDenied

    try:
        return args.func(args) or 0
    except AccessDenied as exc:
        print(f"没有权限做这件事。({exc})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
