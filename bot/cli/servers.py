"""Running the assistant: train, seed, serve, run, chat, jobs, telegram, cluster, bench."""
from __future__ import annotations

import sys
import time

from bot.config import Settings


def cmd_seed(args, settings: Settings) -> int:
    from bot.db import migrate
    from bot.seed import demo_summary, seed_demo_village

    print("==> Database schema (alembic upgrade head)")
    migrate(settings.database_url)
    created = seed_demo_village(settings.database_url)
    summary = demo_summary(settings.database_url)
    print(f"==> Demo village {'created' if created else 'already present'}: "
          f"{summary['households']} households, {summary['residents']} residents, {summary['users']} users")
    return 0


def cmd_train(args, settings: Settings) -> int:
    from bot.ops.runtime import train_if_needed

    train_if_needed(config=args.config, force=args.force)
    return 0


def _start_servers(settings: Settings, log_dir):
    """Action server, Rasa server, the scheduler and (when a token is configured) the
    Telegram bot, as child processes; returns them for ``stop``."""
    from bot.channels.telegram.texts import NO_TOKEN_HELP
    from bot.ops.runtime import model_path, spawn, start_action_server, start_rasa_server, stop, wait_for_http

    model = model_path(settings)
    if not model.exists():
        raise SystemExit(f"No trained model at {model}. Run `make train` first.")
    log_dir.mkdir(parents=True, exist_ok=True)
    from bot.ops.logs import rotate_logs

    rotate_logs(log_dir, settings.backup.log_max_bytes, settings.backup.log_keep)  # before the servers open them
    print(f"==> Starting the action server on :{settings.action_port} (log: {log_dir / 'actions.log'})")
    actions = start_action_server(settings.action_port, log_dir / "actions.log")
    print(f"==> Starting the Rasa server on :{settings.rasa_port} (log: {log_dir / 'rasa.log'}); loading the model ...")
    rasa = start_rasa_server(model, settings.rasa_port, settings.action_url, log_dir / "rasa.log")
    procs = [rasa, actions]
    try:
        wait_for_http(settings.action_url.rsplit("/", 1)[0] + "/health", 120, actions)
        wait_for_http(f"{settings.rasa_url}/status", 300, rasa)
        print(f"==> Scheduler: grievance time limits and emergency escalation (log: {log_dir / 'jobs.log'})")
        procs.append(spawn([sys.executable, "-m", "bot", "jobs", "--loop"], log_dir / "jobs.log"))
        from bot.cli.ops import backup_location

        print(f"==> {backup_location(settings)}")
        if settings.telegram.token:
            print(f"==> Telegram bot (log: {log_dir / 'telegram.log'})")
            procs.append(spawn([sys.executable, "-m", "bot", "telegram"], log_dir / "telegram.log"))
        else:
            print("==> " + NO_TOKEN_HELP.splitlines()[0] + " 设置 XIANGYIN_TELEGRAM_TOKEN 即可启用。")
        print(f"==> Voice device endpoint: POST {settings.rasa_url}/webhooks/voice/webhook")
    except BaseException:
        stop(*procs)
        raise
    print("==> Ready.")
    return procs


def _serve_until_a_server_exits(procs) -> None:
    while all(p.poll() is None for p in procs[:2]):  # the Rasa and action servers
        time.sleep(1)


def cmd_serve(args, settings: Settings) -> int:
    from bot.ops.runtime import stop

    if settings.is_cluster:
        return cmd_cluster(args, settings)
    procs = _start_servers(settings, settings.var_dir / "logs")
    try:
        _serve_until_a_server_exits(procs)
        print("A server process exited; see var/logs.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> Stopping ...")
        return 0
    finally:
        stop(*procs)


def cmd_chat(args, settings: Settings) -> int:
    from bot.channels.terminal import repl

    repl(settings.rasa_url, args.user or settings.demo_user)
    return 0


def cmd_run(args, settings: Settings) -> int:
    from bot.channels.terminal import repl
    from bot.ops.runtime import stop, train_if_needed

    train_if_needed()
    if settings.is_cluster:  # migrations, seed, replicas and the load balancer: bot/ops/cluster.py
        return cmd_cluster(args, settings)
    cmd_seed(args, settings)
    procs = _start_servers(settings, settings.var_dir / "logs")
    try:
        if sys.stdin.isatty() and not args.no_chat:
            repl(settings.rasa_url, args.user or settings.demo_user)
        else:
            print("No terminal attached: serving until Ctrl-C (REST: POST /webhooks/rest/webhook).")
            _serve_until_a_server_exits(procs)
    except KeyboardInterrupt:
        print()
    finally:
        print("==> Stopping the servers ...")
        stop(*procs)
        print("==> Stopped.")
    return 0


def cmd_jobs(args, settings: Settings) -> int:
    from bot.ops.scheduler import run_jobs_forever, run_jobs_once

    if args.loop:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        run_jobs_forever(args.interval if args.interval is not None else settings.cluster.jobs_interval, settings)
    else:
        print(run_jobs_once(settings=settings))
    return 0


def cmd_telegram(args, settings: Settings) -> int:
    from bot.channels.telegram.app import main as telegram_main

    return telegram_main(settings)


def cmd_bench(args, settings: Settings) -> int:
    from bench.run import main as bench_main

    return bench_main(args.only, settings)


def cmd_cluster(args, settings: Settings) -> int:
    from bot.ops.cluster import run_cluster

    return run_cluster(settings)
