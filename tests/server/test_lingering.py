"""The lingering close's bounds, on a stand-in transport (the throttled tests in
test_early_refusals.py show what clients see over real sockets)."""

from __future__ import annotations

import asyncio

from alphamatte.server.lingering import SHORT_BYTES, Linger, LingeringTransport


class Transport:
    def __init__(self) -> None:
        self.closed = False
        self.eof = False

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_past_the_concurrent_limit_a_connection_gets_the_short_drain() -> None:
    async def run() -> tuple[int, int, int]:
        linger = Linger(max_bytes=50_000_000, connections=1)
        first = LingeringTransport(Transport(), linger, lambda: 20_000_000)  # type: ignore[arg-type]
        second = LingeringTransport(Transport(), linger, lambda: 20_000_000)  # type: ignore[arg-type]
        first.close()
        second.close()
        allowed = first.allowed, second.allowed
        first.finish()  # its place is free again
        third = LingeringTransport(Transport(), linger, lambda: 20_000_000)  # type: ignore[arg-type]
        third.close()
        third.finish()
        second.finish()
        return allowed[0], allowed[1], third.allowed

    assert asyncio.run(run()) == (20_000_000, SHORT_BYTES, 20_000_000)


def test_a_drain_never_exceeds_its_cap_and_ends_when_all_declared_arrived() -> None:
    async def run() -> tuple[int, bool, bool]:
        capped = LingeringTransport(Transport(), Linger(max_bytes=3_000_000), lambda: 10**9)  # type: ignore[arg-type]
        capped.close()
        exact = Transport()
        declared = LingeringTransport(exact, Linger(), lambda: 2_000_000)  # type: ignore[arg-type]
        declared.close()
        declared.received(1_999_999)
        open_before_last_byte = not exact.closed
        declared.received(1)
        capped.finish()
        return capped.allowed, open_before_last_byte, exact.closed and exact.eof

    assert asyncio.run(run()) == (3_000_000, True, True)


def test_an_unknown_remainder_is_drained_until_the_cap() -> None:
    async def run() -> int:
        unknown = LingeringTransport(Transport(), Linger(max_bytes=5_000_000), lambda: None)  # type: ignore[arg-type]
        unknown.close()
        unknown.finish()
        return unknown.allowed

    assert asyncio.run(run()) == 5_000_000
