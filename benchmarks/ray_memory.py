"""Memory of `alphamatte batch --ray` over a long job: is each node's RSS flat?

Makes N small synthetic photos (folders of 1,000), starts a cluster of ``--nodes`` raylets on
this machine (``ray start``, as the tests do), runs the job as a subprocess joined to it, and
samples once a second, per node, the RSS of its raylet and every process under it (workers,
actors), plus the driver's. The manifest's line count says how far the job is, so the samples
are grouped by the thousand photos they fall in. Printed: per node, the median RSS during the
first and the last thousand photos and the growth between them.

    PYTHONPATH=. .venv/bin/python benchmarks/ray_memory.py --photos 10000 --nodes 2

``--max-side 64`` keeps the model's part small: what is measured is the pipeline's own memory
(listing, blocks in flight, the driver's manifest), which is what could grow with a backlog.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from alphamatte.bulk.raylets import RayCluster
from alphamatte.engine.runtimes.selection import cpu_flags_digest, cpu_model

PER_FOLDER = 1000


def make_photos(root: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"batch-{i // PER_FOLDER:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        height, width = int(rng.integers(48, 97)), int(rng.integers(48, 129))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = (240, 230, 220)
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=85)


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--max-side", type=int, default=64)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="alphamatte-ray-memory-"))
    cluster = RayCluster(dict(os.environ))
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node()
        make_photos(scratch / "in", args.photos)
        manifest = scratch / "manifest.jsonl"
        command = [
            str(Path(sys.executable).with_name("alphamatte")),
            "batch",
            str(scratch / "in"),
            str(scratch / "out"),
            "--kind",
            "matte",
            "--max-side",
            str(args.max_side),
            "--manifest",
            str(manifest),
            "--ray",
            "auto",
        ]
        env = cluster.env | {"RAY_ADDRESS": cluster.address}
        started = time.perf_counter()
        job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        raylets = {port: cluster.raylet(port) for port in cluster.node_ports}
        samples: list[tuple[int, dict[str, int]]] = []
        driver_cpu = [0.0]
        driver = psutil.Process(job.pid)

        def done() -> int:
            if not manifest.exists():
                return 0
            with manifest.open("rb") as handle:
                return sum(1 for _ in handle)

        def sample() -> None:
            while job.poll() is None:
                rss = {f"node{i}": tree_rss(p) for i, p in enumerate(raylets.values())}
                try:
                    rss["driver"] = driver.memory_info().rss
                    times = driver.cpu_times()
                    driver_cpu[0] = times.user + times.system
                except psutil.NoSuchProcess:
                    break
                samples.append((done(), rss))
                time.sleep(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, stderr = job.communicate()
        sampler.join()
        seconds = time.perf_counter() - started
        first = [rss for n, rss in samples if 0 < n <= 1000]
        last = [rss for n, rss in samples if n > args.photos - 1000]
        report: dict[str, object] = {
            "cpu": cpu_model(),
            "cpu_flags_digest": cpu_flags_digest(),
            "cores": os.cpu_count(),
            "photos": args.photos,
            "nodes": args.nodes,
            "exit_code": job.returncode,
            "seconds": round(seconds, 1),
            "photos_per_s": round(args.photos / seconds, 1),
            "summary": stderr.decode().strip().splitlines()[-2:],
            "samples": len(samples),
            "driver_cpu_s": round(driver_cpu[0], 1),
        }
        for name in samples[0][1] if samples else ():
            early = statistics.median(rss[name] for rss in first) / 2**20 if first else 0.0
            late = statistics.median(rss[name] for rss in last) / 2**20 if last else 0.0
            peak = max(rss[name] for _, rss in samples) / 2**20
            by_thousand = [
                round(statistics.median(rss[name] for n, rss in group) / 2**20)
                for k in range(0, args.photos, 1000)
                if (group := [(n, rss) for n, rss in samples if k < n <= k + 1000])
            ]
            report[name] = {
                "first_1000_mib": round(early, 1),
                "last_1000_mib": round(late, 1),
                "growth": round(late / early - 1, 3) if early else None,
                "peak_mib": round(peak, 1),
                "median_mib_by_thousand": by_thousand,
            }
        print(json.dumps(report, indent=2))
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
