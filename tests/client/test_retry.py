"""Retries with a fake clock: what is retried, how long it waits, and when it gives up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from alphamatte.client.retry import (
    AsyncRetryTransport,
    RetryPolicy,
    RetryTransport,
    retry_after_seconds,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def scripted(*outcomes: int | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(outcomes)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        headers = {"Retry-After": "7"} if outcome == 429 else {}
        return httpx.Response(outcome, json={"detail": str(outcome)}, headers=headers)

    return httpx.MockTransport(handler), seen


def client_with(transport: httpx.BaseTransport, clock: FakeClock, **policy: object) -> httpx.Client:
    retry = RetryTransport(
        transport,
        RetryPolicy(**policy),  # type: ignore[arg-type]
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
    )
    return httpx.Client(transport=retry, base_url="http://api")


def test_waits_at_least_retry_after_and_resends_the_same_idempotency_key() -> None:
    clock = FakeClock()
    transport, seen = scripted(429, 429, 200)
    response = client_with(transport, clock).post(
        "/v1.0/alpha-channel-base64", json={}, headers={"Idempotency-Key": "k1"}
    )
    assert response.status_code == 200
    assert len(seen) == 3
    assert all(7.0 <= s <= 8.0 for s in clock.sleeps) and len(clock.sleeps) == 2
    assert {r.headers["Idempotency-Key"] for r in seen} == {"k1"}
    assert {r.content for r in seen} == {b"{}"}


def test_503_without_hint_backs_off_exponentially_with_jitter() -> None:
    clock = FakeClock()
    transport, _ = scripted(503, 503, 503, 503, 200)
    response = client_with(transport, clock, base_delay=1.0).get("/x")
    assert response.status_code == 200
    ceilings = [1.0, 2.0, 4.0, 8.0]
    assert len(clock.sleeps) == 4
    for slept, ceiling in zip(clock.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling


@pytest.mark.parametrize("status", [400, 401, 402, 403, 413, 415, 422, 500])
def test_other_statuses_are_never_retried(status: int) -> None:
    clock = FakeClock()
    transport, seen = scripted(status, 200)
    assert client_with(transport, clock).get("/x").status_code == status
    assert len(seen) == 1 and clock.sleeps == []


def test_connection_errors_are_retried() -> None:
    clock = FakeClock()
    transport, seen = scripted(httpx.ConnectError("refused"), httpx.ReadError("reset"), 200)
    assert client_with(transport, clock).get("/x").status_code == 200
    assert len(seen) == 3


def test_gives_up_after_the_attempt_budget_and_returns_the_last_answer() -> None:
    clock = FakeClock()
    transport, seen = scripted(*[503] * 10)
    assert client_with(transport, clock, attempts=3).get("/x").status_code == 503
    assert len(seen) == 3


def test_gives_up_when_the_wait_would_pass_the_total_time() -> None:
    clock = FakeClock()
    transport, seen = scripted(429, 429, 429, 200)
    response = client_with(transport, clock, total_seconds=10.0).get("/x")
    assert response.status_code == 429  # a second 7 s wait would end past 10 s
    assert len(seen) == 2 and clock.now < 10.0


def test_connection_errors_surface_once_the_budget_is_spent() -> None:
    clock = FakeClock()
    transport, _ = scripted(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(httpx.ConnectError):
        client_with(transport, clock, attempts=3).get("/x")


def test_default_policy_rides_out_a_full_minute_window() -> None:
    clock = FakeClock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if clock.now < 60.0:
            return httpx.Response(429, headers={"Retry-After": str(max(1, int(60 - clock.now)))})
        return httpx.Response(200, json={})

    retry = RetryTransport(httpx.MockTransport(handler), sleep=clock.sleep, clock=clock)
    assert httpx.Client(transport=retry).get("http://api/x").status_code == 200


async def test_async_transport_retries_the_same_way() -> None:
    clock = FakeClock()
    transport, seen = scripted(429, 200)
    retry = AsyncRetryTransport(
        transport, RetryPolicy(), sleep=clock.async_sleep, clock=clock, rng=random.Random(2)
    )
    async with httpx.AsyncClient(transport=retry) as client:
        response = await client.post("http://api/x", content=b"body")
    assert response.status_code == 200 and len(seen) == 2
    assert 7.0 <= clock.sleeps[0] <= 8.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert (
        retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now)
        == 30.0
    )
    assert (
        retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now)
        == 0.0
    )
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
