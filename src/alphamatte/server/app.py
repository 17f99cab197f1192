"""``create_app(settings)``: the FastAPI application, with nothing built at import time."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from alphamatte import __version__
from alphamatte.config import Settings
from alphamatte.engine.inference.batching import BatchPolicy
from alphamatte.engine.inference.matting import Matter
from alphamatte.engine.runtimes.backends import describe, on_gpu
from alphamatte.imaging.decontaminate import warm_up
from alphamatte.server.access_log import AccessLog
from alphamatte.server.accounting import idempotency
from alphamatte.server.accounting.credits import refund_stale
from alphamatte.server.accounting.keys import RecentKeys
from alphamatte.server.admission import MB, MemoryBudget, default_budget_mb
from alphamatte.server.errors import install_error_handlers
from alphamatte.server.executor import BoundedExecutor
from alphamatte.server.models import (
    ModelPool,
    leave_out_unservable,
    model_prices,
    served_models,
)
from alphamatte.server.ratelimit import RateLimiter
from alphamatte.server.result_cache import make_result_cache
from alphamatte.server.routes import (
    account,
    admin,
    health,
    models,
    playground,
    preview,
    removebg,
    withoutbg,
)
from alphamatte.server.state import Metrics, ServerState
from alphamatte.server.storage.database import make_engine, migrate

log = logging.getLogger("alphamatte.server")
RATE_WINDOW_SWEEP_S = 1.0  # how often expired in-process rate-limit entries are dropped
GPU_INFLIGHT = 8  # requests in inference at once when the model runs on a GPU
MatterFactory = Callable[[Settings, str], Matter]  # (settings, the model's name)


def _load_real_matter(settings: Settings, model: str) -> Matter:
    from alphamatte.runtime import load_engine

    # fetch=False: a server downloads nothing (`alphamatte model fetch` does, `make run` and
    # the image build run it); a missing or corrupt file is a 503 for that model, not a fetch.
    return load_engine(
        settings,
        batch=BatchPolicy(settings.batch_size, settings.batch_wait_ms / 1000),
        fetch=False,
        model=model,
    )


def reap(state: ServerState) -> None:
    """Refund reservations (and free Idempotency-Keys) left by requests whose process died,
    and drop stored idempotent responses past their TTL. Safe on every replica at once: each
    refund is one conditional transaction."""
    settings = state.settings
    timeout = timedelta(seconds=settings.reservation_timeout_s)
    refunded = refund_stale(state.db, timeout)
    purged = idempotency.purge(state.db, timedelta(seconds=settings.idempotency_ttl_s), timeout)
    if refunded:
        log.warning(json.dumps({"event": "refunded_stale_reservations", "count": refunded}))
    if purged:
        log.info(json.dumps({"event": "purged_idempotency_rows", "count": purged}))


async def _reaper(state: ServerState) -> None:
    while True:
        await anyio.sleep(state.settings.reaper_interval_s)
        try:
            await anyio.to_thread.run_sync(reap, state)
        except Exception as exc:  # storage down: try again next round
            log.warning(json.dumps({"event": "reaper_failed", "error": type(exc).__name__}))


async def _expire_rate_windows(state: ServerState) -> None:
    while True:
        await anyio.sleep(RATE_WINDOW_SWEEP_S)
        state.limiter.expire()


def create_app(
    settings: Settings | None = None, matter_factory: MatterFactory | None = None
) -> FastAPI:
    """Build the app. ``matter_factory`` is the seam where tests put a fake model."""
    settings = settings or Settings()
    db = make_engine(settings.resolved_database_url)
    state = ServerState(
        settings=settings,
        db=db,
        limiter=RateLimiter(
            settings.rate_limit,
            settings.redis_url or "memory://",
            settings.auth_failure_limit,
            megapixels=settings.removebg_rate_limit,
        ),
        results=make_result_cache(settings),
        recent_keys=RecentKeys(settings.key_cache_s),
        executor=BoundedExecutor(
            workers=min(4, (os.cpu_count() or 1) + 1), max_pending=settings.queue_size
        ),
        metrics=Metrics(),
        memory=MemoryBudget(
            (settings.memory_budget_mb or default_budget_mb()) * MB,
            wait_s=settings.memory_wait_s,
            max_waiting=settings.queue_size,
        ),
    )
    factory = matter_factory or _load_real_matter

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(migrate, db)
        await anyio.to_thread.run_sync(reap, state)
        from alphamatte.runtime import model_for

        names = served_models(settings, model_for(settings))
        remake = None
        if matter_factory is None:  # real models: leave out what cannot be served, say why
            from alphamatte.engine.loader import discard_derived

            names = leave_out_unservable(names, settings.models_dir)
            remake = functools.partial(discard_derived, directory=settings.models_dir)
        pool = ModelPool(
            settings, factory, state.memory, names, model_prices(settings), remake=remake
        )
        async with pool.use(pool.default) as matter:  # loaded and warmed before /ready
            pass
        state.models = pool
        if on_gpu(matter.session):
            # The GPU runs one photo in ~11 ms while its decode, resize and encode take longer
            # on the CPU: enough requests must be in flight to keep it busy (8 clients kept it
            # 95 % busy on an H100), and a batch fills only if that many are.
            inflight = max(GPU_INFLIGHT, settings.batch_size)
            state.executor.shutdown()
            state.executor = BoundedExecutor(
                workers=inflight + 2, max_pending=max(settings.queue_size, 2 * inflight)
            )
        runtime = describe(matter.session)
        log.info(
            "model %s on %s (%s, %s, %d threads); serving %s",
            pool.default,
            runtime.backend,
            runtime.device,
            runtime.precision,
            runtime.threads,
            ", ".join(pool.names),
        )
        await anyio.to_thread.run_sync(warm_up)  # numba JIT for cutouts, before /ready
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_reaper, state)
            tasks.start_soon(_expire_rate_windows, state)
            yield
            tasks.cancel_scope.cancel()
        state.executor.shutdown()
        await pool.close()
        db.dispose()

    # /docs and /redoc load their scripts from this server (fastapi-offline ships them): a
    # self-hosted server with no route to a CDN showed a blank page, and a CDN's script ran
    # unpinned on the operator's docs page.
    app = FastAPIOffline(
        title="alphamatte",
        version=__version__,
        description="Alpha mattes from photos; wire-compatible with the withoutbg Alpha Matte API.",
        lifespan=lifespan,
    )
    app.state.alphamatte = state
    install_error_handlers(app)
    app.include_router(withoutbg.router)
    app.include_router(preview.router)
    app.include_router(account.router)
    app.include_router(removebg.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(playground.router)
    app.include_router(admin.router)

    app.add_middleware(AccessLog, metrics=state.metrics)
    return app
