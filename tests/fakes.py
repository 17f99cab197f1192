"""A fake model session: a bright-pixel detector with the real session's interface."""

from __future__ import annotations

import threading

import numpy as np

from alphamatte.engine.runtimes.session import BaseSession


class FakeSession(BaseSession):
    """Marks pixels whose mean normalised value is above 0.2 as foreground."""

    def __init__(self, *, dynamic: bool = True) -> None:
        self._dynamic = dynamic
        self.calls: list[tuple[int, ...]] = []
        self._lock = threading.Lock()

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            self.calls.append(tuple(batch.shape))
        bright = batch.mean(axis=1, keepdims=True) > 0.2
        return bright.astype(np.float32)
