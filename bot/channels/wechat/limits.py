"""Per-user limits kept in memory by the callback server: the rate limit (bot/channels/limits.py), and the message keys
already seen (WeChat sends a callback again when it had no answer within 5 seconds, up to
three times, so one message may arrive up to four times)."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

from bot.channels.limits import RateLimiter  # noqa: F401 - the channels' shared rate limit


class SeenMessages:
    """Message keys seen within the last ``ttl`` seconds (WeChat's retries come within about
    15), at most ``limit`` of them. Memory only: a retry that arrives after a restart runs again."""

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
