"""Build a ready :class:`Matter` from a model name: acquire, verify, prepare, open."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock

from alphamatte.engine.acquisition import download as acquire
from alphamatte.engine.acquisition.paths import confined_model_path
from alphamatte.engine.catalogue.entries import DEFAULT_MODEL, REGISTRY
from alphamatte.engine.catalogue.installed import custom_model, installed_spec
from alphamatte.engine.catalogue.spec import ModelSpec
from alphamatte.engine.errors import BackendUnavailableError, EngineError, ModelUnavailableError
from alphamatte.engine.inference.batching import BatchPolicy, MicroBatcher
from alphamatte.engine.inference.matting import HARD_MAX_SIDE, Matter, MattingConfig, normalise
from alphamatte.engine.preparation.quantize import calibration_photos, quantize
from alphamatte.engine.preparation.rewrite import (
    generic_path,
    prepare,
    prepare_generic,
    prepared_path,
    quantized_path,
)
from alphamatte.engine.runtimes.backends import (
    CPU_PRECISIONS,
    GPU_PRECISIONS,
    AnySession,
    checked_precision,
    on_gpu,
    open_session,
    requested_backend,
)
from alphamatte.engine.runtimes.cuda import cuda_usable
from alphamatte.engine.runtimes.openvino import openvino_bf16, openvino_installed
from alphamatte.engine.runtimes.selection import (
    CANVASES,
    Candidate,
    Capabilities,
    Runner,
    Selection,
    cache_path,
    machine_key,
    pinned,
    runnable,
    select,
)
from alphamatte.engine.runtimes.session import default_threads
from alphamatte.imaging.resize import resize_image

Precisions = tuple[str, str]  # (CPU, GPU): Settings.cpu_precision, Settings.gpu_precision
log = logging.getLogger(__name__)


def resolve_spec(model: str, directory: Path) -> tuple[ModelSpec, Path]:
    """A catalogue name, an imported model described in ``directory`` (``NAME.model.toml``),
    or an ``.onnx`` path confined to the model cache (run under IS-Net's contract)."""
    described = installed_spec(model, directory)
    if model in REGISTRY and (REGISTRY[model].pinned or described is None):
        spec = REGISTRY[model]
        return spec, directory / spec.filename
    if described is not None:
        return described, confined_model_path(described.filename, directory)
    path = confined_model_path(model, directory)
    return custom_model(path.name), path


def servable_problem(model: str, directory: Path) -> str | None:
    """Why ``model`` cannot be served from ``directory`` without a download, or None: not in
    the catalogue nor imported, not installed, or a graph the engine refuses."""
    try:
        spec, path = resolve_spec(model, directory)
    except Exception as exc:  # a name that is no model and no file in the cache
        return str(exc)
    if spec.input.side > HARD_MAX_SIDE and not spec.input.dynamic:
        return f"it runs at {spec.input.side}², above the engine's {HARD_MAX_SIDE} px"
    if not path.is_file():
        return f"it is not installed in {directory} (`alphamatte model fetch {model}`)"
    return None


def discard_derived(model: str, directory: Path) -> None:
    """Delete every graph made from ``model``'s file (prepared, int8, generic, OpenVINO's
    static graphs), so that the next load makes them again from the verified source."""
    with _load_lock, preparation_lock(directory):
        _discard_derived(model, directory)


def _discard_derived(model: str, directory: Path) -> None:
    _, path = resolve_spec(model, directory)
    derived = [prepared_path(path), prepared_path(path, half=True), generic_path(path)]
    derived.append(quantized_path(derived[0]))
    cache = directory / "openvino-cache"
    for graph in derived:
        graph.unlink(missing_ok=True)
        if cache.is_dir():
            for static in cache.glob(f"{graph.stem}-*"):
                static.unlink(missing_ok=True)


def _open(
    spec: ModelSpec,
    path: Path,
    *,
    threads: int | None,
    fetch: bool,
    backend: str,
    choose_for: int | None = None,
    precisions: Precisions = ("auto", "fp16"),
) -> tuple[AnySession, Selection | None]:
    directory = path.parent
    if spec.source is not None:
        if fetch and (spec.pinned or not path.is_file()):
            path = acquire.fetch(spec, directory)
        elif not acquire.is_verified(path, spec):
            raise ModelUnavailableError(
                f"Model {spec.name} is not in {directory}; run `alphamatte model fetch`."
            )
    elif spec.sha256 is not None and not acquire.is_verified(path, spec):
        raise ModelUnavailableError(
            f"Model {spec.name}: {path} is missing or does not match its sha256; import it again."
        )
    if spec.input.side > HARD_MAX_SIDE and not spec.input.dynamic:
        raise ModelUnavailableError(
            f"Model {spec.name} runs at {spec.input.side}²; the engine never runs a model above "
            f"{HARD_MAX_SIDE} px (docs/models.md)."
        )
    requested = requested_backend(backend)
    selection = choose_runtime(
        spec, path, requested, threads=choose_for or threads, precisions=precisions
    )
    candidate = selection.candidate
    try:
        runtime_graph(spec, path, candidate)
    except Exception as exc:  # e.g. no memory for int8 calibration: fp32 still serves
        if candidate.precision != "int8":
            raise
        log.warning("int8 graph not built (%s); running the fp32 graph", exc)
        candidate = Candidate(candidate.backend, "f32")
    return open_candidate(spec, path, candidate, threads=threads), selection


def open_candidate(
    spec: ModelSpec, path: Path, candidate: Candidate, *, threads: int | None = None
) -> AnySession:
    """A session of ``candidate`` on its graph (built first if needed)."""
    return open_session(
        runtime_graph(spec, path, candidate),
        threads=threads,
        dynamic=spec.any_size,
        backend=candidate.backend,
        precision=candidate.precision,
    )


def runtime_graph(spec: ModelSpec, path: Path, candidate: Candidate) -> Path:
    """The graph ``candidate`` opens, built once and cached beside ``path``. IS-Net's export:
    rewritten (any size, one output), fp16 maths for a GPU's fp16, the QDQ graph for int8,
    else fp32. Any other graph: its contract's output kept, fp16 weights widened
    (``prepare_generic``)."""
    if not spec.preparation.rewrite:
        return prepare_generic(path, spec.output.output)
    graph = prepare(path, half=candidate.precision == "fp16")
    if candidate.precision == "int8":
        return quantize(graph, spec)
    return graph


def choose_runtime(
    spec: ModelSpec,
    path: Path,
    requested: str,
    *,
    threads: int | None = None,
    precisions: Precisions = ("auto", "fp16"),
) -> Selection:
    """Which backend and precision run ``spec`` here (see :mod:`alphamatte.engine.selection`):
    the GPU when one is usable, a pin that leaves one candidate, else measured (and cached).
    ``precisions``: (CPU, GPU), as ``Settings.cpu_precision`` and ``gpu_precision``."""
    precision = checked_precision(precisions[0], CPU_PRECISIONS, "CPU")
    if precision == "int8" and not spec.preparation.int8:
        # One server pins int8 for its default and serves other models too: those have no
        # int8 graph (quantize.py fits IS-Net's), so they run in f32 rather than not at all.
        log.warning("%s has no int8 graph; ALPHAMATTE_CPU_PRECISION=int8 runs it in f32", spec.name)
        precision = "f32"
    if requested == "cuda" or (requested == "auto" and cuda_usable()):
        gpu = Candidate("cuda", checked_precision(precisions[1], GPU_PRECISIONS, "GPU"))
        return Selection(str(gpu), "an NVIDIA GPU is usable (ALPHAMATTE_GPU_PRECISION)")
    has_openvino = openvino_installed()
    capabilities = Capabilities(has_openvino, has_openvino and openvino_bf16(), cuda=False)
    candidates = pinned(runnable(capabilities), requested, precision)
    if not spec.preparation.int8:
        candidates = [c for c in candidates if c.precision != "int8"]
    if not candidates:
        raise BackendUnavailableError(
            f"ALPHAMATTE_BACKEND={requested} cannot compute in ALPHAMATTE_CPU_PRECISION="
            f"{precision} on this machine"
        )
    if len(candidates) == 1:
        return Selection(
            str(candidates[0]),
            f"pinned: the only candidate ALPHAMATTE_BACKEND={requested} and "
            f"ALPHAMATTE_CPU_PRECISION={precision} leave here",
        )
    threads = threads or default_threads()
    key = machine_key(spec.sha256 or acquire.sha256_of(path), threads, runtime_versions())

    def open_runner(candidate: Candidate) -> Runner:
        return open_candidate(spec, path, candidate, threads=threads).run

    # The precision budget shipped in precision_budget.json was measured for IS-Net against
    # ground truth; any other model is judged against its own f32 mattes on this machine
    # (the agreement check), so a precision it computes differently in is never picked.
    verdicts = None if spec.preparation.measured_budget else {str(c): True for c in candidates}
    return select(
        candidates,
        open_runner,
        lambda: timing_inputs(spec),
        key=key,
        cache=cache_path(path.parent, path.stem),
        verdicts=verdicts,
    )


def runtime_versions() -> dict[str, str]:
    import onnxruntime

    versions = {"onnxruntime": onnxruntime.__version__}
    if openvino_installed():
        import openvino

        versions["openvino"] = openvino.__version__
    return versions


def timing_inputs(spec: ModelSpec) -> list[np.ndarray]:
    """The canvases candidates are timed on: bundled photos stretched to each side of
    :data:`~alphamatte.engine.selection.CANVASES`, normalised as the model expects."""
    photos = calibration_photos()
    sides = CANVASES if spec.any_size else (spec.input.side,) * len(CANVASES)
    return [
        normalise(resize_image(photos[i % len(photos)], side, side)[None], spec)
        for i, side in enumerate(sides)
    ]


@contextmanager
def preparation_lock(directory: Path) -> Iterator[None]:
    """One process at a time prepares a model directory (graph rewrites, the int8 build, the
    backend measurement): replicas that start together on a shared directory wait for the
    first, then find every file written. A directory we cannot write to (a read-only volume,
    prepared in advance) is read without the lock."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(directory / ".prepare.lock")
        lock.acquire()
    except OSError as exc:
        log.info("model directory %s not lockable (%s); reading it as it is", directory, exc)
        yield
        return
    try:
        yield
    finally:
        lock.release()


_load_lock = threading.Lock()


def load_matter(
    model: str = DEFAULT_MODEL,
    *,
    config: MattingConfig | None = None,
    directory: Path,
    threads: int | None = None,
    fetch: bool = True,
    backend: str = "auto",
    batch: BatchPolicy | None = None,
    choose_for: int | None = None,
    precisions: Precisions = ("auto", "fp16"),
) -> Matter:
    """Open the model once. A file that ONNX Runtime cannot load is re-acquired once.

    ``backend`` and ``precisions`` (CPU, GPU) are ``Settings``' (``alphamatte.runtime`` passes
    them): the engine reads no environment variable of its own.

    ``choose_for``: the thread count ``auto`` picks the backend for, when the session runs
    with fewer (bulk jobs run one-thread sessions side by side, yet must write what the
    node's own all-core choice writes); unset, ``threads``.

    On a GPU, ``batch`` (when it allows more than one image) puts a :class:`MicroBatcher` in
    front of the session so that concurrent callers share runs.
    """
    with _load_lock, preparation_lock(directory):
        spec, path = resolve_spec(model, directory)
        try:
            session, selection = _open(
                spec,
                path,
                threads=threads,
                fetch=fetch,
                backend=backend,
                choose_for=choose_for,
                precisions=precisions,
            )
        except EngineError:
            raise
        except Exception as first:
            if spec.source is None:
                raise ModelUnavailableError(f"Cannot load model file {path}: {first}") from first
            # A derived graph that does not load is made again from the source when the
            # source still matches its sha256; a source that does not is acquired again.
            verified = acquire.is_verified(path, spec)
            again = "remaking its graphs" if verified else "acquiring it again"
            log.warning("model %s failed to load (%s); %s", spec.name, first, again)
            if not verified:
                path.unlink(missing_ok=True)
            _discard_derived(model, directory)
            try:
                session, selection = _open(
                    spec,
                    path,
                    threads=threads,
                    fetch=fetch or not verified,
                    backend=backend,
                    choose_for=choose_for,
                    precisions=precisions,
                )
            except Exception as second:
                raise ModelUnavailableError(
                    f"Model {spec.name} failed to load twice: {second}"
                ) from second
    if batch is not None and batch.max_batch > 1 and on_gpu(session):
        batcher = MicroBatcher(session, batch)
        matter = Matter(batcher, spec, config, selection=selection)
        for side in matter.canvas_sides():
            batcher.warm(side, side)
        return matter
    return Matter(session, spec, config, selection=selection)
