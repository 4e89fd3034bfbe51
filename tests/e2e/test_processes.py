"""`python -m bot serve` (what `make run` starts) owns its processes and listens on loopback only.

Real runs of ``python -m bot serve`` with a scratch var folder, a copy of the seeded village and
free ports: the real action server, Rasa server (trained model), scheduler, the speech
recogniser process (speech/server.py, with the real Korean Vosk test model, on a Unix socket in
the var folder), and the staff console when bot/console is there. Killed with SIGHUP, SIGTERM,
Ctrl-C, kill -9, or by killing one child, a run leaves no process behind (checked by process
group with ``ps``) and frees its ports (``ss``); a second run while the ports are taken exits
non-zero and says by what; the listening sockets of the run are on 127.0.0.1 only. The voice
channel recognises in the recogniser process (Rasa holds no Vosk), a crashed recogniser is
replaced without stopping the run, and one that is gone is answered politely. A Rasa start costs
about a minute here, so the checks on a ready run share one (``ready_run``), which the last of
them ends by killing a child; one more full start is ended by SIGHUP; the other endings happen
while starting.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, load_settings
from tests.support import processes as os_view
from tests.support.databases import copy_database, sqlite_url

START_BOUND = 600  # seconds: upper bound for a start on a busy 2-core machine (not asserted on)
STOP_BOUND = 60


@pytest.fixture(scope="module")
def model() -> Path:
    """The model for the current fingerprint, else the newest one in models/ (pinned with
    XIANGYIN_MODEL: training data may be changing under other work)."""
    from bot.ops.runtime import model_path

    current = model_path(load_settings())
    if current.exists():
        return current
    present = sorted(current.parent.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not present:
        pytest.skip(f"no trained model in {current.parent}")
    return present[-1]


@dataclass
class Run:
    """One `python -m bot serve` and what it printed (read by a thread as it comes)."""
    proc: subprocess.Popen
    var_dir: Path
    env: dict
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("==> Ready"):
                self.ready.set()
        self.ready.set()  # the output ended: the run is over

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        assert self.ready.wait(START_BOUND), f"no 'Ready' after {START_BOUND} s:\n{self.output}"
        assert self.proc.poll() is None and any(line.startswith("==> Ready") for line in self.lines), self.output

    def wait_for_children(self, *names: str) -> dict:
        """The pid file once it lists every child in ``names`` (the run is starting)."""
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            record = os_view.pid_file(self.var_dir)
            if record and set(names) <= {c["name"] for c in record["children"]}:
                return record
            assert self.proc.poll() is None, self.output
            time.sleep(0.2)
        pytest.fail(f"the pid file never listed {names}:\n{self.output}")

    def end(self) -> int:
        code = self.proc.wait(STOP_BOUND)
        self.ready.wait(STOP_BOUND)
        return code


def _serve(tmp_path_factory, village, model: Path, name: str, ports: dict[str, int] | None = None,
           var_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> Run:
    from bot.ops.runtime import free_ports

    if var_dir is None:
        var_dir = tmp_path_factory.mktemp(name)
        copy_database(village.pristine, var_dir / "xiangyin.db")
    if ports is None:
        ports = dict(zip(("rasa", "actions", "console"), free_ports(3)))
    from speech.model import korean_test_model_path

    env = {**os.environ,
           "XIANGYIN_VOSK_MODEL": str(korean_test_model_path()),  # the recogniser process loads it
           "XIANGYIN_VAR_DIR": str(var_dir),
           "XIANGYIN_DATABASE_URL": sqlite_url(var_dir / "xiangyin.db"),
           "XIANGYIN_RASA_PORT": str(ports["rasa"]),
           "XIANGYIN_ACTION_PORT": str(ports["actions"]),
           "XIANGYIN_CONSOLE_PORT": str(ports["console"]),
           "XIANGYIN_MODEL": str(model),
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    for derived in ("XIANGYIN_RASA_URL", "XIANGYIN_ACTION_URL", "XIANGYIN_CONSOLE_URL",
                    "XIANGYIN_ASR_FACTORY"):  # the tier's recogniser double: here the real one, as `make run`
        env.pop(derived, None)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=PROJECT_ROOT, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own session: like a terminal of its own
    run = Run(proc, var_dir, env, ports)
    threading.Thread(target=run.read, daemon=True).start()
    return run


def _assert_nothing_left(run: Run, pgid: int) -> None:
    """No live process in the run's process group, none of its ports listened on, no pid file."""
    deadline = time.monotonic() + STOP_BOUND
    while (os_view.group(pgid) or os_view.listeners_on(run.ports.values())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert os_view.group(pgid) == [], run.output
    assert os_view.listeners_on(run.ports.values()) == [], run.output
    assert os_view.pid_file(run.var_dir) is None


def _kill_leftovers(run: Run, pgid: int | None) -> None:
    """Test clean-up only (after a failure): nothing of ours may outlive the test run."""
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait()
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _status(base: str, token: str | None) -> tuple[int, bytes]:
    url = f"{base}/status" + (f"?token={token}" if token else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- one ready run, shared ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ready_run(tmp_path_factory, village, model):
    """`serve` as `make run` starts it, the WeChat channel configured too (its callback server is
    one more process that hears voice)."""
    from bot.ops.runtime import free_ports

    ports = dict(zip(("rasa", "actions", "console", "wechat"), free_ports(4)))
    wechat = {"XIANGYIN_WECHAT_APP_ID": "wx0123456789abcdef", "XIANGYIN_WECHAT_TOKEN": "xiangyintesttoken",
              "XIANGYIN_WECHAT_PORT": str(ports["wechat"])}
    run = _serve(tmp_path_factory, village, model, "serve-ready", ports=ports, extra_env=wechat)
    record = None
    try:
        run.wait_ready()
        record = os_view.pid_file(run.var_dir)
        yield run, record
    finally:
        _kill_leftovers(run, (record or {}).get("pgid"))


def test_ready_means_this_run_owns_every_port_and_rasa_runs_this_model(ready_run, model):
    import json

    from bot.security.keys import rasa_api_token

    run, record = ready_run
    assert f"==> Ready: {model.name}." in run.lines
    names = {c["name"] for c in record["children"]}
    assert {"asr", "actions", "rasa", "scheduler"} <= names
    assert "==> Speech recogniser ready" in run.lines
    assert record["owner"]["pid"] == run.proc.pid
    members = {p.pid for p in os_view.group(record["pgid"])}
    assert {c["pid"] for c in record["children"]} <= members
    assert record["pgid"] != run.proc.pid  # the children's group, not the owner's
    for port in (run.ports["rasa"], run.ports["actions"]):
        holders = {pid for s in os_view.listeners_on([port]) for pid in s.pids}
        assert holders and holders <= members, (port, holders)
    base = f"http://127.0.0.1:{run.ports['rasa']}"
    code, body = _status(base, rasa_api_token(load_settings(run.env)))
    assert code == 200 and json.loads(body)["model_file"] == model.name


def test_rasa_http_api_answers_only_with_the_token(ready_run):
    run, _ = ready_run
    code, _ = _status(f"http://127.0.0.1:{run.ports['rasa']}", None)
    assert code == 401
    code, _ = _status(f"http://127.0.0.1:{run.ports['rasa']}", "0" * 64)
    assert code == 401


def test_rasa_reaches_the_action_server_with_its_token(ready_run):
    """A turn that needs a custom action is answered by it: Rasa's action calls carry the
    token the action server requires (it logs "refused" for calls without)."""
    from tests.support.conversation import Conversation

    run, _ = ready_run
    conversation = Conversation(f"http://127.0.0.1:{run.ports['rasa']}", "cli:wangjianguo").restart()
    try:
        reply = conversation.say("俺家积分还有多少")
    finally:
        conversation.close()
    assert "分" in reply and "没听明白" not in reply, reply
    assert "refused" not in (run.var_dir / "logs" / "actions.log").read_text(errors="replace")


def test_every_socket_of_the_run_listens_on_loopback_only(ready_run):
    run, record = ready_run
    members = {p.pid for p in os_view.group(record["pgid"])} | {run.proc.pid}
    ours = [s for s in os_view.listening() if set(s.pids) & members]
    assert {s.port for s in ours} >= {run.ports["rasa"], run.ports["actions"]}
    assert [f"{s.address}:{s.port}" for s in ours if s.address != "127.0.0.1"] == []
    assert "==> Listening on " in run.output and "(this machine only)" in run.output


def test_a_second_serve_of_the_same_folder_says_one_is_running(ready_run, village, model, tmp_path_factory):
    run, record = ready_run
    second = _serve(tmp_path_factory, village, model, "unused", ports=run.ports, var_dir=run.var_dir)
    assert second.end() != 0
    assert f"Xiangyin is already running from this folder: owner pid {run.proc.pid}" in second.output
    assert run.proc.poll() is None and os_view.pid_file(run.var_dir) == record  # the first one is untouched


def test_a_second_serve_on_taken_ports_names_what_holds_them(ready_run, village, model, tmp_path_factory):
    run, record = ready_run
    second = _serve(tmp_path_factory, village, model, "serve-second", ports=run.ports)
    assert second.end() != 0
    rasa = next(c for c in record["children"] if c["name"] == "rasa")
    actions = next(c for c in record["children"] if c["name"] == "actions")
    assert "Cannot start:" in second.output
    assert f"port {run.ports['rasa']} (Rasa server) is taken (127.0.0.1:{run.ports['rasa']}) by pid {rasa['pid']}" \
        in second.output
    assert f"port {run.ports['actions']} (action server) is taken" in second.output
    assert f"by pid {actions['pid']}" in second.output
    assert "Ready" not in second.output
    assert os_view.pid_file(second.var_dir) is None
    assert run.proc.poll() is None


def _child(record: dict, name: str) -> dict:
    return next(c for c in record["children"] if c["name"] == name)


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _korean_question() -> bytes:
    return subprocess.run(["espeak-ng", "-v", "ko", "--stdout", "안녕하세요 포인트가 얼마예요"], check=True,
                          capture_output=True).stdout


def _spoken(run: Run, wav: bytes) -> dict:
    import json

    from tests.support.voice import post_voice

    status, _, body = post_voice(f"http://127.0.0.1:{run.ports['rasa']}", "device-004", wav)
    assert status == 200, body
    return json.loads(body)


def test_the_voice_channel_recognises_in_the_recogniser_process(ready_run):
    """A spoken question through the real voice channel is recognised (Korean model, Korean
    speech) and answered; Vosk is loaded in the recogniser's worker, not in the Rasa server."""
    from bot.channels.voice import ASR_DOWN

    run, record = ready_run
    reply = _spoken(run, _korean_question())
    assert reply["transcript"] and reply["texts"] and reply["texts"] != [ASR_DOWN], reply
    rasa, supervisor = _child(record, "rasa")["pid"], _child(record, "asr")["pid"]
    worker = int(Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()[0])
    assert "libvosk" in _maps(worker)
    assert "libvosk" not in _maps(rasa)
    socket_path = run.var_dir / "run" / "asr.sock"
    # every process that hears voice recognises there: the Rasa server and WeChat's voice messages
    for name in ("rasa", "wechat"):
        pid = _child(record, name)["pid"]
        assert f"XIANGYIN_ASR_SERVER={socket_path}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_a_crashed_recogniser_is_replaced_and_the_run_goes_on(ready_run):
    from bot.channels.voice import ASR_DOWN

    run, record = ready_run
    supervisor = _child(record, "asr")["pid"]
    worker = int(Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()[0])
    os.kill(worker, signal.SIGKILL)
    reply = _spoken(run, _korean_question())  # waits while the new worker loads the model
    assert reply["transcript"] and reply["texts"] != [ASR_DOWN], reply
    assert run.proc.poll() is None and os_view.pid_file(run.var_dir) == record
    assert "was killed by SIGKILL; starting a new one" in (run.var_dir / "logs" / "asr.log").read_text()


def test_without_its_recogniser_the_voice_channel_says_it_cannot_listen(ready_run):
    """The recogniser's socket gone (as if it were not running): uploads and streams get the
    spoken Chinese apology, text turns go on."""
    import json

    from bot.channels.voice import ASR_DOWN
    from tests.support.conversation import Conversation
    from tests.support.voice import signed_post

    run, _ = ready_run
    (run.var_dir / "run" / "asr.sock").unlink()
    base = f"http://127.0.0.1:{run.ports['rasa']}"
    reply = _spoken(run, _korean_question())
    assert reply["transcript"] == "" and reply["texts"] == [ASR_DOWN]
    status, _, body = signed_post(base, "/webhooks/voice/stream/start", "device-004")
    assert status == 503 and json.loads(body) == {"error": ASR_DOWN}
    conversation = Conversation(base, "cli:wangjianguo").restart()
    try:
        assert "分" in conversation.say("俺家积分还有多少")
    finally:
        conversation.close()


def test_a_child_killed_stops_every_process_and_names_it(ready_run):
    """Last of the shared run's tests: it ends the run."""
    run, record = ready_run
    actions = next(c for c in record["children"] if c["name"] == "actions")
    os.kill(actions["pid"], signal.SIGKILL)
    assert run.end() == 1
    assert f"actions (pid {actions['pid']}) was killed by SIGKILL; its log: {actions['log']}" in run.output
    assert "Stopping everything" in run.output
    _assert_nothing_left(run, record["pgid"])


# --- other endings ------------------------------------------------------------------------

def test_sighup_after_ready_stops_every_process(tmp_path_factory, village, model):
    """Closing the terminal of `make run`."""
    run = _serve(tmp_path_factory, village, model, "serve-hup")
    record = None
    try:
        run.wait_ready()
        record = os_view.pid_file(run.var_dir)
        run.proc.send_signal(signal.SIGHUP)
        assert run.end() == 0
        assert "Received SIGHUP: stopping." in run.output
        _assert_nothing_left(run, record["pgid"])
    finally:
        _kill_leftovers(run, (record or {}).get("pgid"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "Ctrl-C", "kill -9 of the owner"])
def test_a_run_ended_while_starting_leaves_nothing(tmp_path_factory, village, model, sig):
    """A half-started run (the Rasa server still loading the model) ended by a signal to the
    owner; with kill -9 no clean-up code runs, and the kernel's parent-death signal ends the
    children."""
    run = _serve(tmp_path_factory, village, model, "serve-starting")
    record = None
    try:
        record = run.wait_for_children("actions", "rasa")
        run.proc.send_signal(sig)
        code = run.end()
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), run.output
        assert "Ready" not in run.output
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + STOP_BOUND
            while os_view.group(record["pgid"]) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert os_view.group(record["pgid"]) == []
            assert os_view.listeners_on(run.ports.values()) == []
        else:
            _assert_nothing_left(run, record["pgid"])
    finally:
        _kill_leftovers(run, (record or {}).get("pgid"))
