"""Request dependencies: state, authentication and the rate limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request

from alphamatte.server.accounting.keys import ApiKey, RecentKeys, authenticate
from alphamatte.server.errors import INVALID_KEY, ApiError
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
    """The key of the X-API-Key header, read from the database (401 if none)."""
    return await authenticated_key(request, state, recent=None)


async def authenticated_key(
    request: Request, state: ServerState, recent: RecentKeys | None
) -> ApiKey:
    """The key of the X-API-Key header (401 if none), trusted from ``recent`` when it
    authenticated there in the last few seconds."""
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
    key = recent.get(raw) if recent is not None else None
    if key is None:
        key = await anyio.to_thread.run_sync(authenticate, state.db, raw)
        if key is None:
            await off_loop_if(state.limiter.blocking, state.limiter.auth_failed, client)
            raise ApiError(401, INVALID_KEY)
        if recent is not None and raw:
            recent.put(raw, key)
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
