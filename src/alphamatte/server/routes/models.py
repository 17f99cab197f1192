"""`GET /v1.0/models`: the models this server serves (our extension), for clients and the
playground's menu. No key needed: the list says what can be asked for, not who may."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from alphamatte.engine.catalogue.entries import REGISTRY
from alphamatte.server.accounting.amounts import from_milli
from alphamatte.server.deps import State
from alphamatte.server.errors import ApiError

router = APIRouter(prefix="/v1.0")


@router.get("/models", summary="The models this server serves; the first is its default")
async def served(state: State) -> dict[str, Any]:
    pool = state.models
    if pool is None:
        raise ApiError(503, "The model is still loading; retry shortly.", {"Retry-After": "5"})
    loaded = set(pool.loaded())
    failing = set(pool.unavailable())
    rows = []
    for name in pool.names:
        spec = REGISTRY.get(name)
        rows.append(
            {
                "name": name,
                "default": name == pool.default,
                "credits": from_milli(pool.price_milli(name)),
                "loaded": name in loaded,
                "available": name not in failing,  # false while its last load failed (503)
                "licence": spec.licence if spec else None,
                "commercial": spec.commercial if spec else True,
                "description": spec.description if spec else None,
            }
        )
    return {"models": rows}
