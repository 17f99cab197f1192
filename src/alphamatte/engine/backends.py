"""Which runtime runs the network: ONNX Runtime (CPU or CUDA) or OpenVINO (CPU), by rule.

``ALPHAMATTE_BACKEND=auto|onnxruntime|openvino|cuda``. ``auto`` picks CUDA when the ``gpu``
install (onnxruntime-gpu) finds an NVIDIA GPU; else OpenVINO where it is installed and the CPU
has bf16 units (AMX or AVX-512 BF16): there OpenVINO ran the same graph 2.0-2.4x faster than
ONNX Runtime at SAD parity. In f32, on CPUs without bf16, the two ran at the same speed (see
benchmarks/backends.py), so ONNX Runtime, the default install, stays, and runs the int8 graph
(``ALPHAMATTE_CPU_PRECISION``, engine/quantize.py): 1.8x its fp32 speed at SAD parity.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from alphamatte.engine.session import OrtSession, PerShapeSession, default_threads

Backend = Literal["auto", "onnxruntime", "openvino", "cuda"]
BACKENDS: tuple[Backend, ...] = ("auto", "onnxruntime", "openvino", "cuda")
COMPILED_SHAPES = 4  # compiled models kept per session: the canvas sizes in use are few
# CUDA provider options. cudnn_conv_algo_search: how cuDNN picks a convolution algorithm for
# each new input shape. On an H100 HEURISTIC ran as fast as EXHAUSTIVE (fp16 batch 1 10.9 vs
# 10.8 ms, batch 8 45.0 vs 45.7 ms; f32 faster) and took 0.25-0.76 s per new shape instead of
# 1.0-3.0 s.
CUDA_OPTIONS: dict[str, object] = {"cudnn_conv_algo_search": "HEURISTIC"}


class BackendUnavailableError(RuntimeError):
    """The backend asked for is not installed or cannot run here."""


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


def _openvino_bf16() -> bool:
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


def _precision(variable: str, choices: tuple[str, ...], device: str) -> str:
    """``variable`` from the environment, lower-cased; the first choice when unset."""
    name = os.environ.get(variable, choices[0]).lower()
    if name not in choices:
        raise BackendUnavailableError(
            f"Unknown {device} precision {name!r}; choose {' or '.join(choices)}."
        )
    return name


def gpu_half() -> bool:
    """Whether a GPU runs the published fp16 maths (``ALPHAMATTE_GPU_PRECISION=fp16``, the
    default) or the widened fp32 graph (``f32``)."""
    return _precision("ALPHAMATTE_GPU_PRECISION", ("fp16", "f32"), "GPU") == "fp16"


def cpu_int8() -> bool:
    """Whether ONNX Runtime on a CPU runs the int8 graph (``ALPHAMATTE_CPU_PRECISION=int8``, the
    default) or the prepared fp32 one (``f32``)."""
    return _precision("ALPHAMATTE_CPU_PRECISION", ("int8", "f32"), "CPU") == "int8"


def choose(requested: str | None = None) -> Backend:
    """The backend ``auto`` (or ``ALPHAMATTE_BACKEND``) resolves to on this machine."""
    name = (requested or os.environ.get("ALPHAMATTE_BACKEND") or "auto").lower()
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
    if name == "auto":
        if cuda_usable():
            return "cuda"
        return "openvino" if openvino_installed() and _openvino_bf16() else "onnxruntime"
    return name


class OpenVinoSession:
    """OpenVINO on the CPU: bf16 where the CPU has it, f32 elsewhere; one compiled model per
    input shape (static shapes compile to faster kernels than one dynamic model)."""

    def __init__(self, model_path: Path, *, threads: int | None = None, dynamic: bool) -> None:
        import openvino as ov  # deferred: an optional extra

        self._core = ov.Core()
        self._model = self._core.read_model(str(model_path))
        self._threads = threads or default_threads()
        self.precision = "bf16" if _openvino_bf16() else "f32"
        self._config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self._threads,
            "INFERENCE_PRECISION_HINT": self.precision,
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
            model = self._model.clone()
            model.reshape({model.inputs[0].any_name: list(shape)})
            compiled = self._core.compile_model(model, "CPU", self._config)
            if len(self._compiled) >= COMPILED_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[shape] = compiled
        return compiled

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
    backend: str | None = None,
    half: bool = False,
    precision: str = "f32",
) -> AnySession:
    """``half``: ``path`` computes in fp16 (only a GPU is given such a graph); ``precision``:
    what an ONNX Runtime CPU session's graph computes in, for :func:`describe`."""
    chosen = choose(backend)
    if chosen == "cuda":
        return CudaSession(path, dynamic=dynamic, half=half)
    if chosen == "openvino":
        return OpenVinoSession(path, threads=threads, dynamic=dynamic)
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
