"""One owner for every server process: one process group, a pid file, port checks, signals.

`make run`, `python -m bot serve`, the scale-out cluster and the test/benchmark stacks start
their children through a :class:`ProcessGroup`:

* every child is in one process group of its own (not the terminal's, so Ctrl-C reaches only
  the owner, which then stops them all); a child started from the owner's main thread also gets
  SIGTERM from the kernel when the owner dies without cleaning up (``PR_SET_PDEATHSIG``), so even
  ``kill -9`` of the owner leaves no server behind;
* the pid file ``<var_dir>/run/xiangyin.pid`` (JSON: the checkout, the owner, the process group
  and each child's pid, command, ports and log) is rewritten at every start of a child and
  removed after a clean stop;
* before starting, :func:`claim_ports` stops what is left of a *stale* run of this checkout
  (its owner is gone, the pid file still lists live children whose command line matches) and
  then refuses to go on while any needed port is taken, naming the process that holds it
  (pid, command, working directory, from ``/proc``);
* :func:`owner_signals` turns SIGTERM and SIGHUP into :class:`Shutdown` and a child's exit
  (SIGCHLD) into :class:`Shutdown` with a message naming the child and its log, so the owner's
  ``finally: group.stop()`` runs whatever ends the run.

Linux only (``/proc``); psutil is not a dependency of Rasa 3.6 and is not installed.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from bot.config import PROJECT_ROOT, child_environment

PID_FILE = Path("run") / "xiangyin.pid"
TCP_LISTEN = "0A"  # the LISTEN state in /proc/net/tcp
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
STOP_SECONDS = 15.0


def pid_file_path(var_dir: Path) -> Path:
    """Where the owner of a run records its children: ``<var_dir>/run/xiangyin.pid``."""
    return Path(var_dir) / PID_FILE


def say(line: str = "", stream=None) -> None:
    """print() that survives a terminal that has gone away (SIGHUP: writes fail with EIO)."""
    try:
        print(line, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


# --- /proc: processes and listening sockets ------------------------------------------

@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    state: str
    cmdline: tuple[str, ...]
    cwd: str | None

    @property
    def command(self) -> str:
        text = " ".join(self.cmdline) or "?"
        return text if len(text) <= 160 else text[:157] + "..."

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def parse_stat(text: str) -> tuple[str, int, int]:
    """(state, ppid, pgid) from the text of /proc/<pid>/stat (the command name may hold spaces
    and parentheses, so the fields are read after the last ')')."""
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def process_info(pid: int) -> ProcessInfo | None:
    """What /proc says about ``pid``; None when there is no such process."""
    base = Path(f"/proc/{pid}")
    try:
        state, ppid, pgid = parse_stat((base / "stat").read_text())
        raw = (base / "cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    try:
        cwd = os.readlink(base / "cwd")
    except OSError:
        cwd = None
    return ProcessInfo(pid, ppid, pgid, state, tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a), cwd)


def all_processes() -> Iterator[ProcessInfo]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            info = process_info(int(entry.name))
            if info is not None:
                yield info


def group_members(pgid: int | None) -> list[ProcessInfo]:
    """The live (not zombie) processes of process group ``pgid``."""
    if not pgid:
        return []
    return [p for p in all_processes() if p.pgid == pgid and not p.zombie]


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren, ... (from the ppid links in /proc)."""
    children: dict[int, list[int]] = {}
    for p in all_processes():
        children.setdefault(p.ppid, []).append(p.pid)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket: its local address and port, and the processes holding it."""
    address: str
    port: int
    inode: int
    pids: tuple[int, ...] = ()


def _address(hex_address: str, ipv6: bool) -> str:
    raw = bytes.fromhex(hex_address)
    if not ipv6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))


def parse_proc_net_tcp(text: str, ipv6: bool = False) -> list[Listener]:
    """The LISTEN sockets in the text of /proc/net/tcp (``ipv6``: /proc/net/tcp6)."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        found.append(Listener(_address(address, ipv6), int(port, 16), int(fields[9])))
    return found


