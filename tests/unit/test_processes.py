"""Process ownership (bot/ops/processes.py) and closed ports (bot/ops/rasa_server.py, the
cluster's nginx config): the pure parts, and the process-group machinery with real but tiny
child processes (sleepers and a socket listener, no servers, no model). The same guarantees
with the real servers are tests/e2e/test_processes.py. Processes and sockets are checked with
``ps`` and ``ss`` (tests/support/processes.py), not with the module under test."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, load_settings
from bot.ops import processes as P
from tests.support import processes as os_view

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _sleeper() -> subprocess.Popen:
    """A sleeper in a session of its own, returned once it runs its own command line: between fork
    and exec a child still shows its parent's, and the stale-run checks compare command lines (on a
    loaded machine a check made in that window saw somebody else's process)."""
    proc = subprocess.Popen(SLEEPER, start_new_session=True)
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while cmdline.read_bytes().split(b"\0")[:-1] != [part.encode() for part in SLEEPER]:
        assert time.monotonic() < deadline, "the sleeper never started"
        time.sleep(0.01)
    return proc
BOUND = 60  # upper bound (seconds) of every wait below; none is asserted on


# --- pure parts ----------------------------------------------------------------------

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:138D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6695 1 0 100 0 0 10 0
   1: 0100007F:138D 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 7777 1 0 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8888 1 0 100 0 0 10 0
"""
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:138D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0 100 0 0 10 0
   2: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 103 1 0 100 0 0 10 0
"""


def test_listening_sockets_are_read_from_proc_net_tcp():
    assert P.parse_proc_net_tcp(PROC_NET_TCP) == [P.Listener("127.0.0.1", 5005, 6695), P.Listener("0.0.0.0", 8080, 8888)]
    assert P.parse_proc_net_tcp(PROC_NET_TCP6, ipv6=True) == [
        P.Listener("::1", 5005, 101), P.Listener("::ffff:127.0.0.1", 8080, 102), P.Listener("::", 22, 103)]


def test_stat_fields_are_read_after_the_command_name():
    assert P.parse_stat("4242 (python -m (odd) name) S 1 4240 4240 0 -1 4194560 1 0") == ("S", 1, 4240)


def test_loopback_and_local_hosts():
    assert all(P.is_loopback(a) for a in ("127.0.0.1", "127.0.1.1", "::1", "::ffff:127.0.0.1"))
    assert not any(P.is_loopback(a) for a in ("0.0.0.0", "::", "192.168.1.5"))
    assert P.local_host("0.0.0.0") == "127.0.0.1" and P.local_host("10.0.0.5") == "10.0.0.5"


def _settings(**env):
    return load_settings({"XIANGYIN_SECRET_KEY": "5" * 64, **env})


def test_rasa_binds_loopback_and_its_api_needs_the_token_by_default():
    from bot.ops.rasa_server import rasa_arguments
    from bot.security.keys import rasa_api_token

    settings = _settings()
    args = rasa_arguments(settings, ["--port", "5005"])
    assert args[:3] == ["run", "--port", "5005"]
    assert args[args.index("-i") + 1] == "127.0.0.1"
    assert "--enable-api" in args and args[args.index("--auth-token") + 1] == rasa_api_token(settings)


def test_rasa_api_off_means_no_api_and_no_token():
    from bot.ops.rasa_server import rasa_arguments

    args = rasa_arguments(_settings(XIANGYIN_RASA_API="0", XIANGYIN_BIND="0.0.0.0"), [])
    assert "--enable-api" not in args and "--auth-token" not in args
    assert args[args.index("-i") + 1] == "0.0.0.0"


def _cluster_cfg(tmp_path, **env):
    from bot.ops.cluster import load_cluster_config

    return load_cluster_config({"XIANGYIN_DATABASE_URL": "postgresql://x@db/x", "XIANGYIN_MODE": "cluster",
                                "XIANGYIN_VAR_DIR": str(tmp_path), **env})


def _blocks(conf: str) -> dict[str, str]:
    """location path → the text of its block (one level of braces inside)."""
    found = {}
    for part in conf.split("location ")[1:]:
        path, _, rest = part.partition(" {")
        found[path] = rest.split("\n    }", 1)[0]
    return found


