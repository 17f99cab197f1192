"""The models one server serves (``ALPHAMATTE_MODELS``, the first the default), loaded when
first asked for, kept within the memory budget, and chosen per request.

A loaded model holds its resident cost in the same :class:`MemoryBudget` that admits photos,
so a model and the photos it works on never together exceed ``ALPHAMATTE_MEMORY_BUDGET_MB``.
A model that does not fit evicts the least recently used model no request is using. If the
room is held by models in use, they are *drained*: their requests in flight finish, new
requests for them wait, then they are unloaded and the new model loads; the waiting requests
take their turn after it. So models that do not fit together take turns, and none starves
another (before, a busy model kept its room for ever and the default got 503 19 times in 20).
Loading runs on a worker thread, one load per model at a time; every wait of a request (for a
load, a drain, memory) counts against one ``ALPHAMATTE_MEMORY_WAIT_S``.

A model that fails to load (a corrupt file, a registry out of reach, a runtime that refuses the
graph) is tried once more after its derived graphs are deleted (they are made again from the
verified source); if that fails too it answers 503 with ``Retry-After`` for
:data:`RETRY_AFTER_S`, logged in one line, while the other models keep serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import anyio.to_thread
import numpy as np

from alphamatte.config import Settings
from alphamatte.engine.errors import EngineError
from alphamatte.engine.inference.matting import Matter
from alphamatte.server.accounting.amounts import MILLI, to_milli
from alphamatte.server.accounting.keys import ApiKey
from alphamatte.server.admission import MB, MemoryBudget, release_free_memory
from alphamatte.server.errors import ApiError
from alphamatte.server.executor import QueueFullError

log = logging.getLogger(__name__)

Factory = Callable[[Settings, str], Matter]  # (settings, the model's name)
# A loaded model's resident memory, estimated: its weights twice (the file the runtime reads
# and the runtime's own copy) and its arena, per pixel of the canvas it runs at. Measured here:
# IS-Net took +94 to +115 MB to load and ~30-60 MB of arena at 1024², U²-Net-p +35 MB.
ARENA_BYTES_PER_CANVAS_PIXEL = 100
RETRY_AFTER_S = 30  # a model that failed to load is not tried again sooner


def unavailable(name: str) -> ApiError:
    return ApiError(
        503,
        f"The model {name} cannot be loaded on this server right now; retry later or ask for "
        "another model.",
        {"Retry-After": str(RETRY_AFTER_S)},
        code="model_unavailable",
    )


def leave_out_unservable(names: list[str], directory: object) -> list[str]:
    """``names`` without the models this server cannot serve (not installed, refused by the
    engine), each left out with a warning; the default (first) is kept: its load at start
    fails loudly if it cannot serve."""
    from pathlib import Path

    from alphamatte.engine.loader import servable_problem

    kept = names[:1]
    for name in names[1:]:
        problem = servable_problem(name, Path(str(directory)))
        if problem is None:
            kept.append(name)
        else:
            log.warning("ALPHAMATTE_MODELS: %s left out: %s", name, problem)
    return kept


def served_models(settings: Settings, default: str) -> list[str]:
    """``ALPHAMATTE_MODELS`` (comma-separated; the first is the default), else ``default``."""
    listed = [name.strip() for name in (settings.models or "").split(",") if name.strip()]
    return list(dict.fromkeys(listed)) or [default]


def model_prices(settings: Settings) -> dict[str, int]:
    """``ALPHAMATTE_MODEL_PRICES`` ("name=2,other=0.5") in thousandths of a credit."""
    prices: dict[str, int] = {}
    for item in (settings.model_prices or "").split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        prices[name.strip()] = to_milli(value.strip())
    return prices


@dataclass
class Loaded:
    matter: Matter
    cost: int  # bytes held in the memory budget while loaded
    hold: AsyncExitStack
    users: int = 0


def resident_cost(matter: Matter, directory: object) -> int:
    """What :data:`ARENA_BYTES_PER_CANVAS_PIXEL` and the weights file say ``matter`` keeps in
    memory; 0 for a model with no file (the tests' fakes)."""
    from pathlib import Path

    path = Path(str(directory)) / matter.spec.filename
    if not path.is_file():
        return 0
    side = matter.canvas_side()
    return 2 * path.stat().st_size + side * side * ARENA_BYTES_PER_CANVAS_PIXEL


@dataclass
class ModelPool:
    settings: Settings
    factory: Factory
    memory: MemoryBudget
    names: list[str]
    prices: dict[str, int] = field(default_factory=dict)
    _loaded: OrderedDict[str, Loaded] = field(default_factory=OrderedDict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Deletes a model's derived graphs so that its next load makes them again (the engine's
    # discard_derived; unset with the tests' fake models).
    remake: Callable[[str], None] | None = None
    _failed: dict[str, float] = field(default_factory=dict)  # name → monotonic retry time
    _draining: set[str] = field(default_factory=set)  # loaded models whose turn is ending
    _change: asyncio.Event | None = None  # set when something a waiter awaits changed
    loads: int = 0  # how many times a model was loaded (evictions make it grow)

    @property
    def default(self) -> str:
        return self.names[0]

    def price_milli(self, name: str) -> int:
        """Thousandths of a credit one image with ``name`` costs: ``ALPHAMATTE_MODEL_PRICES``,
        else the catalogue's price, else one credit."""
        if name in self.prices:
            return self.prices[name]
        from alphamatte.engine.catalogue.entries import REGISTRY

        spec = REGISTRY.get(name)
        return (spec.price if spec is not None else 1) * MILLI

    def unavailable(self) -> list[str]:
        """Models whose last load failed, while they answer 503."""
        now = time.monotonic()
        return [name for name, until in self._failed.items() if until > now]

    def loaded(self) -> list[str]:
        """Loaded models, least recently used first."""
        return list(self._loaded)

    def peek(self, name: str | None = None) -> Matter | None:
        """A loaded model without waiting (``name`` unset: the default)."""
        entry = self._loaded.get(name or self.default)
        return entry.matter if entry is not None else None

    def choose(self, asked: str | None, key: ApiKey | None) -> str:
        """The model a request runs: its own ``model``, else its key's default, else the
        server's; 400 for a name this server does not serve, 403 for one the key may not use."""
        name = (asked or "").strip() or (key.default_model if key else None) or self.default
        if name not in self.names:
            raise ApiError(
                400,
                f"Unknown model {name[:100]!r}; this server serves: {', '.join(self.names)}.",
                code="invalid_model",
            )
        allowed = key.allowed_models if key else None
        if allowed and name not in allowed:
            raise ApiError(
                403,
                f"This API key may not use the model {name!r}; it may use: {', '.join(allowed)}.",
                code="model_not_allowed",
            )
        return name

    @asynccontextmanager
    async def use(self, name: str, *, deadline: float | None = None) -> AsyncIterator[Matter]:
        """``name``'s model, loaded if needed (waiting until the monotonic ``deadline`` at
        most, unset: the memory wait from now), kept loaded while the block runs."""
        if deadline is None:
            deadline = time.monotonic() + self.memory.wait_s
        entry = await self._get(name, deadline)
        entry.users += 1
        try:
            yield entry.matter
        finally:
            entry.users -= 1
            if not entry.users and self._draining:
                self._notify()  # a drained model went idle: its room can be had

    async def _get(self, name: str, deadline: float) -> Loaded:
        while name in self._draining:  # its turn is over: wait for the next model's load
            await self._changed_before(deadline)
        entry = self._loaded.get(name)
        if entry is not None:
            self._loaded.move_to_end(name)
            return entry
        if self._failed.get(name, 0.0) > time.monotonic():
            raise unavailable(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise QueueFullError("The server is busy; retry shortly.") from None
        try:
            entry = self._loaded.get(name)
            if entry is None:
                if self._failed.get(name, 0.0) > time.monotonic():
                    raise unavailable(name)
                entry = await self._load(name, deadline)
            self._loaded.move_to_end(name)
            return entry
        finally:
            lock.release()

    async def _load(self, name: str, deadline: float) -> Loaded:
        try:
            matter = await self._open(name)
        except Exception as exc:
            self._failed[name] = time.monotonic() + RETRY_AFTER_S
            log.warning(
                "model %s cannot be loaded (answering 503 for %d s): %s: %s",
                name,
                RETRY_AFTER_S,
                type(exc).__name__,
                str(exc).splitlines()[0][:300] if str(exc) else "",
            )
            raise unavailable(name) from None
        self._failed.pop(name, None)
        cost = resident_cost(matter, self.settings.models_dir)
        hold = AsyncExitStack()
        try:  # any refusal from here on: the opened model is closed, not kept
            if cost > self.memory.budget:
                self._failed[name] = time.monotonic() + RETRY_AFTER_S  # not loaded to learn it
                log.warning(
                    "model %s needs about %d MB; the memory budget (ALPHAMATTE_MEMORY_BUDGET_MB) "
                    "is %d MB",
                    name,
                    cost // MB,
                    self.memory.budget // MB,
                )
                raise ApiError(
                    503,
                    f"The model {name} does not fit in this server's memory budget; ask for "
                    "another model.",
                    {"Retry-After": str(RETRY_AFTER_S)},
                    code="model_unavailable",
                )
            await self._room_for(cost, name, deadline)
            wait_s = deadline - time.monotonic() if self._loaded else None  # at start: its own
            await hold.enter_async_context(self.memory.admit(cost, wait_s=wait_s))
        except BaseException:
            self._close(matter)
            raise
        entry = Loaded(matter, cost, hold)
        self._loaded[name] = entry
        self.loads += 1
        log.info("model %s loaded (%d MB of the memory budget)", name, cost // MB)
        if not matter.spec.commercial:
            log.warning(
                "model %s is licensed for non-commercial use only: %s", name, matter.spec.licence
            )
        return entry

    async def _open(self, name: str) -> Matter:
        """The model opened and warmed up (one small inference allocates the runtime's arena
        and makes a runtime that reads its graph late, OpenVINO, read it now); on a failure,
        once more after its derived graphs are deleted."""

        def opened() -> Matter:
            matter = self.factory(self.settings, name)
            matter.predict(np.zeros((64, 64, 3), np.uint8))
            return matter

        try:
            return await anyio.to_thread.run_sync(opened)
        except Exception as first:
            if self.remake is None or (isinstance(first, EngineError) and first.final):
                raise  # missing, refused or already re-acquired: trying again changes nothing
            log.warning("model %s failed to open (%s); remaking its graphs", name, first)
            await anyio.to_thread.run_sync(self.remake, name)
            return await anyio.to_thread.run_sync(opened)

    async def _room_for(self, cost: int, name: str, deadline: float) -> None:
        """Unload idle models, least recently used first, until ``cost`` fits; while models in
        use hold the room, drain them (new requests for them wait) and unload them once idle.
        503 when that takes past ``deadline``."""
        drained: set[str] = set()
        try:
            while True:
                await self._unload_idle(cost, keep=name)
                if self.memory.in_use + cost <= self.memory.budget:
                    return
                busy = [other for other, e in self._loaded.items() if other != name and e.users]
                if not busy:
                    return  # photos hold the rest: the memory admission waits for them
                self._draining.update(busy)
                drained.update(busy)
                await self._changed_before(deadline)
        finally:
            self._draining.difference_update(drained)
            self._notify()

    async def _unload_idle(self, cost: int, *, keep: str) -> None:
        """Unload idle models, least recently used first, until ``cost`` fits."""
        for other in list(self._loaded):
            if self.memory.in_use + cost <= self.memory.budget:
                return
            entry = self._loaded[other]
            if other == keep or entry.users:
                continue
            await self.unload(other)

    def _notify(self) -> None:
        """Wake whoever waits for a model to go idle, a drain to end or a load to finish: the
        waiters hold this generation's event; the next waiters get a fresh one."""
        if self._change is not None:
            self._change.set()
            self._change = None

    async def _changed_before(self, deadline: float) -> None:
        if self._change is None:
            self._change = asyncio.Event()
        try:
            await asyncio.wait_for(self._change.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise QueueFullError("The server is busy switching models; retry shortly.") from None

    async def unload(self, name: str) -> None:
        entry = self._loaded.pop(name, None)
        if entry is None:
            return
        self._close(entry.matter)
        await entry.hold.aclose()
        del entry
        await anyio.to_thread.run_sync(release_free_memory)
        log.info("model %s unloaded to make room", name)

    @staticmethod
    def _close(matter: Matter) -> None:
        matter.session.close()

    async def close(self) -> None:
        for name in list(self._loaded):
            await self.unload(name)
