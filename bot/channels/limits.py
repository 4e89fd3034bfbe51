"""Per-sender limits every messaging channel keeps in memory (Telegram, WeChat, WeCom)."""
from __future__ import annotations

import time
from collections import defaultdict, deque
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