def test_nginx_is_the_only_public_listener_and_forwards_only_the_channel_webhooks(tmp_path):
    from bot.ops.cluster import nginx_conf

    cfg = _cluster_cfg(tmp_path, XIANGYIN_CLUSTER_LISTEN="0.0.0.0")
    conf = nginx_conf(cfg)
    listens = [line.split()[1].rstrip(";") for line in conf.splitlines() if line.strip().startswith("listen ")]
    assert listens == [f"0.0.0.0:{cfg.lb_port}", f"127.0.0.1:{cfg.action_lb_port}"]
    servers = conf.split("  server {")[1:]
    public_server = next(text for text in servers if f"listen 0.0.0.0:{cfg.lb_port};" in text)
    action_server = next(text for text in servers if f"listen 127.0.0.1:{cfg.action_lb_port};" in text)
    assert "xiangyin_rasa" not in action_server and "xiangyin_actions" not in public_server
    blocks = _blocks(public_server)
    public = {path: text for path, text in blocks.items() if "xiangyin_rasa" in text}
    assert set(public) == {"/webhooks/rest/", "/webhooks/voice/", "/webhooks/health/"}
    assert "return 404" in blocks["/"] and "proxy_pass" not in blocks["/"]
    assert "allow 127.0.0.1" in blocks["/webhooks/health/"] and "deny all" in blocks["/webhooks/health/"]
    for api in ("/conversations", "/model", "/status", "/domain"):
        assert not any(path.startswith(api) for path in blocks)


def test_cluster_replicas_bind_loopback_whatever_the_operator_binds(tmp_path, monkeypatch):
    from bot.ops.cluster import Cluster

    monkeypatch.setenv("XIANGYIN_BIND", "0.0.0.0")
    cluster = Cluster(_cluster_cfg(tmp_path), model=tmp_path / "model.tar.gz", log=lambda line: None)
    assert cluster.child_env()["XIANGYIN_BIND"] == "127.0.0.1"
    assert cluster.api_settings().security.bind == "127.0.0.1"
    assert set(cluster.plan().ports) == {cluster.cfg.lb_port, cluster.cfg.action_lb_port,
                                        *cluster.cfg.rasa_ports, *cluster.cfg.action_ports}


def test_rasa_sends_the_action_token_in_both_modes(tmp_path):
    import yaml

    from bot.ops.cluster import endpoints_yaml

    embedded = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    cluster = yaml.safe_load(endpoints_yaml(_cluster_cfg(tmp_path))[0])
    for endpoints in (embedded, cluster):
        assert endpoints["action_endpoint"]["token"] == "${XIANGYIN_ACTION_TOKEN}"


def test_a_port_configured_twice_stops_the_start(tmp_path):
    plan = P.Plan()
    plan.add(5005, "Rasa server")
    plan.add(5005, "staff web console")
    with pytest.raises(P.StartError, match="port 5005 is configured for both Rasa server and staff web console"):
        P.claim_ports(plan, tmp_path / "run" / "xiangyin.pid")


# --- the machinery, with real child processes --------------------------------------------

def _wait_until(condition, what: str):
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for: {what}")
        time.sleep(0.1)


def test_children_share_one_process_group_that_stop_empties(tmp_path):
    pid_file = tmp_path / "run" / "xiangyin.pid"
    group = P.ProcessGroup(pid_file, label="test", log=lambda line: None)
    try:
        children = [group.spawn(name, SLEEPER, tmp_path / f"{name}.log") for name in ("a", "b", "c")]
        members = os_view.group(group.pgid)
        assert {p.pid for p in members} == {c.pid for c in children}
        assert group.pgid != os.getpgrp()
        record = os_view.pid_file(tmp_path)
        assert record["owner"]["pid"] == os.getpid() and record["pgid"] == group.pgid
        assert record["checkout"] == str(PROJECT_ROOT)
        assert [(c["name"], c["pid"]) for c in record["children"]] == [(c.name, c.pid) for c in children]
    finally:
        group.stop(timeout=5)
    assert os_view.group(group.pgid) == []
    assert not pid_file.exists()


def test_a_child_started_after_all_others_exited_leads_a_new_group_that_stop_empties(tmp_path):
    group = P.ProcessGroup(None, log=lambda line: None)
    try:
        first = group.spawn("first", SLEEPER)
        first.proc.kill()
        first.proc.wait()
        second = group.spawn("second", SLEEPER)
        assert group.pgid == second.pid
        assert [p.pid for p in os_view.group(group.pgid)] == [second.pid]
    finally:
        group.stop(timeout=5)
    assert os_view.group(second.pid) == []


