"""Per-user limits kept in memory by the callback server: the rate limit, and the message keys
already seen (WeChat sends a callback again when it had no answer within 5 seconds, up to
three times, so one message may arrive up to four times)."""
from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque
from typing import Callable, Hashable


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (sliding window)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[Hashable, deque] = defaultdict(deque)
        self._warned: dict[Hashable, float] = {}

    def allow(self, key: Hashable) -> bool:
        now = self.clock()
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def should_warn(self, key: Hashable) -> bool:
        """True once per window for a key that is over its limit (a flood is answered once)."""
        now = self.clock()
        if now - self._warned.get(key, -1e18) >= self.window:
            self._warned[key] = now
            return True
        return False


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
