"""Rate limits of the viewer: token buckets per account and per client address.

A bucket holds at most ``burst`` tokens and gains ``per_minute / 60`` a second.
A request takes one token from *each* of its buckets (the account's and the
address's) or, when any of them is empty, takes none and is refused with the
seconds until all have one again — the ``Retry-After`` of its 429. So one
account cannot go faster by changing address, and many accounts behind one
address cannot go faster together.

Buckets are kept in memory, per viewer process (a restart refills them), at
most ``max_keys`` of them: beyond that the fullest are forgotten first (a full
bucket is the same as none).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be greater than 0")
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1.0, per_minute))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key → (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, *keys: Hashable) -> float:
        """Seconds until every key's bucket has a token (0.0: now), taking none."""
        now = self.clock()
        with self._lock:
            short = [1.0 - self._level(key, now) for key in keys]
        worst = max(short, default=0.0)
        return float(max(1, math.ceil(worst / self.rate))) if worst > 0 else 0.0

    def take(self, *keys: Hashable) -> float:
        """0.0 if allowed (one token taken from every key's bucket); otherwise the
        seconds to wait (whole, at least 1) and nothing taken."""
        now = self.clock()
        with self._lock:
            levels = {key: self._level(key, now) for key in keys}
            short = [1.0 - level for level in levels.values() if level < 1.0]
            if short:
                return float(max(1, math.ceil(max(short) / self.rate)))
            for key, level in levels.items():
                self._buckets[key] = (level - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0

    def _forget(self, now: float) -> None:
        by_level = sorted(self._buckets, key=lambda k: self._level(k, now), reverse=True)
        for key in by_level[: len(self._buckets) - self.max_keys]:
            del self._buckets[key]
