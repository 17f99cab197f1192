"""Operator API for keys: create, list, top up, revoke. Off unless ALPHAMATTE_ADMIN_TOKEN is set.

Authenticated with ``Authorization: Bearer <token>``, compared in constant time; failures count
towards the same per-address throttle as bad API keys. Raw API keys are returned once, at
creation, and never appear in logs.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from alphamatte.server.accounting import keys, ledger
from alphamatte.server.accounting.ledger import Actor
from alphamatte.server.deps import State, client_address, off_loop_if
from alphamatte.server.errors import ApiError
from alphamatte.server.ratelimit import valid_rate_limit
from alphamatte.server.state import ServerState

router = APIRouter(prefix="/admin", tags=["admin"])


async def require_admin(request: Request, state: State) -> None:
    token = state.settings.admin_token
    if not token:
        raise ApiError(403, "The admin API is disabled; set ALPHAMATTE_ADMIN_TOKEN to enable it.")
    # Counted apart from API keys' failures: clients guessing keys must not lock the operator
    # out of the admin API from a shared address.
    client = f"admin:{client_address(request)}"
    if await off_loop_if(state.limiter.blocking, state.limiter.auth_blocked, client):
        raise ApiError(429, "Too many failed authentication attempts.", {"Retry-After": "60"})
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        await off_loop_if(state.limiter.blocking, state.limiter.auth_failed, client)
        raise ApiError(401, "Admin token missing or wrong (Authorization: Bearer <token>).")


Admin = Annotated[None, Depends(require_admin)]
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # the column is a 32-bit integer


def _in_local_time(moment: datetime | None) -> datetime | None:
    # Done here rather than only where the key is written, so that a date with no local-time
    # equivalent (year 1 at a positive offset, say) is refused as input, not a server error.
    try:
        return keys.local_naive(moment)
    except OverflowError as exc:
        raise ValueError("the date is out of range in the server's time zone") from exc


Expiry = Annotated[datetime | None, AfterValidator(_in_local_time)]


class NewKey(BaseModel):
    name: str = Field(default="", max_length=200)
    credits: int = Field(default=0, ge=0, le=10**12)
    expires_at: Expiry = None
    rate_limit: str | None = Field(default=None, max_length=64)
    removebg_rate_limit: str | None = Field(default=None, max_length=64)  # megapixels
    default_model: str | None = Field(default=None, max_length=100)
    allowed_models: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=100
    )

    @field_validator("rate_limit", "removebg_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and not valid_rate_limit(value):
            raise ValueError("rate_limit must look like '7/minute'")
        return value


class KeyModels(BaseModel):
    default_model: str | None = Field(default=None, max_length=100)
    allowed_models: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=100
    )


def _checked_models(
    state: ServerState, default: str | None, allowed: list[str] | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """Names the server serves, and a default the allow-list allows; else 422."""
    if state.models is None:
        raise ApiError(503, "The model is still loading; retry shortly.", {"Retry-After": "5"})
    served = set(state.models.names)
    unknown = sorted({*(allowed or ()), *([default] if default else [])} - served)
    if unknown:
        raise ApiError(
            422, f"Not served here: {', '.join(unknown)}; ALPHAMATTE_MODELS lists {sorted(served)}."
        )
    if default and allowed and default not in allowed:
        raise ApiError(422, "The default model must be one of the allowed models.")
    if allowed and not default and state.models.default not in allowed:
        # Without a default of its own the key would ask for the server's, which it may not
        # use: every request naming no model would be refused. Its first allowed model it is.
        default = allowed[0]
    return default, tuple(allowed) if allowed else None


class TopUp(BaseModel):
    credits: int = Field(default=0, ge=0, le=10**12)
    expires: Expiry = None  # the new expiry; see keys.next_expiry

    @model_validator(mode="after")
    def _credits_or_a_date(self) -> TopUp:
        if self.credits == 0 and self.expires is None:
            raise ValueError("a top-up needs credits, an expiry date, or both")
        return self


def _public(key: keys.ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "credits": key.credits,
        "expires_at": key.expires_at.isoformat(sep=" ") if key.expires_at else None,
        "rate_limit": key.rate_limit,
        "removebg_rate_limit": key.removebg_rate_limit,
        "default_model": key.default_model,
        "allowed_models": list(key.allowed_models) if key.allowed_models else None,
        "revoked": key.revoked,
        "created_at": key.created_at.isoformat(sep=" "),
    }


@router.post("/keys", status_code=201, summary="Create a key; the raw key is in the answer once")
async def create(body: NewKey, state: State, _: Admin) -> dict[str, Any]:
    default, allowed = _checked_models(state, body.default_model, body.allowed_models)
    key, raw = await anyio.to_thread.run_sync(
        lambda: keys.create_key(
            state.db,
            name=body.name,
            credits=body.credits,
            expires_at=body.expires_at,
            rate_limit=body.rate_limit,
            removebg_rate_limit=body.removebg_rate_limit,
            default_model=default,
            allowed_models=allowed,
            validity=state.settings.credit_validity,
            actor=Actor.ADMIN_API,
        )
    )
    return {**_public(key), "key": raw}


@router.get("/keys", summary="All keys (never their secrets)")
async def list_all(state: State, _: Admin) -> list[dict[str, Any]]:
    return [_public(k) for k in await anyio.to_thread.run_sync(keys.list_keys, state.db)]


@router.post(
    "/keys/{key_id}/topup",
    summary="Add credits and/or move the expiry; expired credits become usable again",
)
async def top_up(key_id: KeyId, body: TopUp, state: State, _: Admin) -> dict[str, Any]:
    validity = state.settings.credit_validity
    try:
        key = await anyio.to_thread.run_sync(
            lambda: keys.top_up(
                state.db,
                key_id,
                body.credits,
                expires_at=body.expires,
                validity=validity,
                actor=Actor.ADMIN_API,
            )
        )
    except keys.PastExpiryError as exc:
        raise ApiError(422, str(exc)) from None
    if key is None:
        raise ApiError(404, f"No key with id {key_id}.")
    return _public(key)


@router.get("/keys/{key_id}/ledger", summary="Every credit movement of a key, oldest first")
async def key_ledger(
    key_id: KeyId,
    state: State,
    _: Admin,
    after: Annotated[int, Query(ge=0, le=2**62, description="Rows after this row id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(ledger.totals, state.db, key_id)
    if found is None:
        raise ApiError(404, f"No key with id {key_id}.")
    rows = await anyio.to_thread.run_sync(
        lambda: ledger.entries(state.db, key_id, after=after, limit=limit)
    )
    balance, ledger_sum = found
    return {
        "key_id": key_id,
        "balance": balance,
        "ledger_sum": ledger_sum,
        "entries": [row.public() for row in rows],
        # The cursor for the next page; null on the last one.
        "next_after": rows[-1].id if len(rows) == limit else None,
    }


@router.put("/keys/{key_id}/models", summary="A key's default model and allowed models")
async def set_models(key_id: KeyId, body: KeyModels, state: State, _: Admin) -> dict[str, Any]:
    default, allowed = _checked_models(state, body.default_model, body.allowed_models)
    key = await anyio.to_thread.run_sync(
        lambda: keys.set_models(state.db, key_id, default_model=default, allowed_models=allowed)
    )
    if key is None:
        raise ApiError(404, f"No key with id {key_id}.")
    state.recent_keys.forget_all()
    return _public(key)


@router.post("/keys/{key_id}/revoke", summary="Revoke a key for good")
async def revoke(key_id: KeyId, state: State, _: Admin) -> dict[str, Any]:
    if not await anyio.to_thread.run_sync(keys.revoke, state.db, key_id):
        raise ApiError(404, f"No key with id {key_id}.")
    state.recent_keys.forget_all()
    key = await anyio.to_thread.run_sync(keys.get_key, state.db, key_id)
    assert key is not None
    return _public(key)
