"""One bounded executor: the only place model work runs, with back-pressure instead of queues
that grow without limit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFullError(RuntimeError):
    """More work is waiting than the server accepts; the caller should retry later."""


class BoundedExecutor:
    """A thread pool that refuses work beyond ``max_pending`` queued or running jobs.

    A few workers let decoding, resizing and encoding of one request overlap with another's
    inference; the session's own lock keeps inference itself one at a time.
    """

    def __init__(self, workers: int, max_pending: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alphamatte")
        self._slots = threading.BoundedSemaphore(max_pending)

    async def run(self, func: Callable[[], T]) -> T:
        if not self._slots.acquire(blocking=False):
            raise QueueFullError("The server is busy; retry shortly.")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, func)
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
