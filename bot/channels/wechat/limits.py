"""Limits of the callback server: the per-user rate limit (in memory, bot/channels/limits.py),
and the message keys already seen (WeChat sends a callback again when it had no answer within
5 seconds, up to three times, so one message may arrive up to four times).

The keys are kept in the database (:class:`DurableSeenMessages`), so a retry that arrives after a
restart, or at another replica behind the same proxy, still finds its message answered. They
share the ``request_nonces`` table with the voice devices' request nonces (the same need: a
unique insert that fails for a key seen within a window, and expiry by ``seen_at``): the rows'
``device_id`` is a namespace such as ``#wechat`` — ``#`` is a character no device id may have
(:data:`bot.security.devices.DEVICE_ID`), so the two can never collide — and ``nonce`` is the
SHA-256 of the account's id and the message key (64 hex characters, the column's width).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.channels.limits import RateLimiter  # noqa: F401 - the channels' shared rate limit
from bot.db import session_scope
from bot.models import RequestNonce, utcnow

logger = logging.getLogger(__name__)

NAMESPACE_MARK = "#"  # never in a device id: the namespace of a channel's rows in request_nonces


class SeenMessages:
    """Message keys seen within the last ``ttl`` seconds (WeChat's retries come within about
    15), at most ``limit`` of them. Memory only (one process, gone on restart): the channel uses
    :class:`DurableSeenMessages`; this one is its fallback and the tests' pure version."""

    def __init__(self, ttl: float = 120.0, limit: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered (it is remembered from then on), else False."""
        now = self.clock()
        while self._seen and (next(iter(self._seen.values())) <= now - self.ttl or len(self._seen) >= self.limit):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    async def claim(self, key: str) -> bool:
        """:meth:`first_time`, as the callback server calls it."""
        return self.first_time(key)


class DurableSeenMessages:
    """Message keys seen within the last ``ttl`` seconds, kept in the database (see the module
    docstring): the first replica (or the first process after a restart) to offer a key wins,
    every later offer of it within ``ttl`` is refused. ``namespace`` names the channel
    (``#wechat``, ``#wecom``), ``scope`` the account (the AppID or CorpID), so two accounts on
    one database do not share MsgIds.

    When the database cannot be written the keys are kept in memory instead (logged): the turn
    itself needs the database too, so that is a short, visible degradation rather than a lost
    message."""

    def __init__(self, db_url: str | None, namespace: str, scope: str = "", ttl: float = 600.0,
                 sweep_every: float = 60.0, clock: Callable[[], dt.datetime] = utcnow):
        if not namespace.startswith(NAMESPACE_MARK) or len(namespace) > 64:
            raise ValueError(f"a namespace starts with {NAMESPACE_MARK!r} and has at most 64 characters")
        self.db_url, self.namespace, self.scope, self.ttl = db_url, namespace, scope, ttl
        self.sweep_every, self.clock = sweep_every, clock
        self.fallback = SeenMessages(ttl)
        self._swept: dt.datetime | None = None
        self._lock = threading.Lock()  # one insert at a time from this process (SQLite likes that)

    def _nonce(self, key: str) -> str:
        return hashlib.sha256(f"{self.scope}\n{key}".encode("utf-8")).hexdigest()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is offered anywhere on this database within ``ttl``
        (it is remembered from then on), else False. Blocking: see :meth:`claim`."""
        now = self.clock()
        with self._lock:
            try:
                with session_scope(write=True, url=self.db_url) as s:
                    if self._swept is None or (now - self._swept).total_seconds() >= self.sweep_every:
                        s.execute(delete(RequestNonce).where(
                            RequestNonce.device_id == self.namespace,
                            RequestNonce.seen_at < now - dt.timedelta(seconds=self.ttl)))
                        self._swept = now
                    try:
                        with s.begin_nested():
                            s.add(RequestNonce(device_id=self.namespace, nonce=self._nonce(key), seen_at=now))
                    except IntegrityError:
                        return False
                    return True
            except SQLAlchemyError as exc:
                logger.warning("message keys kept in memory (database unavailable: %s)", type(exc).__name__)
                return self.fallback.first_time(key)

    async def claim(self, key: str) -> bool:
        """:meth:`first_time` in a worker thread (the callback server runs on the event loop)."""
        return await asyncio.to_thread(self.first_time, key)
