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
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("alphamatte.ratelimit")
REQUESTS, MEGAPIXELS = "key", "megapixels"  # the two scopes (see RateLimiter)


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


class InProcessStorage(MemoryStorage):
    """limits' in-process storage, with expired entries dropped when :meth:`expire` is called.

    The stock storage drops them on a ``threading.Timer`` that it starts again, as a new
    thread, whenever the previous one has run (every 10 ms under load): one thread created
    and torn down per one or two requests. Paced at 200 requests/s on a 2-core EPYC the
    limiter's calls cost 0.42 ms of CPU per request with it and 0.17 without. Expiry only
    bounds memory; the windows themselves read timestamps, so a slower sweep changes no
    answer.
    """

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (the stock timer restart)
        pass

    def expire(self) -> None:
        """Drop expired entries, and the keys left without any (the stock sweep keeps an empty
        list per key ever seen: one per client address that ever failed to authenticate).
        Called from the event loop, like every other use of this storage in the server."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        for key in [key for key, entries in self.events.items() if not entries]:
            with self.locks[key]:
                if not self.events.get(key):
                    del self.events[key]
            self.locks.pop(key, None)


class RateLimiter:
    """Per-key limits on two scopes, plus a limit on failed authentications.

    ``key``: requests per window (the withoutbg endpoints, ALPHAMATTE_RATE_LIMIT).
    ``megapixels``: remove.bg's rule on its endpoints: each image costs its megapixels, rounded
    up (at least 1), out of a budget per window (ALPHAMATTE_REMOVEBG_RATE_LIMIT).

    When the storage (Redis) is unreachable the limiter **fails open**: requests are let
    through and a warning is logged. Credits stay exact regardless, because they live in the
    database; what is lost while Redis is down is only the request-rate ceiling.
    """

    def __init__(
        self,
        default: str,
        storage_url: str = "memory://",
        auth_failures: str = "20/minute",
        megapixels: str = "500/minute",
    ) -> None:
        self.defaults = {REQUESTS: parse(default), MEGAPIXELS: parse(megapixels)}
        self.default = self.defaults[REQUESTS]
        self.auth_failures = parse(auth_failures)
        options = {"socket_timeout": 1, "socket_connect_timeout": 1}
        networked = not storage_url.startswith("memory")
        self._in_process: InProcessStorage | None = None
        if networked:
            storage = storage_from_string(storage_url, **options)
        else:
            storage = self._in_process = InProcessStorage()
        # Redis calls are network I/O and go to a worker thread; the in-process window answers
        # in microseconds, less than the hop to a thread costs.
        self.blocking = networked
        self._limiter = MovingWindowRateLimiter(storage)

    def expire(self) -> None:
        """Drop expired in-process entries (the server calls this every second); Redis
        expires its own."""
        if self._in_process is not None:
            self._in_process.expire()

    def item_for(self, override: str | None, scope: str = REQUESTS) -> RateLimitItem:
        return parse(override) if override else self.defaults[scope]

    def hit(
        self, key_id: int, override: str | None, *, scope: str = REQUESTS, cost: int = 1
    ) -> RateState:
        """Spend ``cost`` units of the key's window in ``scope``; nothing is spent when they
        do not fit (``allowed`` is then False)."""
        item = self.item_for(override, scope)
        try:
            allowed = self._limiter.hit(item, scope, str(key_id), cost=cost)
            return self._state(item, scope, str(key_id), allowed)
        except Exception as exc:  # storage down: fail open, see the class docstring
            return self._unavailable(item, exc)

    def peek(self, key_id: int, override: str | None, *, scope: str = REQUESTS) -> RateState:
        """The window as it stands; ``allowed`` when at least one unit is left."""
        item = self.item_for(override, scope)
        try:
            return self._state(item, scope, str(key_id), None)
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

    def _state(
        self, item: RateLimitItem, scope: str, ident: str, allowed: bool | None
    ) -> RateState:
        stats = self._limiter.get_window_stats(item, scope, ident)
        if allowed is None:
            allowed = stats.remaining > 0
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
