"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from alphamatte.server.deps import State

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
@router.head("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _database_ok(state: State) -> bool:
    try:
        with state.db.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/ready", summary="Readiness: model loaded and storage reachable")
@router.head("/ready", include_in_schema=False)
async def ready(state: State) -> JSONResponse:
    checks = {
        "model": state.matter is not None,
        "database": await anyio.to_thread.run_sync(_database_ok, state),
    }
    status = 200 if all(checks.values()) else 503
    pool = state.models
    # Served: what this server offers. Unavailable: models whose last load failed (they answer
    # 503 meanwhile); the server stays ready while its default serves.
    models = {
        "served": pool.names if pool is not None else [],
        "unavailable": pool.unavailable() if pool is not None else [],
    }
    return JSONResponse(
        {"ready": status == 200, "checks": checks, "models": models}, status_code=status
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
