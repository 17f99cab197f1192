"""The one protocol every runtime implements, and what they share.

A runtime session runs the network (NCHW or NHWC float32 in, the graph's outputs out), may
compile ahead for a shape, frees its memory when closed, and says what it runs on. The three
runtimes sit side by side: ``ort.py`` (ONNX Runtime on the CPU), ``openvino.py``, ``cuda.py``
(ONNX Runtime on an NVIDIA GPU); ``inference/batching.py``'s MicroBatcher wraps any of them.
A new runtime is a module here with a :class:`BaseSession` subclass, and a line in
``backends.open_session``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RuntimeInfo:
    backend: str
    device: str
    precision: str
    threads: int
    version: str


class Session(Protocol):
    """Runs the network, one batch at a time."""

    @property
    def dynamic_size(self) -> bool:
        """True when the graph accepts any H×W (multiple of 32), not only its trained square."""
        ...

    @property
    def on_gpu(self) -> bool:
        """Whether it runs on a GPU (the loader puts a micro-batcher in front of those)."""
        ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def compile_for(self, shape: tuple[int, ...]) -> None:
        """Ready the kernels for ``shape`` now rather than at its first run."""
        ...

    def close(self) -> None:
        """Free what the runtime holds; the session is not used again."""
        ...

    def info(self) -> RuntimeInfo:
        """What it runs on: backend, device, precision, threads, runtime version."""
        ...


class BaseSession:
    """Defaults for the parts of :class:`Session` that most runtimes (and test fakes) need not
    do: nothing to compile ahead, nothing to free, not on a GPU."""

    @property
    def on_gpu(self) -> bool:
        return False

    def compile_for(self, shape: tuple[int, ...]) -> None:
        return None

    def close(self) -> None:
        return None

    def info(self) -> RuntimeInfo:
        return RuntimeInfo(type(self).__name__, "CPU", "f32", 0, "")


def default_threads() -> int:
    """All cores for one inference: two concurrent runs on a small machine are slower
    (``Settings.threads`` overrides it)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
