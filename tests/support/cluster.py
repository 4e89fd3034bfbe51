"""Helpers for the scale-out tests: the real PostgreSQL and Redis of this machine (and CI),
one fresh database per use, and a small REST client that reports failures the way a chat
client would show them ("请稍后再试")."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

import pytest

CLIENT_RETRY_TEXT = "请稍后再试"


def postgres_admin_url() -> str:
    """XIANGYIN_TEST_POSTGRES_URL: where scratch databases are created (bot.config)."""
    from bot.config import load_settings

    return load_settings().test.postgres_url


def redis_url() -> str:
    """XIANGYIN_TEST_REDIS_URL: the Redis the cluster's lock store uses (bot.config)."""
    from bot.config import load_settings

    return load_settings().test.redis_url


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_services() -> None:
    """PostgreSQL and Redis must answer. Under CI=true a missing service fails the test
    (the scale-out proof must not silently vanish); elsewhere the test is skipped."""
    from bot.ops.databases import postgres_reachable

    missing = []
    if not postgres_reachable(postgres_admin_url()):
        missing.append("PostgreSQL")
    if not _reachable(redis_url(), 6379):
        missing.append("Redis")
    if not missing:
        return
    message = f"{' and '.join(missing)} not reachable (XIANGYIN_TEST_POSTGRES_URL, XIANGYIN_TEST_REDIS_URL)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: scale-out tests must run, but {message}")
    pytest.skip(message)


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "xiangyin") -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random>; yields its URL; drops it afterwards."""
    from bot.db import dispose_engines
    from bot.ops.databases import scratch_postgres

    try:
        with scratch_postgres(prefix, admin_url=postgres_admin_url()) as url:
            yield url
    finally:
        dispose_engines()


@dataclass
class Turn:
    """One REST turn as the client saw it."""

    text: str
    status: int | None  # None: no HTTP answer at all (connection reset, timeout)
    reply: str
    seconds: float

    @property
    def answered(self) -> bool:
        return self.status == 200 and bool(self.reply.strip())

    @property
    def client_view(self) -> str:
        """What a chat client shows: the reply, or 请稍后再试 when the turn failed."""
        return self.reply if self.answered else CLIENT_RETRY_TEXT


def say(base_url: str, sender: str, text: str, timeout: float = 120) -> Turn:
    from tests.support.conversation import bearer_header

    body = json.dumps({"message": text}).encode()
    request = urllib.request.Request(f"{base_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json", **bearer_header(sender)})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            messages = json.loads(response.read() or b"[]")
            status = response.status
    except urllib.error.HTTPError as exc:
        return Turn(text, exc.code, "", time.perf_counter() - started)
    except (OSError, ValueError):
        return Turn(text, None, "", time.perf_counter() - started)
    reply = "\n".join(m.get("text", "") for m in messages if isinstance(m, dict))
    return Turn(text, status, reply, time.perf_counter() - started)


def drive_grievance_to_readback(base_url: str, sender: str, first: str) -> list[Turn]:
    """File a grievance up to the read-back question (对吗), answering the form's questions.
    A driver for load under fire, not an assertion: which questions come depends on what the
    earlier rounds filed (a similar open ticket is offered first), so it answers whichever."""
    turns = [say(base_url, sender, first)]
    for _ in range(6):
        reply = turns[-1].reply
        if "已经有人反映过" in reply:
            turns.append(say(base_url, sender, "不是"))  # file our own
        elif "对吗" in reply or not turns[-1].answered:
            return turns
        elif "保密" in reply:
            turns.append(say(base_url, sender, "不用"))
        elif "什么地方" in reply or "哪里" in reply:
            turns.append(say(base_url, sender, "村委会门口"))
        elif "哪方面" in reply:
            turns.append(say(base_url, sender, "其他"))
        else:
            turns.append(say(base_url, sender, "就是这个事"))
    return turns
