"""The runtimes that run the network: ONNX Runtime (CPU or CUDA) and OpenVINO (CPU).

Which one runs, and in which precision, is chosen per machine by measurement
(:mod:`alphamatte.engine.selection`), or pinned with ``ALPHAMATTE_BACKEND=auto|onnxruntime|
openvino|cuda`` and ``ALPHAMATTE_CPU_PRECISION=auto|f32|int8|bf16``. A usable NVIDIA GPU (the
``gpu`` install finds one) is taken whenever ``auto`` is asked for.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.runtimes.session import OrtSession, PerShapeSession, default_threads

Backend = Literal["auto", "onnxruntime", "openvino", "cuda"]
BACKENDS: tuple[Backend, ...] = ("auto", "onnxruntime", "openvino", "cuda")
COMPILED_SHAPES = 4  # compiled models kept per session: the canvas sizes in use are few
# CUDA provider options. cudnn_conv_algo_search: how cuDNN picks a convolution algorithm for
# each new input shape. On an H100 HEURISTIC ran as fast as EXHAUSTIVE (fp16 batch 1 10.9 vs
# 10.8 ms, batch 8 45.0 vs 45.7 ms; f32 faster) and took 0.25-0.76 s per new shape instead of
# 1.0-3.0 s.
CUDA_OPTIONS: dict[str, object] = {"cudnn_conv_algo_search": "HEURISTIC"}


@dataclass(frozen=True)
class RuntimeInfo:
    backend: str
    device: str
    precision: str
    threads: int
    version: str


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


def _ort_providers() -> list[str]:
    import onnxruntime as ort

    providers: list[str] = ort.get_available_providers()
    return providers


def gpu_present() -> bool:
    """An NVIDIA device node is there (the driver is loaded and the GPU is visible to us)."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def cuda_usable() -> bool:
    """onnxruntime-gpu is installed and an NVIDIA GPU is visible."""
    try:
        return "CUDAExecutionProvider" in _ort_providers() and gpu_present()
    except ImportError:
        return False


GPU_PRECISIONS = ("fp16", "f32")
CPU_PRECISIONS = ("auto", "f32", "int8", "bf16")


def checked_precision(value: str, choices: tuple[str, ...], device: str) -> str:
    """``value`` lower-cased, refused unless it is one of ``choices``."""
    name = value.lower()
    if name not in choices:
        raise BackendUnavailableError(
            f"Unknown {device} precision {name!r}; choose {' or '.join(choices)}."
        )
    return name


def requested_backend(requested: str = "auto") -> Backend:
    """The backend asked for (``Settings.backend``), checked to be installed and usable here;
    ``auto`` stays ``auto``."""
    name = requested.lower()
    if name not in BACKENDS:
        raise BackendUnavailableError(
            f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}."
        )
    if name == "openvino" and not openvino_installed():
        raise BackendUnavailableError(
            "ALPHAMATTE_BACKEND=openvino needs OpenVINO: pip install 'alphamatte[openvino]'"
        )
    if name == "cuda" and not cuda_usable():
        raise BackendUnavailableError(
            "ALPHAMATTE_BACKEND=cuda needs an NVIDIA GPU and onnxruntime-gpu: "
            "pip install 'alphamatte[gpu]' (instead of [server] or [local])"
        )
    return name


# OpenVINO switches the process's C locale to "C" while it reads, writes or compiles a graph
# and then restores the one it saw. Two of those at once (two models loading on a server, a
# CLI's background load beside another) can restore "C" for good, and every later text
# decode in the process becomes ASCII. One at a time per process keeps the locale intact.
OPENVINO_LOCALE_LOCK = threading.Lock()


class OpenVinoSession:
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


def _tensorrt_loads() -> bool:
    """onnxruntime-gpu lists TensorRT whether or not its libraries are installed; asking for it
    without them makes ONNX Runtime drop every provider option while it falls back."""
    import ctypes

    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


class CudaSession(PerShapeSession):
    """ONNX Runtime on an NVIDIA GPU: TensorRT (fp16, engines cached on disk) when onnxruntime
    was built with it and its libraries load, else the CUDA provider, in the precision of the
    graph it is given (the loader passes the fp16 one unless ``ALPHAMATTE_GPU_PRECISION=f32``).
    Runs whole batches; :mod:`alphamatte.engine.batching` groups concurrent requests into them.
    One ONNX Runtime session per input shape (see :class:`PerShapeSession`)."""

    def __init__(
        self,
        model_path: Path,
        *,
        dynamic: bool,
        half: bool = False,
        device_id: int = 0,
    ) -> None:
        import onnxruntime as ort

        cuda = {"device_id": device_id, **CUDA_OPTIONS}
        providers: list[str | tuple[str, dict[str, object]]] = [
            ("CUDAExecutionProvider", cuda),
            "CPUExecutionProvider",
        ]
        if "TensorrtExecutionProvider" in ort.get_available_providers() and _tensorrt_loads():
            trt = {
                "device_id": device_id,
                "trt_fp16_enable": True,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(model_path.parent / "tensorrt"),
            }
            providers.insert(0, ("TensorrtExecutionProvider", trt))
        super().__init__(model_path, threads=1, dynamic=dynamic, providers=providers)
        active = self._session.get_providers()
        if "CUDAExecutionProvider" not in active:  # ONNX Runtime fell back to the CPU quietly
            raise BackendUnavailableError(
                f"CUDA did not start on this machine (providers: {active})"
            )
        self.provider = active[0]
        trt = self.provider == "TensorrtExecutionProvider"
        self.precision = "fp16" if trt or half else "f32"
        self.version = ort.__version__
        self.device_id = device_id

    def info(self) -> RuntimeInfo:
        name = "tensorrt" if self.provider == "TensorrtExecutionProvider" else "cuda"
        return RuntimeInfo(name, f"GPU {self.device_id}", self.precision, 0, self.version)


AnySession = OrtSession | OpenVinoSession | CudaSession


def open_session(
    path: Path,
    *,
    dynamic: bool,
    threads: int | None,
    backend: str,
    precision: str = "f32",
) -> AnySession:
    """A session of ``backend`` (resolved: not ``auto``) on the graph at ``path``, which computes
    in ``precision`` (fp16 only on a GPU; int8 is the QDQ graph)."""
    if backend == "cuda":
        return CudaSession(path, dynamic=dynamic, half=precision == "fp16")
    if backend == "openvino":
        return OpenVinoSession(path, threads=threads, dynamic=dynamic, precision=precision)
    return OrtSession(path, threads=threads, dynamic=dynamic, precision=precision)


def _unwrapped(session: object) -> object:
    """The runtime session itself, also when a MicroBatcher stands in front of it."""
    inner = getattr(session, "inner", None)
    return session if inner is None else _unwrapped(inner)


def on_gpu(session: object) -> bool:
    """Whether this session (or the one behind its batcher) runs on a GPU."""
    return isinstance(_unwrapped(session), CudaSession)


def describe(session: object) -> RuntimeInfo:
    """What a session runs on, for `alphamatte info` and the server's start-up log."""
    session = _unwrapped(session)
    if isinstance(session, OpenVinoSession | CudaSession):
        return session.info()
    if isinstance(session, OrtSession):
        import onnxruntime as ort

        return RuntimeInfo(
            "onnxruntime", "CPU", session.precision, session.threads, ort.__version__
        )
    return RuntimeInfo(type(session).__name__, "?", "?", 0, "?")
