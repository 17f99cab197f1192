"""OpenVINO on the CPU (f32, bf16 where the CPU has it, int8 from the QDQ graph)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.runtimes.session import BaseSession, RuntimeInfo, default_threads

COMPILED_SHAPES = 4  # compiled models kept per session: the canvas sizes in use are few


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_bf16() -> bool:
    """OpenVINO says this CPU computes bf16 natively (AMX or AVX-512 BF16)."""
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "BF16" in capabilities


# OpenVINO switches the process's C locale to "C" while it reads, writes or compiles a graph
# and then restores the one it saw. Two of those at once (two models loading on a server, a
# CLI's background load beside another) can restore "C" for good, and every later text
# decode in the process becomes ASCII. One at a time per process keeps the locale intact.
OPENVINO_LOCALE_LOCK = threading.Lock()


class OpenVinoSession(BaseSession):
    """OpenVINO on the CPU; one compiled model per input shape (static shapes compile to faster
    kernels than one dynamic model).

    ``precision``: ``f32``; ``bf16`` (the f32 graph computed in bf16, where the CPU has it); or
    ``int8`` (the QDQ graph, whose quantised parts OpenVINO runs in int8 and the rest, among
    it the logit head kept in fp32 on purpose, in f32)."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int | None = None,
        dynamic: bool,
        precision: str = "f32",
    ) -> None:
        import openvino as ov  # deferred: an optional extra

        if precision not in ("f32", "bf16", "int8"):
            raise BackendUnavailableError(f"OpenVINO has no {precision!r} precision here")
        if precision == "bf16" and not openvino_bf16():
            raise BackendUnavailableError("this CPU has no bf16 units (AMX or AVX-512 BF16)")
        self._core = ov.Core()
        self._path = model_path
        self._cache: Path | None = model_path.parent / "openvino-cache"
        if os.access(model_path.parent, os.W_OK):
            # Compiled kernels kept on disk, per input shape, with the static-shape graph they
            # came from: a start then compiles from a file path (hashed by name and date, not
            # by content) straight out of the cache. For the int8 IS-Net at 1024² that is
            # 0.20 s against 0.49 s to read, reshape and hash the graph first (2-core EPYC).
            self._core.set_property({"CACHE_DIR": str(self._cache)})
        else:
            self._cache = None
        self._model: object | None = None  # read only when a shape has no cached graph
        self._threads = threads or default_threads()
        self.precision = precision
        self._config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self._threads,
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        }
        self._compiled: dict[tuple[int, ...], object] = {}
        self._dynamic = dynamic
        self._lock = threading.Lock()
        self.version = ov.__version__.split("-")[0]

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic

    def _for_shape(self, shape: tuple[int, ...]) -> object:
        compiled = self._compiled.get(shape)
        if compiled is None:
            with OPENVINO_LOCALE_LOCK:
                graph = self._static_graph(shape)
                compiled = self._core.compile_model(graph, "CPU", self._config)
            if len(self._compiled) >= COMPILED_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[shape] = compiled
        return compiled

    def _static_graph(self, shape: tuple[int, ...]) -> object:
        """The graph reshaped to ``shape``: a file in the cache (written once), else a model."""
        import openvino as ov

        stat = self._path.stat()
        dims = "x".join(map(str, shape))
        name = f"{self._path.stem}-{stat.st_size}-{int(stat.st_mtime)}-{dims}.xml"
        static = self._cache / name if self._cache is not None else None
        if static is not None and static.is_file():
            return str(static)
        if self._model is None:
            self._model = self._core.read_model(str(self._path))
        model = self._model.clone()  # type: ignore[union-attr]
        model.reshape({model.inputs[0].any_name: list(shape)})
        if static is None:
            return model
        static.parent.mkdir(parents=True, exist_ok=True)
        partial = static.with_name(f".{static.stem}.{os.getpid()}.xml")
        ov.save_model(model, str(partial), compress_to_fp16=False)
        os.replace(partial.with_suffix(".bin"), static.with_suffix(".bin"))
        os.replace(partial, static)
        return str(static)

    def compile_for(self, shape: tuple[int, ...]) -> None:
        """Compile (or read from the cache) the model for ``shape`` now, not at its first run."""
        with self._lock:
            self._for_shape(shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            compiled = self._for_shape(tuple(batch.shape))
            result = compiled(np.ascontiguousarray(batch, np.float32))  # type: ignore[operator]
            out: np.ndarray = np.array(result[0], dtype=np.float32)
        return out

    def info(self) -> RuntimeInfo:
        return RuntimeInfo("openvino", "CPU", self.precision, self._threads, self.version)
