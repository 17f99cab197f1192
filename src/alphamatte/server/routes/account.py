"""`GET /available-credit`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alphamatte.server.accounting.amounts import whole_credits
from alphamatte.server.deps import Key, State, off_loop_if

router = APIRouter(tags=["account"])


@router.get("/available-credit", summary="Credits left on this key and when they expire")
async def available_credit(request: Request, state: State, key: Key) -> JSONResponse:
    # Off the event loop with Redis (a network round trip); the in-process window stays on it,
    # like every other use of it.
    rate = await off_loop_if(state.limiter.blocking, state.limiter.peek, key.id, key.rate_limit)
    expiry = key.expires_at.strftime("%Y-%m-%d %H:%M:%S") if key.expires_at else None
    # withoutbg's `credit` is an integer: a balance with a fraction of a credit (left by
    # fractional prices elsewhere) shows the whole credits it holds.
    credit = whole_credits(key.milli)
    return JSONResponse({"credit": credit, "expiration_date": expiry}, headers=rate.headers())
