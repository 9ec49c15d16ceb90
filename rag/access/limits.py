"""Per-key limits: requests a minute (a moving window, from the `limits` library) and questions in flight (asked and
not yet answered: waiting for the model or being answered). Both refuse with a LimitError that says when to retry
(429 with Retry-After on the server)."""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from rag.errors import LimitError


def retry_after(reset_at: float, now: float) -> int:
    """Whole seconds until a window frees a place (at least 1)."""
    return max(1, math.ceil(reset_at - now))


def rate_refusal(per_minute: int, wait_s: int) -> LimitError:
    """The error for a key that used its requests for this minute."""
    return LimitError(f"this key made {per_minute} requests in the last minute, the most allowed",
                      f"retry in {wait_s} s (the rate_limit_per_minute setting)", retry_after=wait_s)


def in_flight_refusal(limit: int, wait_s: int) -> LimitError:
    """The error for a key that already has its most questions waiting or being answered."""
    return LimitError(f"this key already has {limit} question{'s' * (limit != 1)} waiting or being answered",
                      f"wait for an answer, then ask again (retry in about {wait_s} s; the max_waiting_per_key "
                      "setting)", retry_after=wait_s)


class RateLimits:
    """Requests a minute per key (0 turns the limit off)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, owner: str) -> None:
        """Count one request; LimitError with the seconds to wait when the key is over its limit."""
        if self._item is None or self._limiter.hit(self._item, owner):
            return
        reset_at, _ = self._limiter.get_window_stats(self._item, owner)
        raise rate_refusal(self.per_minute, retry_after(reset_at, time.time()))


class InFlight:
    """Questions asked and not yet answered, per key (at most `limit` each; 0 turns the limit off)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}

    def count(self, owner: str) -> int:
        """Questions of this key in flight now."""
        with self._lock:
            return self._count.get(owner, 0)

    @contextmanager
    def admit(self, owner: str, wait_s: int = 10) -> Iterator[None]:
        """Hold one place for this key while the block runs; LimitError (retry in wait_s) when it has none left."""
        with self._lock:
            n = self._count.get(owner, 0)
            if self.limit and n >= self.limit:
                raise in_flight_refusal(self.limit, max(1, wait_s))
            self._count[owner] = n + 1
        try:
            yield
        finally:
            with self._lock:
                self._count[owner] -= 1
                if not self._count[owner]:
                    del self._count[owner]
