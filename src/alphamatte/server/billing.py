"""Billing one request: reserve its price, produce, charge once, or refund on any failure.

Both dialects' routes run their work through :class:`Paid` on a worker thread; the credits
themselves live in ``accounting.credits`` (one ledger, exact to the thousandth).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from fastapi import Request
from sqlalchemy import Connection

from alphamatte.server.accounting import credits
from alphamatte.server.accounting.amounts import MILLI, from_milli
from alphamatte.server.errors import CREDITS_EXPIRED, INSUFFICIENT_CREDIT, INVALID_KEY, ApiError
from alphamatte.server.state import ServerState

T = TypeVar("T")


class Paid(Generic[T]):
    """Reserve → produce → charge on the calling (worker) thread, refunding on failure."""

    def __init__(
        self,
        state: ServerState,
        key_id: int,
        request_id: str,
        endpoint: str,
        record: Callable[[T], Callable[[Connection], None]] | None,
        milli: int = MILLI,
        model: str | None = None,
    ) -> None:
        self.state, self.key_id, self.request_id = state, key_id, request_id
        self.endpoint, self.record, self.milli = endpoint, record, milli
        self.model = model
        # Set when the request's task is cancelled while the job runs on: its result will
        # never be sent, so the job refunds instead of charging.
        self.abandoned = threading.Event()

    def run(self, produce: Callable[[], T]) -> tuple[T, bool]:
        db = self.state.db
        outcome = credits.reserve(
            db, self.key_id, self.request_id, self.endpoint, self.milli, self.model
        )
        if outcome is credits.Reservation.EXPIRED:
            raise ApiError(403, CREDITS_EXPIRED)
        if outcome is credits.Reservation.NO_CREDIT:
            raise ApiError(402, INSUFFICIENT_CREDIT)
        if outcome is credits.Reservation.REVOKED:
            raise ApiError(401, INVALID_KEY)
        try:
            made = produce()
        except BaseException:
            credits.refund(db, self.request_id)
            raise
        if self.abandoned.is_set():
            credits.refund(db, self.request_id)
            return made, False
        also = self.record(made) if self.record is not None else None
        # Not charged only if the reaper refunded the reservation first (a request that
        # outlived ALPHAMATTE_RESERVATION_TIMEOUT_S): the caller gets the result, for free.
        charged = credits.charge(db, self.request_id, also)
        if charged:
            self.state.metrics.credits.inc()
        return made, charged

    async def settle(self, request: Request, job: Awaitable[tuple[T, bool]]) -> T:
        try:
            made, charged = await job
        except BaseException:
            self.abandoned.set()
            raise
        request.state.credits_charged = from_milli(self.milli) if charged else 0
        return made
