"""Serving on a GPU: images/s and latency at 1, 8 and 32 concurrent clients, batching on vs off.

Each client is a thread that calls the engine's ``predict`` on real eval photos (the server's
executor does the same per request), one after another. With batching on, a
:class:`~alphamatte.engine.batching.MicroBatcher` groups concurrent canvases into one run; off,
they queue for the session one at a time. Both settings run in the same process, alternating per
concurrency level:

    .venv/bin/python benchmarks/gpu.py [--backend cuda] [--clients 1,8,32] [--requests 4]

``--backend onnxruntime`` runs the same harness on the CPU (where batching is not used by the
server: one canvas already fills every core).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alphamatte.config import default_models_dir
from alphamatte.engine.inference.batching import BatchPolicy, MicroBatcher
from alphamatte.engine.inference.matting import Matter
from alphamatte.engine.loader import load_matter
from alphamatte.engine.runtimes import cuda
from alphamatte.engine.runtimes.backends import describe
from alphamatte.engine.runtimes.session import BaseSession, RuntimeInfo, Session
from alphamatte.eval.dataset import discover, load_pair

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


class Timed(BaseSession):
    """The session, timing its runs: how busy the GPU was kept."""

    @property
    def on_gpu(self) -> bool:
        return self.inner.on_gpu

    def info(self) -> RuntimeInfo:
        return self.inner.info()

    def __init__(self, inner: Session) -> None:
        self.inner = inner
        self.busy = 0.0
        self.runs = 0
        self.images = 0
        self._lock = threading.Lock()  # the session runs one at a time: time runs, not waits

    @property
    def dynamic_size(self) -> bool:
        return self.inner.dynamic_size

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            start = time.perf_counter()
            out = self.inner.run(batch)
            self.busy += time.perf_counter() - start
        self.runs += 1
        self.images += len(batch)
        return out


def level(
    matter: Matter, timed: Timed, photos: list[np.ndarray], clients: int, requests: int
) -> str:
    latencies: list[float] = []
    timed.busy, timed.runs, timed.images = 0.0, 0, 0
    lock = threading.Lock()

    def client(index: int) -> None:
        for n in range(requests):
            photo = photos[(index + n) % len(photos)]
            start = time.perf_counter()
            matter.predict(photo)
            with lock:
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{len(ordered) / wall:7.2f} images/s  p50 {1000 * statistics.median(ordered):8.1f} ms"
        f"  p99 {1000 * p99:8.1f} ms  session busy {100 * timed.busy / wall:3.0f}%"
        f"  {timed.images / max(1, timed.runs):.1f} images/run"
    )


def raw(session: Session, sizes: list[int], canvas: int) -> None:
    """The session alone on random canvases: the first run of each batch size (cuDNN's
    algorithm search included), then the median of five."""
    rng = np.random.default_rng(0)
    for size in sizes:
        batch = rng.random((size, 3, canvas, canvas), dtype=np.float32) - 0.5
        start = time.perf_counter()
        session.run(batch)
        first = time.perf_counter() - start
        times = []
        for _ in range(5):
            start = time.perf_counter()
            session.run(batch)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(
            f"  batch {size}: first run {1000 * first:7.0f} ms, then {1000 * median:6.1f} ms"
            f" = {size / median:6.1f} images/s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=4, help="per client and level")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--wait-ms", type=float, default=5.0)
    parser.add_argument(
        "--cuda-option",
        action="append",
        default=[],
        help="KEY=VALUE for the CUDA provider, e.g. cudnn_conv_algo_search=HEURISTIC",
    )
    parser.add_argument("--raw", default=None, help="only the session, at these batch sizes")
    args = parser.parse_args()
    cuda.CUDA_OPTIONS.update(option.split("=", 1) for option in args.cuda_option)
    plain = load_matter(directory=default_models_dir(), backend=args.backend)
    runtime = describe(plain.session)
    print(f"{runtime.backend} on {runtime.device}, {runtime.precision}, {cuda.CUDA_OPTIONS}")
    if args.raw:
        raw(plain.session, [int(s) for s in args.raw.split(",")], plain.config.max_side)
        return
    timed = Timed(plain.session)
    plain = Matter(timed, plain.spec, plain.config)
    batcher = MicroBatcher(timed, BatchPolicy(args.batch, args.wait_ms / 1000))
    batched = Matter(batcher, plain.spec, plain.config)
    for side in plain.canvas_sides():  # as the loader does for a server on a GPU
        batcher.warm(side, side)
    photos = [load_pair(pair)[0] for pair in list(discover(EVAL))[:8]]
    for photo in photos[:2]:  # warm-up: kernels chosen, engines built, arenas grown
        plain.predict(photo)
        batched.predict(photo)
    for clients in (int(c) for c in args.clients.split(",")):
        for name, matter in (("off", plain), ("on", batched)):
            print(
                f"{clients:3d} clients, batching {name:3s}: "
                + level(matter, timed, photos, clients, args.requests),
                flush=True,
            )


if __name__ == "__main__":
    main()