LISTENER = textwrap.dedent("""\
    import socket, sys, time
    s = socket.socket()
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    print("listening", flush=True)
    time.sleep(600)
""")


def test_a_taken_port_is_named_with_the_process_that_holds_it(tmp_path):
    from bot.ops.runtime import free_ports

    port = free_ports(1)[0]
    assert P.port_problems({port: "Rasa server"}) == []
    holder = subprocess.Popen([sys.executable, "-c", LISTENER, str(port)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "listening"
        problems = P.port_problems({port: "Rasa server"})
        assert len(problems) == 1
        assert f"port {port} (Rasa server) is taken (127.0.0.1:{port}) by pid {holder.pid}" in problems[0]
        assert "socket.socket()" in problems[0]  # its command line
        with pytest.raises(P.StartError, match=f"pid {holder.pid}"):
            P.claim_ports(P.Plan({port: "Rasa server"}), tmp_path / "run" / "xiangyin.pid")
        # a group that did not start it does not own it
        stranger = P.ProcessGroup(None)
        assert any("not from the servers just started" in p for p in P.ownership_problems(stranger, {port: "x"}))
    finally:
        holder.kill()
        holder.wait()
    _wait_until(lambda: os_view.listeners_on([port]) == [], f"port {port} to be free")
    assert P.port_problems({port: "Rasa server"}) == []


def test_the_group_owns_the_ports_its_children_listen_on(tmp_path):
    from bot.ops.runtime import free_ports

    port = free_ports(1)[0]
    group = P.ProcessGroup(tmp_path / "run" / "xiangyin.pid", log=lambda line: None)
    try:
        child = group.spawn("listener", [sys.executable, "-c", LISTENER, str(port)], tmp_path / "l.log", ports=[port])
        _wait_until(lambda: os_view.listeners_on([port]), f"the child to listen on {port}")
        assert P.ownership_problems(group, {port: "listener"}) == []
        assert [(s.address, s.port, name) for s, name in group.listening()] == [("127.0.0.1", port, "listener")]
        child.proc.kill()
        child.proc.wait()
        problems = P.ownership_problems(group, {port: "listener"})
        assert any("listener" in p and "SIGKILL" in p for p in problems)
        assert any(f"nothing listens on port {port}" in p for p in problems)
    finally:
        group.stop(timeout=5)


def _stale_run(tmp_path: Path, owner_pid: int, owner_cmd: list[str], children: list[subprocess.Popen],
               cmds: list[list[str]] | None = None) -> Path:
    pid_file = tmp_path / "run" / "xiangyin.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({
        "checkout": str(PROJECT_ROOT), "owner": {"pid": owner_pid, "cmd": owner_cmd, "started": "earlier"},
        "pgid": None, "children": [{"name": f"child{i}", "pid": c.pid, "cmd": (cmds or [SLEEPER] * len(children))[i],
                                    "ports": [], "log": None} for i, c in enumerate(children)]}))
    return pid_file


def _gone_pid() -> tuple[int, list[str]]:
    """The pid and command line of a process that has exited (an owner that died)."""
    cmd = [sys.executable, "-c", "pass"]
    proc = subprocess.Popen(cmd)
    proc.wait()
    return proc.pid, cmd


def test_a_stale_run_of_this_checkout_is_stopped_per_its_pid_file(tmp_path):
    children = [_sleeper() for _ in range(2)]
    try:
        pid_file = _stale_run(tmp_path, *_gone_pid(), children)
        said = []
        stopped = P.stop_stale_run(pid_file, said.append)
        assert stopped == [f"child0 (pid {children[0].pid})", f"child1 (pid {children[1].pid})"]
        assert "stale Xiangyin run" in said[0]
        for child in children:
            assert child.wait(BOUND) == -signal.SIGTERM
        assert not pid_file.exists()
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_a_recycled_pid_in_a_pid_file_is_left_alone(tmp_path):
    other = _sleeper()
    try:
        pid_file = _stale_run(tmp_path, *_gone_pid(), [other], cmds=[["python", "-m", "rasa", "run"]])
        assert P.stop_stale_run(pid_file, lambda line: None) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_pid_file_of_another_checkout_blocks_only_while_that_copy_runs(tmp_path):
    owner = _sleeper()
    try:
        pid_file = _stale_run(tmp_path, owner.pid, SLEEPER, [owner])
        record = json.loads(pid_file.read_text())
        pid_file.write_text(json.dumps({**record, "checkout": "/srv/old-copy"}))
        with pytest.raises(P.StartError, match="running copy of Xiangyin in /srv/old-copy"):
            P.stop_stale_run(pid_file, lambda line: None)
        assert owner.poll() is None  # not ours to stop
    finally:
        owner.kill()
        owner.wait()
    assert P.stop_stale_run(pid_file, lambda line: None) == [] and not pid_file.exists()


