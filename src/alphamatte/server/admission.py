"""Admission by memory: a request starts only when its pixels fit in what is left.

A 49 MP cutout needs about a gigabyte while it is decoded, matted, decontaminated and encoded;
six of them at once took a server from 0.8 to 5.3 GB. Counting requests cannot bound that, so
each one reserves its decoded pixel cost (measured per product by ``benchmarks/memory.py``)
before it decodes, waits a bounded time for room, and is otherwise refused with 503 and
Retry-After. Nothing is charged for a refusal: admission comes before the credit reservation.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from alphamatte.server.executor import QueueFullError

# Peak bytes per input pixel above a warmed-up server (model arena already allocated), measured
# on a 49 MP photo with the real model: 22.9 for a matte, 28.6 for a cutout (the decoded RGB,
# its Lanczos proxy, the float matte and its guided-upscale strips, the RGBA cutout,
# decontamination and the PNG), rounded up.
BYTES_PER_PIXEL = {"alpha": 24, "cutout": 30}
MB = 1024 * 1024
# A background image (remove.bg's bg_image_*): per pixel of it, Pillow's decode (4 bytes), the
# RGB array (3) and an upright copy when it is rotated (3); per pixel of the result, the
# background scaled to cover it (Pillow's 4 and the array's 3) and the blended colours (3).
# Float blending runs in bands of rows. A 49 MP photo at size=full (25 MP) on a 49 MP
# background measured 2,053 MB above idle (benchmarks/memory.py --background); this counts
# 1,470 + 490 + 250 = 2,210 MB.
BACKGROUND_BYTES_PER_PIXEL = 10
COVERED_BYTES_PER_PIXEL = 10


def background_cost(background: tuple[int, int], result: tuple[int, int]) -> int:
    """Bytes to decode a ``background`` (width, height) and put a ``result``-sized subject on
    it, on top of the photo's own cost."""
    return (
        background[0] * background[1] * BACKGROUND_BYTES_PER_PIXEL
        + result[0] * result[1] * COVERED_BYTES_PER_PIXEL
    )


# After a request this large, the C heap's free pages go back to the system before the next
# one is admitted. glibc keeps what a worker thread freed in that thread's arena (and raises
# its mmap threshold after large frees), so two 49 MP requests in a row, each admitted alone,
# measured 2,495 MB above idle against 2,053 for one; with a trim between them, see
# docs/removebg.md.
TRIM_ABOVE = 256 * MB


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``)."""
    if _TRIM is not None:
        _TRIM(0)


class OverBudgetError(ValueError):
    """One request alone needs more memory than the whole budget."""


def default_budget_mb() -> int:
    """Half of the memory this process may use (the cgroup limit in a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = Path("/sys/fs/cgroup/memory.max")
    try:
        text = limit.read_text().strip()
        if text != "max":
            total = min(total, int(text))
    except (OSError, ValueError):
        pass
    return max(256, total // 2 // MB)


class MemoryBudget:
    """Bytes handed out to running requests, never more than ``budget_bytes`` at once."""

    def __init__(self, budget_bytes: int, *, wait_s: float, max_waiting: int) -> None:
        self.budget = budget_bytes
        self.wait_s = wait_s
        self.max_waiting = max_waiting
        self.in_use = 0
        self.peak = 0
        self._waiting = 0
        self._changed = asyncio.Condition()

    @staticmethod
    def cost(width: int, height: int, product: str) -> int:
        return width * height * BYTES_PER_PIXEL[product]

    @asynccontextmanager
    async def admit(self, cost: int, *, wait_s: float | None = None) -> AsyncIterator[None]:
        """Hold ``cost`` bytes while the block runs, waiting at most ``wait_s`` (unset: the
        budget's own) for room; 503 (QueueFullError) after that."""
        if cost > self.budget:
            raise OverBudgetError(
                f"This image needs about {cost // MB} MB to process; the server's memory "
                f"budget is {self.budget // MB} MB. Send a smaller image."
            )
        async with self._changed:
            if self.in_use + cost > self.budget:
                if self._waiting >= self.max_waiting:
                    raise QueueFullError("The server is busy; retry shortly.")
                self._waiting += 1
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.in_use + cost <= self.budget),
                        self.wait_s if wait_s is None else max(0.0, wait_s),
                    )
                except TimeoutError:
                    raise QueueFullError("The server is busy; retry shortly.") from None
                finally:
                    self._waiting -= 1
            self.in_use += cost
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            if cost >= TRIM_ABOVE:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(release_free_memory)
            async with self._changed:
                self.in_use -= cost
                self._changed.notify_all()
