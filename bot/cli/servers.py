"""Running the assistant: train, seed, serve, run, chat, jobs, telegram, cluster, bench."""
from __future__ import annotations

import sys

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
    _demo_device_key(settings)
    return 0


def _demo_device_key(settings: Settings, device_id: str = "device-001") -> None:
    """The demo's push-to-talk client on this machine speaks as device-001: write its key
    (mode 0600) where the client looks, unless a key is already there."""
    from bot.db import session_scope
    from bot.security.devices import current_key, write_key_file

    target = settings.speech.device_key_file
    if target.exists():
        return
    with session_scope(url=settings.database_url) as s:
        key = current_key(s, settings, device_id)
    if key is not None:
        write_key_file(target, key)
        print(f"==> Demo voice device {device_id}: key in {target} "
              f"(python -m speech.device --device-id {device_id})")


def cmd_train(args, settings: Settings) -> int:
    from bot.ops.runtime import train_if_needed

    train_if_needed(config=args.config, force=args.force, settings=settings, validated=args.validated)
    return 0


def _default_url(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"


def _urls(settings: Settings) -> tuple[str, str]:
    """(Rasa base URL, action server webhook URL) where the servers we start can be reached:
    the configured ones, unless they are the defaults and XIANGYIN_BIND names another address."""
    from bot.ops.runtime import server_url

    rasa = settings.rasa_url
    if rasa == _default_url(settings.rasa_port):
        rasa = server_url(settings, settings.rasa_port)
    action = settings.action_url
    if action == _default_url(settings.action_port, "/webhook"):
        action = f"{server_url(settings, settings.action_port)}/webhook"
    return rasa, action


def _plan(settings: Settings, console: bool, telegram_webhook: bool = True):
    """The ports `serve` needs: Rasa, the action server, the console, the Telegram webhook."""
    from bot.ops.processes import Plan

    plan = Plan()
    plan.add(settings.rasa_port, "Rasa server")
    plan.add(settings.action_port, "action server")
    if console:
        plan.add(settings.console.port, "staff web console")
    if telegram_webhook and settings.telegram.token and settings.telegram.webhook_url:
        plan.add(settings.telegram.webhook_port, "Telegram webhook")
    wechat, wecom = _wechat_configured(settings)
    if wechat:
        plan.add(settings.wechat.port, "WeChat callback")
    if wecom:
        plan.add(settings.wechat.work_port, "WeCom callback")
    return plan


def _wechat_configured(settings: Settings) -> tuple[bool, bool]:
    """Whether the WeChat Official Account and the WeCom app are configured."""
    from bot.channels.wechat.config import ConfigError, WeChatConfig
    from bot.channels.wechat.wecom import WeComConfig
    from bot.ops.processes import StartError

    try:
        return WeChatConfig.from_settings(settings) is not None, WeComConfig.from_settings(settings) is not None
    except ConfigError as exc:  # a wrong value: say which, before anything starts
        raise StartError(str(exc)) from None


def _start_servers(settings: Settings, log_dir, group) -> str:
    """The speech recogniser (unless XIANGYIN_ASR_PROCESS=0), action server, Rasa server, the
    scheduler, the staff web console (when bot/console is there) and (when configured) the
    Telegram bot and the WeChat/WeCom callbacks, as members of ``group``; returns the Rasa
    server's URL. Ports are checked first (a stale run of this folder is stopped); "Ready" is
    printed only when every child is alive, owns its port and Rasa runs this model."""
    from bot.channels.telegram.texts import NO_TOKEN_HELP
    from bot.ops.processes import StartError, claim_ports, is_loopback, ownership_problems, say
    from bot.ops.runtime import (asr_process_address, console_available, model_path, model_problems, server_url,
                                 start_action_server, start_asr_server, start_console, start_rasa_server,
                                 wait_for_asr, wait_for_http)

    model = model_path(settings)
    if not model.exists():
        raise StartError(f"No trained model at {model}. Run `make train` first "
                         "(or set XIANGYIN_MODEL to a model file in models/).")
    console = console_available()
    plan = _plan(settings, console)
    claim_ports(plan, group.pid_file, settings.security.bind)
    log_dir.mkdir(parents=True, exist_ok=True)
    from bot.ops.logs import rotate_logs

    rotate_logs(log_dir, settings.backup.log_max_bytes, settings.backup.log_keep)  # before the servers open them
    rasa_url, action_url = _urls(settings)
    children_env = {"XIANGYIN_RASA_URL": rasa_url, "XIANGYIN_ACTION_URL": action_url}
    bind = settings.security.bind
    asr_address, voice_env = asr_process_address(settings), children_env
    if asr_address:  # first: its model loads while Rasa loads its own
        say(f"==> Starting the speech recogniser on {asr_address} (log: {log_dir / 'asr.log'}); "
            f"loading {settings.speech.vosk_model.name} ...")
        asr = start_asr_server(asr_address, log_dir / "asr.log", env=children_env, group=group)
        # every process that hears voice (the voice channel, Telegram and WeChat voice notes)
        # recognises there: one Vosk model in memory, not one per process
        voice_env = {**children_env, "XIANGYIN_ASR_SERVER": asr_address}
    say(f"==> Starting the action server on {bind}:{settings.action_port} (log: {log_dir / 'actions.log'})")
    actions = start_action_server(settings.action_port, log_dir / "actions.log", env=children_env, group=group)
    api = "HTTP API with a token" if settings.security.rasa_api else "no HTTP API"
    say(f"==> Starting the Rasa server on {bind}:{settings.rasa_port}, {api} (log: {log_dir / 'rasa.log'}); "
        f"loading {model.name} ...")
    rasa = start_rasa_server(model, settings.rasa_port, action_url, log_dir / "rasa.log", env=voice_env,
                             group=group)
    wait_for_http(f"{server_url(settings, settings.action_port)}/health", 120, actions)
    wait_for_http(f"{server_url(settings, settings.rasa_port)}/", 400, rasa)
    if asr_address:
        info = wait_for_asr(asr_address, 120, asr)
        say("==> Speech recogniser ready" if info.get("state") == "ready" else
            f"==> Speech recogniser without a model ({info.get('problem')}); voice devices hear that it "
            "cannot listen until one is installed (make model; no restart needed)")
    say(f"==> Scheduler: grievance time limits and emergency escalation (log: {log_dir / 'jobs.log'})")
    group.spawn("scheduler", [sys.executable, "-m", "bot", "jobs", "--loop"], log_dir / "jobs.log", children_env)
    from bot.cli.ops import backup_location

    say(f"==> {backup_location(settings)}")
    if console:
        say(f"==> Staff web console on {bind}:{settings.console.port} (log: {log_dir / 'console.log'})")
        proc = start_console(log_dir / "console.log", env=children_env, group=group)
        wait_for_http(f"{server_url(settings, settings.console.port)}/", 120, proc)
    if settings.telegram.token:
        say(f"==> Telegram bot (log: {log_dir / 'telegram.log'})")
        group.spawn("telegram", [sys.executable, "-m", "bot", "telegram"], log_dir / "telegram.log", voice_env)
    else:
        say("==> " + NO_TOKEN_HELP.splitlines()[0] + " 设置 XIANGYIN_TELEGRAM_TOKEN 即可启用。")
    wechat, wecom = _wechat_configured(settings)
    if wechat or wecom:
        ports = [p for on, p in ((wechat, settings.wechat.port), (wecom, settings.wechat.work_port)) if on]
        say(f"==> WeChat / WeCom callbacks on {bind}:{', '.join(map(str, ports))} (log: {log_dir / 'wechat.log'})")
        child = group.spawn("wechat", [sys.executable, "-m", "bot.channels.wechat"], log_dir / "wechat.log",
                            voice_env, ports=ports)
        for port in ports:  # an unsigned GET is refused (403): that answer means it is up
            wait_for_http(f"{server_url(settings, port)}/", 120, child.proc)
    else:
        from bot.channels.wechat.texts import NOT_CONFIGURED_HELP

        say("==> " + NOT_CONFIGURED_HELP.splitlines()[0] + " 设置 XIANGYIN_WECHAT_APP_ID 和 XIANGYIN_WECHAT_TOKEN 即可启用。")
    problems = ownership_problems(group, _plan(settings, console, telegram_webhook=False).ports)
    problems += model_problems(server_url(settings, settings.rasa_port), settings, model)
    if problems:
        raise StartError("Not ready: the servers that answer are not the ones just started:\n"
                         + "\n".join(f"  - {p}" for p in problems))
    listening = sorted({(s.port, f"{s.address}:{s.port} ({name})") for s, name in group.listening()})
    exposed = [text for _, text in listening if not is_loopback(text.rsplit(":", 1)[0])]
    say("==> Listening on " + ", ".join(text for _, text in listening)
        + (f" — reachable from other machines (XIANGYIN_BIND={bind})" if exposed else " (this machine only)"))
    say(f"==> Voice device endpoint: POST {rasa_url}/webhooks/voice/webhook")
    if console:
        say(f"==> Staff web console: {settings.console.url} (demo logins: README.md)")
    say(f"==> Processes: {group.pid_file} (Ctrl-C stops them all)")
    say(f"==> Ready: {model.name}.")
    return rasa_url


def _ended(exc) -> int:
    """The message for a run that ended by a signal or a child's exit; the exit code."""
    from bot.ops.processes import say

    if exc.child is not None:
        say(f"\n==> {exc.reason}. Stopping everything.", sys.stderr)
    else:
        say(f"\n==> {exc.reason[:1].upper()}{exc.reason[1:]}: stopping.")
    return exc.code


def _owned_run(settings: Settings, body) -> int:
    """``body(group)`` with the servers' process group: signals and a child's exit end it, and
    every child is stopped whatever happens."""
    from bot.ops.processes import ProcessGroup, Shutdown, StartError, owner_signals, pid_file_path, say

    group = ProcessGroup(pid_file_path(settings.var_dir), label="serve")
    with owner_signals(group):
        try:
            return body(group)
        except Shutdown as exc:
            return _ended(exc)
        except KeyboardInterrupt:
            say()
            return 0
        except StartError as exc:
            say(str(exc), sys.stderr)
            return 1
        except (RuntimeError, TimeoutError) as exc:  # a server that did not come up
            say(f"Cannot start: {exc}. Logs: {settings.var_dir / 'logs'}", sys.stderr)
            return 1
        finally:
            if group.children:
                say("==> Stopping the servers ...")
            group.stop()
            if group.children:
                say("==> Stopped.")


def cmd_serve(args, settings: Settings) -> int:
    from bot.ops.processes import supervise

    if settings.is_cluster:
        return cmd_cluster(args, settings)

    def body(group) -> int:
        _start_servers(settings, settings.var_dir / "logs", group)
        supervise(group)
        return 0  # not reached: supervise ends with Shutdown

    return _owned_run(settings, body)


def cmd_chat(args, settings: Settings) -> int:
    from bot.channels.terminal import repl

    repl(settings.rasa_url, args.user or settings.demo_user, settings)
    return 0


def cmd_run(args, settings: Settings) -> int:
    from bot.channels.terminal import repl
    from bot.ops.processes import StartError, pid_file_path, say, stop_stale_run, supervise
    from bot.ops.runtime import train_if_needed

    if not settings.is_cluster:  # another run of this folder: say so now, not after training
        try:
            stop_stale_run(pid_file_path(settings.var_dir))
        except StartError as exc:
            say(str(exc), sys.stderr)
            return 1
    train_if_needed(settings=settings)
    if settings.is_cluster:  # migrations, seed, replicas and the load balancer: bot/ops/cluster.py
        return cmd_cluster(args, settings)
    cmd_seed(args, settings)

    def body(group) -> int:
        rasa_url = _start_servers(settings, settings.var_dir / "logs", group)
        if sys.stdin.isatty() and not args.no_chat:
            repl(rasa_url, args.user or settings.demo_user, settings)
        else:
            say("No terminal attached: serving until Ctrl-C (REST: POST /webhooks/rest/webhook).")
            supervise(group)
        return 0

    return _owned_run(settings, body)


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
