"""Micro-batching: concurrent inferences of the same shape run as one batch on a GPU.

A GPU runs a batch of N canvases in much less than N times one canvas, but a request carries one
photo. :class:`MicroBatcher` sits in front of a :class:`~alphamatte.engine.session.Session`:
callers block in :meth:`run` as before, while one worker thread takes the oldest waiting canvas,
waits at most ``max_wait_s`` for more of the same shape (up to ``max_batch`` images in all),
runs them together and hands each caller its own slice. On a CPU the runtime already uses every
core for one canvas, so the server only puts this in front of a GPU session.

A run has one of a few batch sizes (powers of two up to ``max_batch``, and ``max_batch``): the
GPU runtime picks its kernels once per input shape, which costs 0.25-3 s, so a batcher that ran
whatever size happened to form would pay that again and again (measured on an H100: 8 clients
got 1.4 images/s instead of 88). Images beyond the largest allowed size that fits wait for the
next run, which starts at once. :meth:`MicroBatcher.warm` runs every size once at start-up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from alphamatte.engine.runtimes.session import RuntimeInfo, Session


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int = 8  # images per run
    max_wait_s: float = 0.005  # how long the first image waits for company

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")

    @property
    def sizes(self) -> tuple[int, ...]:
        """The batch sizes a run may have: 1, 2, 4, ... up to ``max_batch``, and ``max_batch``."""
        powers = {1 << k for k in range(self.max_batch.bit_length()) if 1 << k <= self.max_batch}
        return tuple(sorted(powers | {self.max_batch}))


@dataclass(eq=False)  # compared by identity: the queue removes exactly this request
class _Pending:
    batch: np.ndarray
    result: Future[np.ndarray] = field(default_factory=Future)


class MicroBatcher:
    """A :class:`Session` that groups concurrent ``run`` calls of one input shape."""

    def __init__(self, inner: Session, policy: BatchPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or BatchPolicy()
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.batches_run = 0  # for tests and benchmarks: how many inner runs happened
        self._worker = threading.Thread(target=self._serve, name="alphamatte-batcher", daemon=True)
        self._worker.start()

    @property
    def dynamic_size(self) -> bool:
        return self.inner.dynamic_size

    def run(self, batch: np.ndarray) -> np.ndarray:
        pending = _Pending(batch)
        with self._ready:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append(pending)
            self._ready.notify_all()
        return pending.result.result()

    def warm(self, height: int, width: int) -> None:
        """Run every allowed batch size once on a blank canvas of this size, so that the first
        requests do not pay for the runtime's kernel choice."""
        for size in self.policy.sizes:
            self.inner.run(np.zeros((size, 3, height, width), dtype=np.float32))

    @property
    def on_gpu(self) -> bool:
        return self.inner.on_gpu

    def compile_for(self, shape: tuple[int, ...]) -> None:
        self.inner.compile_for(shape)

    def info(self) -> RuntimeInfo:
        return self.inner.info()

    def close(self) -> None:
        """Stop taking runs, fail what waits, and close the runtime behind."""
        self.stop()
        self.inner.close()

    def stop(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._worker.join()

    def _fail_all(self, exc: BaseException) -> None:
        with self._ready:
            self._closed = True
            while self._queue:
                self._queue.popleft().result.set_exception(exc)

    def _take(self) -> list[_Pending] | None:
        """The next group: the oldest request plus same-shaped ones that arrive in time."""
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            first = self._queue.popleft()
            group = [first]
            images = len(first.batch)
            deadline = time.monotonic() + self.policy.max_wait_s
            while images < self.policy.max_batch:
                for item in list(self._queue):
                    if images >= self.policy.max_batch:
                        break
                    if item.batch.shape[1:] == first.batch.shape[1:]:
                        if images + len(item.batch) > self.policy.max_batch:
                            continue
                        self._queue.remove(item)
                        group.append(item)
                        images += len(item.batch)
                left = deadline - time.monotonic()
                if images >= self.policy.max_batch or left <= 0 or self._closed:
                    break
                self._ready.wait(left)
            allowed = self.policy.sizes
            while len(group) > 1 and images not in allowed:  # the rest goes first next time
                extra = group.pop()
                images -= len(extra.batch)
                self._queue.appendleft(extra)
            return group

    def _serve(self) -> None:
        while True:
            try:
                group = self._take()
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                self._fail_all(exc)
                raise
            if group is None:
                return
            try:
                joined = (
                    group[0].batch
                    if len(group) == 1
                    else np.concatenate([item.batch for item in group])
                )
                out = self.inner.run(joined)
                self.batches_run += 1
            except BaseException as exc:  # every caller of this group sees the failure
                for item in group:
                    item.result.set_exception(exc)
                continue
            start = 0
            for item in group:
                stop = start + len(item.batch)
                item.result.set_result(out[start:stop])
                start = stop