def test_a_run_whose_owner_is_alive_is_not_stale(tmp_path):
    owner = _sleeper()
    try:
        pid_file = _stale_run(tmp_path, owner.pid, SLEEPER, [owner])
        with pytest.raises(P.StartError, match=f"already running from this folder: owner pid {owner.pid}"):
            P.stop_stale_run(pid_file, lambda line: None)
        assert owner.poll() is None and pid_file.exists()
    finally:
        owner.kill()
        owner.wait()


OWNER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from bot.ops.processes import ProcessGroup, Shutdown, owner_signals, say, supervise

    pid_file = Path(sys.argv[1])
    group = ProcessGroup(pid_file, label="test")
    code = 0
    with owner_signals(group):
        try:
            for name in ("one", "two", "three"):
                group.spawn(name, [sys.executable, "-c", "import time; time.sleep(600)"],
                            pid_file.parent / f"{name}.log")
            say("started")
            supervise(group, poll=0.2)
        except Shutdown as exc:
            say(f"shutdown {exc.code}: {exc.reason}", sys.stderr)
            code = exc.code
        except KeyboardInterrupt:
            say("interrupted", sys.stderr)
        finally:
            group.stop(timeout=5)
    sys.exit(code)
""")


def _owner(tmp_path: Path):
    pid_file = tmp_path / "run" / "xiangyin.pid"
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(pid_file)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "started", proc.stderr.read()
    record = os_view.pid_file(tmp_path)
    assert len(os_view.group(record["pgid"])) == 3
    return proc, record


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_the_owner_stops_every_child(tmp_path, sig):
    proc, record = _owner(tmp_path)
    proc.send_signal(sig)
    assert proc.wait(BOUND) == 0
    assert os_view.group(record["pgid"]) == []
    assert os_view.pid_file(tmp_path) is None


def test_a_child_that_dies_stops_the_others_and_is_named(tmp_path):
    proc, record = _owner(tmp_path)
    two = next(c for c in record["children"] if c["name"] == "two")
    os.kill(two["pid"], signal.SIGKILL)
    assert proc.wait(BOUND) == 1
    err = proc.stderr.read()
    assert f"two (pid {two['pid']}) was killed by SIGKILL; its log: {tmp_path / 'run' / 'two.log'}" in err
    assert os_view.group(record["pgid"]) == []


def test_children_outlive_no_owner_even_killed_with_sigkill(tmp_path):
    proc, record = _owner(tmp_path)
    proc.kill()  # no clean-up runs: the kernel's parent-death signal stops the children
    proc.wait()
    _wait_until(lambda: os_view.group(record["pgid"]) == [], "the children to exit")
    # and the next start finds their record stale and nothing to stop
    assert P.stop_stale_run(tmp_path / "run" / "xiangyin.pid", lambda line: None) == []


def test_the_plan_claims_the_wechat_ports_only_when_configured():
    from bot.cli.servers import _plan
    from bot.config import load_settings
    from bot.ops.processes import StartError

    assert set(_plan(load_settings({}), console=True).ports) == {5005, 5055, 5090}
    both = load_settings({"XIANGYIN_WECHAT_APP_ID": "wx1", "XIANGYIN_WECHAT_TOKEN": "token123",
                          "XIANGYIN_WECHAT_WORK_CORP_ID": "ww1", "XIANGYIN_WECHAT_WORK_TOKEN": "token456",
                          "XIANGYIN_WECHAT_WORK_AES_KEY": "a" * 43, "XIANGYIN_WECHAT_WORK_AGENT_ID": "1000002",
                          "XIANGYIN_WECHAT_WORK_SECRET": "s3cret"})
    ports = _plan(both, console=False).ports
    assert ports[5091] == "WeChat callback" and ports[5092] == "WeCom callback"
    with pytest.raises(StartError, match="XIANGYIN_WECHAT_TOKEN"):
        _plan(load_settings({"XIANGYIN_WECHAT_APP_ID": "wx1", "XIANGYIN_WECHAT_TOKEN": "t"}), console=False)
