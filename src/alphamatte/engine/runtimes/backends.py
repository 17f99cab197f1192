"""The runtimes that run the network: ONNX Runtime (CPU or CUDA) and OpenVINO (CPU).

Which one runs, and in which precision, is chosen per machine by measurement
(:mod:`alphamatte.engine.runtimes.selection`), or pinned with ``ALPHAMATTE_BACKEND=auto|onnxruntime|
openvino|cuda`` and ``ALPHAMATTE_CPU_PRECISION=auto|f32|int8|bf16``. A usable NVIDIA GPU (the
``gpu`` install finds one) is taken whenever ``auto`` is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alphamatte.engine.errors import BackendUnavailableError
from alphamatte.engine.runtimes.cuda import CudaSession, cuda_usable
from alphamatte.engine.runtimes.openvino import OpenVinoSession, openvino_installed
from alphamatte.engine.runtimes.ort import OrtSession
from alphamatte.engine.runtimes.session import RuntimeInfo, Session

Backend = Literal["auto", "onnxruntime", "openvino", "cuda"]
BACKENDS: tuple[Backend, ...] = ("auto", "onnxruntime", "openvino", "cuda")
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


AnySession = OrtSession | OpenVinoSession | CudaSession  # what open_session returns


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


def on_gpu(session: Session) -> bool:
    """Whether this session (or the one behind its batcher) runs on a GPU."""
    return session.on_gpu


def describe(session: Session) -> RuntimeInfo:
    """What a session runs on, for `alphamatte info` and the server's start-up log."""
    return session.info()
