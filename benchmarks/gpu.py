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

from alphamatte.engine.backends import describe
from alphamatte.engine.batching import BatchPolicy, MicroBatcher
from alphamatte.engine.loader import load_matter
from alphamatte.engine.matting import Matter
from alphamatte.eval.dataset import discover, load_pair

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def level(matter: Matter, photos: list[np.ndarray], clients: int, requests: int) -> str:
    latencies: list[float] = []
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
        f"  p99 {1000 * p99:8.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=4, help="per client and level")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    plain = load_matter(backend=args.backend)
    batched = Matter(
        MicroBatcher(plain.session, BatchPolicy(args.batch, args.wait_ms / 1000)),
        plain.spec,
        plain.config,
    )
    photos = [load_pair(pair)[0] for pair in list(discover(EVAL))[:8]]
    runtime = describe(plain.session)
    print(f"{runtime.backend} on {runtime.device}, {runtime.precision}; {len(photos)} photos")
    for photo in photos[:2]:  # warm-up: kernels chosen, engines built, arenas grown
        plain.predict(photo)
        batched.predict(photo)
    for clients in (int(c) for c in args.clients.split(",")):
        for name, matter in (("off", plain), ("on", batched)):
            print(
                f"{clients:3d} clients, batching {name:3s}: "
                + level(matter, photos, clients, args.requests),
                flush=True,
            )


if __name__ == "__main__":
    main()
