"""Micro-batching in front of a GPU session, exercised with a fake session on the CPU."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from alphamatte.config import default_models_dir
from alphamatte.engine import loader
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.batching import BatchPolicy, MicroBatcher
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.engine.loader import load_matter
from alphamatte.engine.runtimes.ort import OrtSession
from tests.fakes import FakeSession


class SlowSession(FakeSession):
    """A fake whose every run takes a while, as a GPU launch does, so that callers pile up."""

    def __init__(self, seconds: float = 0.05, fail_on: int | None = None) -> None:
        super().__init__()
        self.seconds = seconds
        self.fail_on = fail_on  # a marker value in the first pixel that makes the run fail

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.fail_on is not None and (batch[:, 0, 0, 0] == self.fail_on).any():
            raise RuntimeError("device lost")
        time.sleep(self.seconds)
        return super().run(batch)


def canvases(count: int, side: int = 64) -> list[np.ndarray]:
    """Distinct one-image batches: image i is bright in a stripe of its own."""
    out = []
    for i in range(count):
        batch = np.zeros((1, 3, side, side), np.float32)
        batch[0, :, :, i % side] = 1.0
        out.append(batch)
    return out


def run_concurrently(session: MicroBatcher, batches: list[np.ndarray]) -> list[np.ndarray]:
    start = threading.Barrier(len(batches))

    def call(batch: np.ndarray) -> np.ndarray:
        start.wait()
        return session.run(batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(call, batches))


def serve_at_once(count: int, policy: BatchPolicy) -> tuple[MicroBatcher, list[int]]:
    """``count`` one-image callers at once; each must get its own matte. Returns the batcher
    and the batch size of every run it made."""
    inner = SlowSession()
    batcher = MicroBatcher(inner, policy)
    batches = canvases(count)
    results = run_concurrently(batcher, batches)
    batcher.close()
    for batch, result in zip(batches, results, strict=True):
        assert result.shape == (1, 1, 64, 64)
        np.testing.assert_array_equal(result, FakeSession().run(batch))
    return batcher, [shape[0] for shape in inner.calls]


def test_concurrent_callers_share_runs_and_each_gets_its_own_matte() -> None:
    batcher, sizes = serve_at_once(16, BatchPolicy(max_batch=8, max_wait_s=0.05))
    assert batcher.batches_run < 16  # some runs carried several requests
    assert max(sizes) <= 8
    assert sum(sizes) == 16


def test_different_canvas_sizes_never_share_a_batch() -> None:
    inner = SlowSession()
    batcher = MicroBatcher(inner, BatchPolicy(max_batch=8, max_wait_s=0.05))
    batches = canvases(6, side=64) + canvases(6, side=32)
    results = run_concurrently(batcher, batches)
    batcher.close()
    for batch, result in zip(batches, results, strict=True):
        assert result.shape[2:] == batch.shape[2:]
        np.testing.assert_array_equal(result, FakeSession().run(batch))
    assert {shape[2:] for shape in inner.calls} == {(64, 64), (32, 32)}


def test_a_failed_run_fails_its_callers_and_the_batcher_keeps_serving() -> None:
    inner = SlowSession(fail_on=7)
    batcher = MicroBatcher(inner, BatchPolicy(max_batch=4, max_wait_s=0.0))
    bad = canvases(1)[0]
    bad[0, 0, 0, 0] = 7
    with pytest.raises(RuntimeError, match="device lost"):
        batcher.run(bad)
    good = canvases(1)[0]
    np.testing.assert_array_equal(batcher.run(good), FakeSession().run(good))
    batcher.close()


def test_batched_mattes_equal_unbatched_ones_through_the_engine() -> None:
    rng = np.random.default_rng(3)
    photos = [rng.integers(0, 256, (90 + 7 * i, 120, 3), dtype=np.uint8) for i in range(6)]
    alone = Matter(FakeSession(), ISNET)
    batched = Matter(MicroBatcher(SlowSession(0.02), BatchPolicy(4, 0.02)), ISNET)
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(batched.predict, photos))
    for photo, matte in zip(photos, together, strict=True):
        np.testing.assert_array_equal(matte, alone.predict(photo))


def test_runs_have_only_the_few_batch_sizes_the_gpu_was_warmed_for() -> None:
    """Seven requests at once run as 4 + 2 + 1 images, never as a batch of 7 or 5: each new
    batch size would make the GPU runtime choose its kernels again (seconds)."""
    _, sizes = serve_at_once(7, BatchPolicy(max_batch=8, max_wait_s=0.3))
    assert sorted(sizes) == [1, 2, 4]


def test_allowed_sizes_and_warm_up() -> None:
    assert BatchPolicy(max_batch=8).sizes == (1, 2, 4, 8)
    assert BatchPolicy(max_batch=6).sizes == (1, 2, 4, 6)
    assert BatchPolicy(max_batch=1).sizes == (1,)
    inner = FakeSession()
    batcher = MicroBatcher(inner, BatchPolicy(max_batch=6))
    batcher.warm(64, 96)
    batcher.close()
    assert inner.calls == [(1, 3, 64, 96), (2, 3, 64, 96), (4, 3, 64, 96), (6, 3, 64, 96)]


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatchPolicy(max_batch=0)
    with pytest.raises(ValueError, match="max_wait_s"):
        BatchPolicy(max_wait_s=-1)


def test_a_cpu_session_is_not_put_behind_a_batcher(models_dir: Path) -> None:
    matter = load_matter(
        directory=default_models_dir(),
        fetch=False,
        backend="onnxruntime",
        batch=BatchPolicy(8, 0.005),
    )
    assert isinstance(matter.session, OrtSession)


def test_a_gpu_session_is_batched_and_warmed_for_every_canvas_it_will_see(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = FakeSession()
    monkeypatch.setattr(loader, "open_session", lambda *args, **kwargs: inner)
    monkeypatch.setattr(loader, "on_gpu", lambda session: session is inner)
    matter = load_matter(
        directory=default_models_dir(),
        fetch=False,
        batch=BatchPolicy(4, 0.005),
        config=MattingConfig(),
    )
    assert isinstance(matter.session, MicroBatcher)
    matter.session.close()
    warmed = [(n, side) for n, _, side, _ in inner.calls]
    assert warmed == [(1, 1024), (2, 1024), (4, 1024)]
