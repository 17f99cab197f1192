"""ONNX Runtime on the CPU: one session created once and shared, runs serialised by a lock;
and the per-shape variant the CUDA runtime builds on."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alphamatte.engine.runtimes.session import BaseSession, RuntimeInfo, default_threads

if TYPE_CHECKING:
    import onnxruntime as ort


class OrtSession(BaseSession):
    """ONNX Runtime on the CPU, created once and shared; runs are serialised by a lock."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int | None = None,
        dynamic: bool,
        providers: Sequence[str | tuple[str, dict[str, object]]] = ("CPUExecutionProvider",),
        precision: str = "f32",
    ) -> None:
        import onnxruntime as ort  # deferred: `import alphamatte` must stay light

        self.precision = precision  # what the graph at model_path computes in

        options = ort.SessionOptions()
        # intra-op threads = cores: the convolutions parallelise well inside one run; inter-op
        # parallelism only makes branches fight for the same cores.
        self.threads = threads or default_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._model_path = model_path
        self._options = options
        self._providers = list(providers)
        self._session = self._new_session()
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self._dynamic = dynamic
        # One inference at a time per process: it already uses every core, and overlapping two
        # would only thrash caches while doubling peak memory.
        self._lock = threading.Lock()

    def _new_session(self) -> ort.InferenceSession:
        import onnxruntime as ort

        return ort.InferenceSession(
            str(self._model_path), sess_options=self._options, providers=self._providers
        )

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            session = self._session_for(tuple(batch.shape))
            outputs = session.run([self._output], {self._input: batch})
        result: np.ndarray = outputs[0]
        return result

    def _session_for(self, shape: tuple[int, ...]) -> ort.InferenceSession:
        """The ONNX Runtime session that runs this input shape (called under the lock)."""
        return self._session

    def info(self) -> RuntimeInfo:
        import onnxruntime as ort

        return RuntimeInfo("onnxruntime", "CPU", self.precision, self.threads, ort.__version__)


class PerShapeSession(OrtSession):
    """One ONNX Runtime session per input shape, the least recently used dropped beyond
    ``max_shapes``. Since ONNX Runtime 1.20 the CUDA provider runs a shape that differs from the
    previous run's many times slower (upstream issue 23006): on an H100 a batch of 3-4 took
    150-360 ms when batch sizes alternated, against 25 ms alone, and ``best`` (1024² and 768²
    views in turn) took 3.1 s per photo against 0.05 s for ``fast``. A session that only ever
    sees one shape never switches."""

    def __init__(self, model_path: Path, *, max_shapes: int = 8, **options: Any) -> None:
        """``options``: :class:`OrtSession`'s."""
        super().__init__(model_path, **options)
        self.max_shapes = max_shapes
        self._by_shape: OrderedDict[tuple[int, ...], ort.InferenceSession] = OrderedDict()
        # The session opened at start (it proved that the provider works) serves the first shape.
        self._spare: ort.InferenceSession | None = self._session

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The shapes that have a session, least recently used first."""
        return list(self._by_shape)

    def _session_for(self, shape: tuple[int, ...]) -> ort.InferenceSession:
        session = self._by_shape.pop(shape, None)
        if session is None:
            session, self._spare = self._spare or self._new_session(), None
            if len(self._by_shape) >= self.max_shapes:
                self._by_shape.popitem(last=False)
        self._by_shape[shape] = session
        return session
