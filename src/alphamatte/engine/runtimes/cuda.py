"""ONNX Runtime on an NVIDIA GPU (CUDA, or TensorRT when its libraries load)."""

from __future__ import annotations

from pathlib import Path

from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.runtimes.ort import PerShapeSession
from alphamatte.engine.runtimes.session import RuntimeInfo

# CUDA provider options. cudnn_conv_algo_search: how cuDNN picks a convolution algorithm for
# each new input shape. On an H100 HEURISTIC ran as fast as EXHAUSTIVE (fp16 batch 1 10.9 vs
# 10.8 ms, batch 8 45.0 vs 45.7 ms; f32 faster) and took 0.25-0.76 s per new shape instead of
# 1.0-3.0 s.
CUDA_OPTIONS: dict[str, object] = {"cudnn_conv_algo_search": "HEURISTIC"}


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

    @property
    def on_gpu(self) -> bool:
        return True

    def info(self) -> RuntimeInfo:
        name = "tensorrt" if self.provider == "TensorrtExecutionProvider" else "cuda"
        return RuntimeInfo(name, f"GPU {self.device_id}", self.precision, 0, self.version)
