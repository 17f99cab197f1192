"""Request dependencies: state, authentication and the rate limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request

from alphamatte.server.accounting.keys import ApiKey, authenticate
from alphamatte.server.errors import ApiError
from alphamatte.server.state import ServerState

T = TypeVar("T")


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.alphamatte
    return state


State = Annotated[ServerState, Depends(get_state)]


async def off_loop_if(blocking: bool, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` on a worker thread when ``blocking`` (network I/O such as Redis, or work
    on a large body), else right here: an in-process lookup or a small body takes microseconds,
    less than the hop to a thread costs."""
    if blocking:
        return await anyio.to_thread.run_sync(func, *args)
    return func(*args)


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy, uvicorn's --proxy-headers puts the real one here)."""
    return request.client.host if request.client else "unknown"


async def require_key(request: Request, state: State) -> ApiKey:
    client = client_address(request)
    # Guessing keys is throttled per address: after too many failures even a good key waits.
    if await off_loop_if(state.limiter.blocking, state.limiter.auth_blocked, client):
        wait = await off_loop_if(state.limiter.blocking, state.limiter.auth_retry_after, client)
        raise ApiError(
            429,
            f"Too many failed authentication attempts; retry in {wait} s.",
            {"Retry-After": str(wait)},
        )
    raw = request.headers.get("x-api-key")
    key = await anyio.to_thread.run_sync(authenticate, state.db, raw)
    if key is None:
        await off_loop_if(state.limiter.blocking, state.limiter.auth_failed, client)
        raise ApiError(401, "Invalid or missing API key (send it in the X-API-Key header).")
    request.state.key_id = key.id
    return key


Key = Annotated[ApiKey, Depends(require_key)]


async def rate_limited_key(request: Request, state: State, key: Key) -> ApiKey:
    rate = await off_loop_if(state.limiter.blocking, state.limiter.hit, key.id, key.rate_limit)
    request.state.extra_headers = rate.headers()
    if not rate.allowed:
        raise ApiError(
            429,
            f"Rate limit exceeded ({rate.limit} requests per window); retry in "
            f"{rate.retry_after} s.",
            {"Retry-After": str(rate.retry_after)},
        )
    return key
