"""Per-key rate limits on a moving window, kept by the `limits` library.

Memory storage for one process; Redis (``ALPHAMATTE_REDIS_URL``) shares the window between
replicas.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("alphamatte.ratelimit")


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
    """Per-key request limits, plus a per-address limit on failed authentications.

    When the storage (Redis) is unreachable the limiter **fails open**: requests are let
    through and a warning is logged. Credits stay exact regardless, because they live in the
    database; what is lost while Redis is down is only the request-rate ceiling.
    """

    def __init__(
        self, default: str, storage_url: str = "memory://", auth_failures: str = "20/minute"
    ) -> None:
        self.default = parse(default)
        self.auth_failures = parse(auth_failures)
        options = {"socket_timeout": 1, "socket_connect_timeout": 1}
        networked = not storage_url.startswith("memory")
        storage = storage_from_string(storage_url, **(options if networked else {}))
        # Redis calls are network I/O and go to a worker thread; the in-process window answers
        # in microseconds, less than the hop to a thread costs.
        self.blocking = networked
        self._limiter = MovingWindowRateLimiter(storage)

    def item_for(self, override: str | None) -> RateLimitItem:
        return parse(override) if override else self.default

    def hit(self, key_id: int, override: str | None) -> RateState:
        item = self.item_for(override)
        try:
            allowed = self._limiter.hit(item, "key", str(key_id))
            return self._state(item, "key", str(key_id), allowed)
        except Exception as exc:  # storage down: fail open, see the class docstring
            return self._unavailable(item, exc)

    def peek(self, key_id: int, override: str | None) -> RateState:
        item = self.item_for(override)
        try:
            return self._state(item, "key", str(key_id), True)
        except Exception as exc:
            return self._unavailable(item, exc)

    def auth_blocked(self, client: str) -> bool:
        """True once ``client`` has used up its failed-authentication allowance."""
        try:
            return not self._limiter.test(self.auth_failures, "auth", client)
        except Exception as exc:
            self._unavailable(self.auth_failures, exc)
            return False

    def auth_failed(self, client: str) -> None:
        try:
            self._limiter.hit(self.auth_failures, "auth", client)
        except Exception as exc:
            self._unavailable(self.auth_failures, exc)

    def auth_retry_after(self, client: str) -> int:
        try:
            stats = self._limiter.get_window_stats(self.auth_failures, "auth", client)
        except Exception:
            return 60
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _state(self, item: RateLimitItem, scope: str, ident: str, allowed: bool) -> RateState:
        stats = self._limiter.get_window_stats(item, scope, ident)
        return RateState(allowed, item.amount, stats.remaining, stats.reset_time)

    @staticmethod
    def _unavailable(item: RateLimitItem, exc: Exception) -> RateState:
        log.warning("rate-limit storage unavailable (%s); failing open", type(exc).__name__)
        return RateState(True, item.amount, item.amount, time.time() + item.get_expiry())


def valid_rate_limit(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
