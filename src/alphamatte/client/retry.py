"""Retrying transports: 429, 503 and connection failures, with backoff that honours Retry-After.

The retry lives in the transport so that every SDK call gets it and the request object (with its
``Idempotency-Key``) is sent again unchanged; the server can then charge a retried request once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# Failures where the request may not have reached the server, or its answer was lost. A read
# timeout is left out: the server is then busy with the request, and resending piles work on it.
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    The defaults ride out a whole one-minute rate-limit window: the server's Retry-After is
    at most 60 s, and ``total_seconds`` leaves room for that wait plus a few backoff steps.
    """

    attempts: int = 10
    total_seconds: float = 150.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    statuses: frozenset[int] = field(default=frozenset({429, 503}))

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


NO_RETRIES = RetryPolicy(attempts=1)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _Schedule:
    """The decision shared by the sync and async transports."""

    policy: RetryPolicy
    clock: Callable[[], float]
    rng: random.Random
    started: float = 0.0
    retries: int = 0

    def start(self) -> None:
        self.started = self.clock()
        self.retries = 0

    def delay_after(self, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt, or None to stop and report this outcome."""
        if self.retries + 1 >= self.policy.attempts:
            return None
        hinted = (
            None if response is None else retry_after_seconds(response.headers.get("Retry-After"))
        )
        wait = self.policy.backoff(self.retries, self.rng)
        if hinted is not None:
            # Never earlier than the server asked; a little jitter so that clients that were
            # refused together do not all come back in the same millisecond.
            wait = hinted + self.rng.uniform(0, min(1.0, 0.1 * hinted + 0.05))
        if self.clock() - self.started + wait > self.policy.total_seconds:
            return None
        self.retries += 1
        return wait


class RetryTransport(httpx.BaseTransport):
    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._inner = inner or httpx.HTTPTransport()
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        schedule = _Schedule(self._policy, self._clock, self._rng)
        schedule.start()
        while True:
            try:
                response = self._inner.handle_request(request)
            except RETRYABLE_EXCEPTIONS:
                wait = schedule.delay_after(None)
                if wait is None:
                    raise
                self._sleep(wait)
                continue
            if response.status_code not in self._policy.statuses:
                return response
            wait = schedule.delay_after(response)
            if wait is None:
                return response
            response.close()
            self._sleep(wait)

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        schedule = _Schedule(self._policy, self._clock, self._rng)
        schedule.start()
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except RETRYABLE_EXCEPTIONS:
                wait = schedule.delay_after(None)
                if wait is None:
                    raise
                await self._sleep(wait)
                continue
            if response.status_code not in self._policy.statuses:
                return response
            wait = schedule.delay_after(response)
            if wait is None:
                return response
            await response.aclose()
            await self._sleep(wait)

    async def aclose(self) -> None:
        await self._inner.aclose()
