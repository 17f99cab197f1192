"""The model runtime behind a small protocol, so tests can swap in a fake."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class Session(Protocol):
    """Runs the network: NCHW float32 in, N1HW float32 matte logits-after-sigmoid out."""

    @property
    def dynamic_size(self) -> bool:
        """True when the graph accepts any H×W (multiple of 32), not only its trained square."""
        ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def default_threads() -> int:
    """All cores for one inference: two concurrent runs on a small machine are slower."""
    configured = os.environ.get("ALPHAMATTE_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class OrtSession:
    """ONNX Runtime on the CPU, created once and shared; runs are serialised by a lock."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int | None = None,
        dynamic: bool,
        providers: Sequence[str | tuple[str, dict[str, object]]] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime as ort  # deferred: `import alphamatte` must stay light

        options = ort.SessionOptions()
        # intra-op threads = cores: the convolutions parallelise well inside one run; inter-op
        # parallelism only makes branches fight for the same cores.
        self.threads = threads or default_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=list(providers)
        )
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self._dynamic = dynamic
        # One inference at a time per process: it already uses every core, and overlapping two
        # would only thrash caches while doubling peak memory.
        self._lock = threading.Lock()

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            outputs = self._session.run([self._output], {self._input: batch})
        result: np.ndarray = outputs[0]
        return result
