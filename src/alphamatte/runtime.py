"""From settings to a loaded engine: the one way the server, the CLI, the local batch and the
Ray actors configure the model.

``Settings`` (``config.py``) is the only reader of ``ALPHAMATTE_*``; the engine takes every
choice (model, sizes, backend, precisions, threads) as arguments from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alphamatte.config import Settings

if TYPE_CHECKING:
    from alphamatte.engine.catalogue.spec import ModelSpec
    from alphamatte.engine.inference.batching import BatchPolicy
    from alphamatte.engine.inference.matting import Matter
    from alphamatte.engine.loader import Precisions
    from alphamatte.engine.runtimes.selection import Selection


def settings_with(**overrides: object) -> Settings:
    """``Settings`` from the environment, with the overrides that were given (None: not)."""
    return Settings(**{name: value for name, value in overrides.items() if value is not None})  # type: ignore[arg-type]


def precisions(settings: Settings) -> Precisions:
    return (settings.cpu_precision, settings.gpu_precision)


def model_for(settings: Settings) -> str:
    """The model ``settings`` run: ``ALPHAMATTE_MODEL`` for ``quality=fast``; for ``best``,
    the strongest catalogue model whose weights are in the model cache (the catalogue's
    ``strength``, docs/models.md), or ``ALPHAMATTE_MODEL`` when none is stronger."""
    if settings.quality != "best":
        return settings.model
    return strongest_installed(settings.models_dir, settings.model)


def strongest_installed(directory: Path, fallback: str) -> str:
    from alphamatte.engine.acquisition.download import is_verified
    from alphamatte.engine.catalogue.entries import CATALOGUE, REGISTRY

    base = REGISTRY.get(fallback)
    best, strength = fallback, base.strength if base is not None else 0
    for spec in CATALOGUE:
        path = directory / spec.filename
        if spec.strength > strength and spec.pinned and is_verified(path, spec):
            best, strength = spec.name, spec.strength
    return best


def load_engine(
    settings: Settings,
    *,
    batch: BatchPolicy | None = None,
    threads: int | None = None,
    fetch: bool = True,
    choose_for: int | None = None,
    model: str | None = None,
) -> Matter:
    """The model ``settings`` name (or ``model``), verified, prepared and opened as they say.

    ``threads``: the session's own (several actors on one node), else ``settings.threads``;
    ``choose_for``: the thread count ``auto`` chooses for (see ``engine.loader.load_matter``).
    """
    from alphamatte.engine.inference.matting import MattingConfig
    from alphamatte.engine.loader import load_matter

    return load_matter(
        model or model_for(settings),
        config=MattingConfig(max_side=settings.max_side),
        directory=settings.models_dir,
        threads=threads or settings.threads,
        fetch=fetch,
        backend=settings.backend,
        batch=batch,
        choose_for=choose_for,
        precisions=precisions(settings),
    )


def choose_runtime(settings: Settings, spec: ModelSpec, path: Path) -> Selection:
    """What this machine will run ``spec`` on under ``settings`` (measured once, cached)."""
    from alphamatte.engine.loader import choose_runtime as choose
    from alphamatte.engine.runtimes.backends import requested_backend

    requested = requested_backend(settings.backend)
    return choose(spec, path, requested, threads=settings.threads, precisions=precisions(settings))
