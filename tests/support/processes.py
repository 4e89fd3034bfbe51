"""What the operating system says about processes and sockets, for the process-ownership tests.

Read with ``ps`` and ``ss`` (procps, iproute2), not with bot.ops.processes, so that the tests
do not check the code with itself."""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    stat: str
    command: str


def processes() -> list[Proc]:
    """Every live process (zombies left out: they hold no resources and nothing to stop)."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], check=True, capture_output=True,
                         text=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and not parts[2].startswith("Z"):
            found.append(Proc(int(parts[0]), int(parts[1]), parts[2], parts[3] if len(parts) > 3 else ""))
    return found


def group(pgid: int) -> list[Proc]:
    """The live processes of process group ``pgid``."""
    return [p for p in processes() if p.pgid == pgid]


@dataclass(frozen=True)
class Socket:
    address: str
    port: int
    pids: tuple[int, ...]


_USERS = re.compile(r"pid=(\d+)")


def listening() -> list[Socket]:
    """Every listening TCP socket (``ss -Hltnp``), with the pids that hold it."""
    if subprocess.run(["which", "ss"], capture_output=True).returncode != 0:
        pytest.skip("ss (iproute2) is not installed")
    out = subprocess.run(["ss", "-Hltnp"], check=True, capture_output=True, text=True).stdout
    sockets = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        address = address.strip("[]").split("%", 1)[0]
        sockets.append(Socket(address, int(port), tuple(int(p) for p in _USERS.findall(line))))
    return sockets


def listeners_on(ports) -> list[Socket]:
    wanted = set(ports)
    return [s for s in listening() if s.port in wanted]


def pid_file(var_dir: Path) -> dict | None:
    try:
        return json.loads((Path(var_dir) / "run" / "xiangyin.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
