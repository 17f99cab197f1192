"""Per-key rate limits on a moving window, kept by the `limits` library.

Memory storage for one process; Redis (``ALPHAMATTE_REDIS_URL``) shares the window between
replicas.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class RateState:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # unix seconds when a slot frees up

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class RateLimiter:
    def __init__(self, default: str, storage_url: str = "memory://") -> None:
        self.default = parse(default)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def item_for(self, override: str | None) -> RateLimitItem:
        return parse(override) if override else self.default

    def hit(self, key_id: int, override: str | None) -> RateState:
        item = self.item_for(override)
        allowed = self._limiter.hit(item, "key", str(key_id))
        return self._state(item, key_id, allowed)

    def peek(self, key_id: int, override: str | None) -> RateState:
        item = self.item_for(override)
        return self._state(item, key_id, True)

    def _state(self, item: RateLimitItem, key_id: int, allowed: bool) -> RateState:
        stats = self._limiter.get_window_stats(item, "key", str(key_id))
        return RateState(allowed, item.amount, stats.remaining, stats.reset_time)


def valid_rate_limit(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