def _socket_pids(inodes: set[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    if not inodes:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:  # gone, or another user's process
            continue
        with fds:
            for fd in fds:
                try:
                    target = os.readlink(fd.path)
                except OSError:
                    continue
                if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                    found.setdefault(int(target[8:-1]), set()).add(int(entry.name))
    return found


def listeners(ports: Iterable[int] | None = None) -> list[Listener]:
    """Listening TCP sockets of this machine (IPv4 and IPv6), with the processes holding them
    where /proc lets us see them (another user's processes are not visible unless we are root).
    ``ports``: only those ports."""
    wanted = set(ports) if ports is not None else None
    sockets: list[Listener] = []
    for name, ipv6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        sockets += [s for s in parse_proc_net_tcp(text, ipv6) if wanted is None or s.port in wanted]
    owners = _socket_pids({s.inode for s in sockets})
    return [Listener(s.address, s.port, s.inode, tuple(sorted(owners.get(s.inode, ())))) for s in sockets]


def describe_pid(pid: int) -> str:
    info = process_info(pid)
    if info is None:
        return f"pid {pid} (gone)"
    where = f", in {info.cwd}" if info.cwd else ""
    return f"pid {pid} ({info.command}{where})"


# --- the pid file --------------------------------------------------------------------

def read_pid_file(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _own_cmdline() -> list[str]:
    info = process_info(os.getpid())
    return list(info.cmdline) if info else [sys.executable, *sys.argv]


def _same_process(pid: int | None, cmd: list[str] | None) -> ProcessInfo | None:
    """The live process ``pid`` if it still runs command ``cmd`` (a recycled pid does not)."""
    if not pid or not cmd:
        return None
    info = process_info(int(pid))
    if info is None or info.zombie or list(info.cmdline) != list(cmd):
        return None
    return info


def _pid_file_live_owner(data: dict) -> ProcessInfo | None:
    owner = data.get("owner") or {}
    return _same_process(owner.get("pid"), owner.get("cmd"))


# --- the process group ---------------------------------------------------------------

@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    cmd: list[str]
    log: Path | None = None
    ports: tuple[int, ...] = ()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_text(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def record(self) -> dict:
        return {"name": self.name, "pid": self.pid, "cmd": self.cmd, "ports": list(self.ports),
                "log": str(self.log) if self.log else None}


_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def die_with_owner() -> None:
    """In the child, between fork and exec: SIGTERM when the owner (the forking thread) dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessGroup:
    """The children of one owner, in one process group, recorded in ``pid_file``."""

    def __init__(self, pid_file: Path | None = None, label: str = "xiangyin",
                 log: Callable[[str], None] = say):
        self.pid_file = Path(pid_file) if pid_file else None
        self.label, self.log = label, log
        self.pgid: int | None = None
        self.children: list[Child] = []
        self.started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.stopping = False
        self._critical = 0
        self._pending: BaseException | None = None

    # -- starting -------------------------------------------------------------------
    def spawn(self, name: str, cmd: list[str], log: Path | None = None, env: Mapping[str, str] | None = None,
              ports: Iterable[int] = ()) -> Child:
        """Start ``cmd`` (in the project folder, stdin from /dev/null, output appended to
        ``log``) as one more member of the group; a child of the same name is replaced."""
        with self.critical():
            if log:
                Path(log).parent.mkdir(parents=True, exist_ok=True)
            out = open(log, "ab") if log else subprocess.DEVNULL
            try:
                proc = self._popen(list(cmd), out, child_environment(env))
            finally:
                if log:
                    out.close()
            try:
                leader = os.getpgid(proc.pid) == proc.pid  # the first child, or a new group (the old one emptied)
            except ProcessLookupError:
                leader = self.pgid is None
            if leader:
                self.pgid = proc.pid
            child = Child(name, proc, list(cmd), Path(log) if log else None, tuple(ports))
            self.children = [c for c in self.children if c.name != name] + [child]
            self.write_pid_file()
        return child

    def _popen(self, cmd: list[str], out, env: dict) -> subprocess.Popen:
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only from the main thread,
        # and only while no other thread runs (preexec_fn is not safe with threads).
        preexec = die_with_owner if threading.active_count() == 1 and \
            threading.current_thread() is threading.main_thread() else None
        group = self.pgid if self.pgid and group_members(self.pgid) else 0
        try:
            return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,  # nosec B603 - our own commands (this interpreter, nginx) as argument lists, no shell
                                    stderr=subprocess.STDOUT, process_group=group, preexec_fn=preexec)
        except PermissionError:
            if group == 0:
                raise
            # every member exited between the check and the fork: a new group
            return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,  # nosec B603 - as above
                                    stderr=subprocess.STDOUT, process_group=0, preexec_fn=preexec)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block that a Shutdown (signal) must not cut in half: it is raised right after."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._critical == 0 and self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending

    def interrupt(self, exc: BaseException) -> None:
        """Raise ``exc`` now, or at the end of the current critical block (signal handlers)."""
        if self._critical:
            if self._pending is None:
                self._pending = exc
            return
        raise exc

    # -- looking --------------------------------------------------------------------
    def child(self, name: str) -> Child | None:
        return next((c for c in self.children if c.name == name), None)

    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def owns(self, pid: int) -> bool:
        if pid in {c.pid for c in self.children}:
            return True
        info = process_info(pid)
        return info is not None and self.pgid is not None and info.pgid == self.pgid

    def name_of(self, pid: int) -> str:
        for c in self.children:
            if c.pid == pid:
                return c.name
        info = process_info(pid)
        while info is not None and info.ppid > 1:
            for c in self.children:
                if c.pid == info.ppid:
                    return c.name
            info = process_info(info.ppid)
        return f"pid {pid}"

    def listening(self) -> list[tuple[Listener, str]]:
        """Every listening socket held by a process of this group, with the child's name."""
        return [(s, self.name_of(pid)) for s in listeners() for pid in s.pids[:1] if self.owns(pid)]

    # -- the pid file ---------------------------------------------------------------
    def write_pid_file(self) -> None:
        if self.pid_file is None:
            return
        data = {"checkout": str(PROJECT_ROOT), "label": self.label,
                "owner": {"pid": os.getpid(), "cmd": _own_cmdline(), "started": self.started_at},
                "pgid": self.pgid, "children": [c.record() for c in self.children]}
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_name(f".{self.pid_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.pid_file)

    def remove_pid_file(self) -> None:
        if self.pid_file is None:
            return
        data = read_pid_file(self.pid_file)
        if data is not None and (data.get("owner") or {}).get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.pid_file.unlink()

    # -- stopping -------------------------------------------------------------------
    def _signal(self, sig: int) -> None:
        if self.pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
        for c in self.children:  # a child outside the group (should not happen): by pid
            if c.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(c.pid, sig)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM to the whole group, up to ``timeout`` seconds for everyone to exit, then
        SIGKILL for what is left (grandchildren included); the pid file is removed. Signals that
        would interrupt the stop are ignored meanwhile. Safe to call twice."""
        self.stopping = True
        with _signals_ignored():
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for c in self.children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(max(0.1, deadline - time.monotonic()))
            while group_members(self.pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if any(c.alive() for c in self.children) or group_members(self.pgid):
                self._signal(signal.SIGKILL)
                for c in self.children:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        c.proc.wait(5)
                end = time.monotonic() + 5
                while group_members(self.pgid) and time.monotonic() < end:
                    time.sleep(0.1)
            self.remove_pid_file()


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)
    saved = {s: signal.getsignal(s) for s in names}
    for s in names:
        signal.signal(s, signal.SIG_IGN if s != signal.SIGCHLD else signal.SIG_DFL)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


# --- signals: what ends a run ------------------------------------------------------------

class Shutdown(BaseException):
    """The run ends: a signal (``code`` 0) or a child that exited (``code`` 1, ``child`` set).
    A BaseException, so that code catching Exception (or KeyboardInterrupt, like the terminal
    chat) lets it through to the owner's ``finally``."""

    def __init__(self, reason: str, code: int = 0, child: Child | None = None):
        super().__init__(reason)
        self.reason, self.code, self.child = reason, code, child


def died_message(child: Child) -> str:
    log = f"; its log: {child.log}" if child.log else ""
    return f"{child.name} (pid {child.pid}) {child.exit_text()}{log}"


def _silence_terminal() -> None:
    """After SIGHUP the terminal is gone: later output goes to /dev/null instead of failing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


@contextlib.contextmanager
def owner_signals(group: ProcessGroup, fatal: Callable[[Child], bool] = lambda child: True) -> Iterator[None]:
    """While the block runs (main thread only): SIGTERM and SIGHUP raise :class:`Shutdown`
    (code 0), and a child of ``group`` that exits raises :class:`Shutdown` (code 1) naming it
    and its log when ``fatal(child)`` (the cluster restarts its replicas instead). Ctrl-C stays
    KeyboardInterrupt. Each is held back while a child is being started (:meth:`ProcessGroup.critical`),
    so no child escapes the record. The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    terminal = {fd: _isatty(fd) for fd in (1, 2)}

    def on_signal(signum, _frame):
        if group.stopping:
            return
        if signum == signal.SIGHUP and any(terminal.values()):
            _silence_terminal()
        group.interrupt(Shutdown(f"received {signal.Signals(signum).name}", 0))

    def on_interrupt(_signum, _frame):  # Ctrl-C: KeyboardInterrupt, but never in the middle of a spawn
        if group.stopping:
            return
        group.interrupt(KeyboardInterrupt())

    def on_child(_signum, _frame):
        if group.stopping:
            return
        for child in group.dead():
            if fatal(child):
                group.interrupt(Shutdown(died_message(child), 1, child))
                return

    handled = {signal.SIGTERM: on_signal, signal.SIGHUP: on_signal, signal.SIGINT: on_interrupt,
               signal.SIGCHLD: on_child}
    saved = {s: signal.getsignal(s) for s in handled}
    for s, handler in handled.items():
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def supervise(group: ProcessGroup, fatal: Callable[[Child], bool] = lambda child: True,
              on_dead: Callable[[Child], None] | None = None, poll: float = 1.0) -> None:
    """Block until a fatal child exits (raises :class:`Shutdown`) or a signal ends the run;
    ``on_dead`` handles the exits that are not fatal (e.g. restarts a replica)."""
    while True:
        for child in group.dead():
            if fatal(child):
                raise Shutdown(died_message(child), 1, child)
            if on_dead is not None:
                on_dead(child)
        time.sleep(poll)


# --- before starting: a stale run, taken ports -----------------------------------------

class StartError(RuntimeError):
    """The run cannot start (ports taken, another run of this folder alive); the message says why."""


def stop_stale_run(pid_file: Path, log: Callable[[str], None] = say, timeout: float = STOP_SECONDS) -> list[str]:
    """If ``pid_file`` records a run of this checkout whose owner is gone, stop what is left of
    it (processes whose command line still matches the record) and remove the file; returns
    their descriptions. A live owner is not stale: :class:`StartError` saying how to stop it."""
    data = read_pid_file(pid_file)
    if data is None:
        return []
    owner = _pid_file_live_owner(data)
    if data.get("checkout") != str(PROJECT_ROOT):
        alive = owner is not None or any(_same_process(r.get("pid"), r.get("cmd")) for r in data.get("children") or [])
        if alive:
            raise StartError(f"{pid_file} belongs to a running copy of Xiangyin in {data.get('checkout')}; "
                             "stop it, or give this one its own XIANGYIN_VAR_DIR")
        with contextlib.suppress(OSError):  # a copy that was moved or deleted: nothing of it runs
            Path(pid_file).unlink()
        return []
    if owner is not None and owner.pid != os.getpid():
        children = ", ".join(f"{c.get('name')} {c.get('pid')}" for c in data.get("children") or [])
        raise StartError(
            f"Xiangyin is already running from this folder: owner pid {owner.pid} ({owner.command}), "
            f"started {(data.get('owner') or {}).get('started')}; children: {children or 'none'}. "
            f"Use it (python -m bot chat), or stop it first: Ctrl-C in its window, or kill {owner.pid}.")
    stale = []
    for record in data.get("children") or []:
        info = _same_process(record.get("pid"), record.get("cmd"))
        if info is not None:
            stale.append((record, info))
    if stale:
        log(f"==> A stale Xiangyin run of this folder is still there (its owner pid "
            f"{(data.get('owner') or {}).get('pid')} is gone): stopping "
            + ", ".join(f"{r.get('name')} (pid {i.pid})" for r, i in stale))
        _stop_processes([i for _, i in stale], data.get("pgid"), timeout)
    with contextlib.suppress(OSError):
        Path(pid_file).unlink()
    return [f"{r.get('name')} (pid {i.pid})" for r, i in stale]


def _stop_processes(procs: list[ProcessInfo], pgid: int | None, timeout: float) -> None:
    def send(sig):
        groups = {p.pgid for p in procs if pgid and p.pgid == pgid}
        for g in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(g, sig)
        for p in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, sig)

    def alive():
        return [p for p in procs if _same_process(p.pid, list(p.cmdline)) is not None]

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive():
        send(signal.SIGKILL)
        end = time.monotonic() + 5
        while alive() and time.monotonic() < end:
            time.sleep(0.1)


def _bind_problem(bind: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            sock.bind((bind, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use (by a process that this user cannot see)"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot be bound: {bind} is not an address of this machine (XIANGYIN_BIND)"
            return f"cannot be bound on {bind}: {exc.strerror}"
    return None


def port_problems(ports: Mapping[int, str], bind: str = "127.0.0.1") -> list[str]:
    """One line per port of ``ports`` (port → what it is for) that is taken, naming the
    process that holds it; empty when all are free. Any listener on the port counts."""
    problems = []
    held: dict[int, list[Listener]] = {}
    for s in listeners(ports):
        held.setdefault(s.port, []).append(s)
    for port, what in ports.items():
        sockets = held.get(port)
        if not sockets:
            problem = _bind_problem(bind, port)
            if problem:
                problems.append(f"port {port} ({what}) {problem}")
            continue
        pids = sorted({pid for s in sockets for pid in s.pids})
        addresses = ", ".join(sorted({f"{s.address}:{port}" for s in sockets}))
        if not pids:
            problems.append(f"port {port} ({what}) is taken ({addresses}) by a process of another user")
            continue
        for pid in pids:
            info = process_info(pid)
            hint = ""
            if info is not None and info.cwd and Path(info.cwd) == PROJECT_ROOT:
                hint = (f" — a Xiangyin server of this checkout that this XIANGYIN_VAR_DIR's pid file does "
                        f"not record (another var folder, or started by hand); stop it with: kill {pid}")
            problems.append(f"port {port} ({what}) is taken ({addresses}) by {describe_pid(pid)}{hint}")
    return problems


def claim_ports(plan: "Plan", pid_file: Path | None, bind: str = "127.0.0.1",
                log: Callable[[str], None] = say) -> None:
    """Before a start: stop a stale run of this folder (per ``pid_file``), then make sure every
    port of ``plan`` is free; :class:`StartError` listing the taken ones otherwise."""
    if plan.duplicates:
        raise StartError("Cannot start:\n" + "\n".join(f"  - {p}" for p in plan.duplicates))
    if pid_file is not None:
        stop_stale_run(pid_file, log)
    problems = port_problems(plan.ports, bind)
    if problems:
        raise StartError("Cannot start:\n" + "\n".join(f"  - {p}" for p in problems))


def ownership_problems(group: ProcessGroup, ports: Mapping[int, str]) -> list[str]:
    """After a start: every child alive, and every port in ``ports`` listened on by a process
    of ``group`` and by nobody else."""
    problems = [died_message(c) for c in group.dead()]
    held: dict[int, list[Listener]] = {}
    for s in listeners(ports):
        held.setdefault(s.port, []).append(s)
    for port, what in ports.items():
        sockets = held.get(port) or []
        if not sockets:
            problems.append(f"nothing listens on port {port} ({what})")
        for s in sockets:
            strangers = [pid for pid in s.pids if not group.owns(pid)]
            if strangers or not s.pids:
                who = ", ".join(describe_pid(p) for p in strangers) or "a process we cannot see"
                problems.append(f"port {port} ({what}) answers from {who}, not from the servers just started")
    return problems


def local_host(bind: str) -> str:
    """The address to reach a server bound to ``bind`` from this machine."""
    if bind in ("", "0.0.0.0"):  # nosec B104 - recognises a wildcard bind to reach it on loopback; binds nothing
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


def is_loopback(address: str) -> bool:
    return address in LOOPBACK or address.startswith("127.")


@dataclass
class Plan:
    """The ports a run needs (port → what for), checked before and verified after the start."""
    ports: dict[int, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)

    def add(self, port: int, what: str) -> None:
        if port in self.ports:
            self.duplicates.append(f"port {port} is configured for both {self.ports[port]} and {what}")
            return
        self.ports[port] = what
