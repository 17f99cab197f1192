"""Build a ready :class:`Matter` from a model name: acquire, verify, prepare, open."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from alphamatte.engine import acquire
from alphamatte.engine.backends import (
    AnySession,
    BackendUnavailableError,
    choose,
    cpu_int8,
    gpu_half,
    on_gpu,
    open_session,
)
from alphamatte.engine.batching import BatchPolicy, MicroBatcher
from alphamatte.engine.cache import confined_model_path, models_dir
from alphamatte.engine.matting import Matter, MattingConfig
from alphamatte.engine.prepare import prepare, prepared_path, quantized_path
from alphamatte.engine.quantize import quantize
from alphamatte.engine.registry import DEFAULT_MODEL, ISNET, REGISTRY, ModelSpec, custom_model

log = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """The model is missing or broken and could not be (re)acquired."""


def resolve_spec(model: str, directory: Path) -> tuple[ModelSpec, Path]:
    """A registry name, or an ``.onnx`` path confined to the model cache."""
    if model in REGISTRY:
        spec = REGISTRY[model]
        return spec, directory / spec.filename
    path = confined_model_path(model, directory)
    return custom_model(path.name), path


def _has_dynamic_input(path: Path) -> bool:
    import onnx  # deferred: heavy

    model = onnx.load(str(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return len(dims) == 4 and not (dims[2].HasField("dim_value") and dims[3].HasField("dim_value"))


def _open(
    spec: ModelSpec, path: Path, *, threads: int | None, fetch: bool, backend: str | None
) -> AnySession:
    directory = path.parent
    if spec.source is not None:
        if fetch:
            path = acquire.fetch(spec, directory)
        elif not acquire.is_verified(path, spec):
            raise ModelUnavailableError(
                f"Model {spec.name} is not in {directory}; run `alphamatte model fetch`."
            )
    if spec.name == ISNET.name:
        chosen = choose(backend)
        graph, precision = runtime_graph(spec, path, chosen)
        return open_session(
            graph,
            threads=threads,
            dynamic=True,
            backend=chosen,
            half=precision == "fp16",
            precision=precision,
        )
    return open_session(path, threads=threads, dynamic=_has_dynamic_input(path), backend=backend)


def runtime_graph(spec: ModelSpec, path: Path, backend: str) -> tuple[Path, str]:
    """The rewritten IS-Net graph ``backend`` opens (built once, cached beside ``path``), and
    what it computes in: fp16 on a GPU by default, int8 for ONNX Runtime on a CPU by default,
    else f32."""
    half = backend == "cuda" and gpu_half()
    graph = prepare(path, half=half)
    if backend != "onnxruntime" or not cpu_int8():
        return graph, "fp16" if half else "f32"
    try:
        return quantize(graph, spec), "int8"
    except Exception as exc:  # e.g. no memory for calibration: fp32 still serves
        log.warning("int8 graph not built (%s); running the fp32 graph", exc)
        return graph, "f32"


_load_lock = threading.Lock()


def load_matter(
    model: str = DEFAULT_MODEL,
    *,
    config: MattingConfig | None = None,
    directory: Path | None = None,
    threads: int | None = None,
    fetch: bool = True,
    backend: str | None = None,
    batch: BatchPolicy | None = None,
) -> Matter:
    """Open the model once. A file that ONNX Runtime cannot load is re-acquired once.

    On a GPU, ``batch`` (when it allows more than one image) puts a :class:`MicroBatcher` in
    front of the session so that concurrent callers share runs.
    """
    directory = directory or models_dir()
    with _load_lock:
        spec, path = resolve_spec(model, directory)
        try:
            session = _open(spec, path, threads=threads, fetch=fetch, backend=backend)
        except (acquire.ModelFetchError, ModelUnavailableError, BackendUnavailableError):
            raise
        except Exception as first:
            if spec.source is None:
                raise ModelUnavailableError(f"Cannot load model file {path}: {first}") from first
            log.warning("model %s failed to load (%s); acquiring it again", spec.name, first)
            path.unlink(missing_ok=True)
            for half in (False, True):
                prepared_path(path, half=half).unlink(missing_ok=True)
            quantized_path(prepared_path(path)).unlink(missing_ok=True)
            try:
                session = _open(spec, path, threads=threads, fetch=True, backend=backend)
            except Exception as second:
                raise ModelUnavailableError(
                    f"Model {spec.name} failed to load twice: {second}"
                ) from second
    if batch is not None and batch.max_batch > 1 and on_gpu(session):
        batcher = MicroBatcher(session, batch)
        matter = Matter(batcher, spec, config)
        for side in matter.canvas_sides():
            batcher.warm(side, side)
        return matter
    return Matter(session, spec, config)
