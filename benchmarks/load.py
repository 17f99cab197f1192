"""Sustained load on a loopback server: requests/s, latency percentiles and server memory.

The server runs in its own process (so its RSS is its own) with either an instant stand-in
model (pure overhead: auth, rate limit, body reading, decode, credits, encode, ledger) or the
real one. Requests are bounded in count and time. Run from the repo root:

    .venv/bin/python benchmarks/load.py --requests 10000 --concurrency 16
    .venv/bin/python benchmarks/load.py --model real --requests 40 --concurrency 4
    .venv/bin/python benchmarks/load.py --repeat-image   # every request hits the result cache
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.cache import home_dir
from alphamatte.engine.matting import Matter, MattingConfig
from alphamatte.engine.registry import ISNET

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


class InstantMatter(Matter):
    """Stands in for the whole model stage (canvas, network, upscale): the left half of the
    photo is foreground. What remains is the server's own work: auth, rate limit, body,
    base64, decode, credits, encode, ledger."""

    def predict_float(self, rgb: np.ndarray) -> np.ndarray:
        alpha = np.zeros(rgb.shape[:2], np.float32)
        alpha[:, : rgb.shape[1] // 2] = 1.0
        return alpha


def instant_matter(settings: Settings) -> Matter:
    return InstantMatter(None, ISNET, MattingConfig(max_side=settings.max_side))  # type: ignore[arg-type]


def serve(settings: Settings, model: str, port: int, ready: object) -> None:
    import uvicorn

    from alphamatte.server.app import create_app

    app = create_app(settings, instant_matter if model == "instant" else None)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    ready.set()  # type: ignore[attr-defined]
    uvicorn.Server(config).run()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def photos(count: int) -> list[str]:
    """Distinct small JPEGs (crops of a real photo) so that the result cache cannot help."""
    source = EVAL / "alphamatting_lowres" / "images" / "GT18.png"
    base = Image.open(source).convert("RGB") if source.exists() else Image.new("RGB", (800, 600))
    out = []
    for i in range(count):
        left, top = i % 97, (i // 97) % 61
        crop = base.crop((left, top, left + 320, top + 240))
        buffer = io.BytesIO()
        crop.save(buffer, format="JPEG", quality=90)
        out.append(base64.b64encode(buffer.getvalue()).decode())
    return out


async def drive(
    client: httpx.AsyncClient,
    key: str,
    bodies: list[str],
    concurrency: int,
    deadline: float,
    rate: float | None = None,
) -> tuple[list[float], dict[int, int]]:
    """Closed loop (``concurrency`` clients back to back), or open loop at ``rate`` per second
    (request i is due at i / rate; latency counts from when it was due, so a stalled server
    cannot hide its queue)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)
    origin = time.perf_counter()

    async def worker() -> None:
        while not queue.empty() and time.monotonic() < deadline:
            index, body = queue.get_nowait()
            start = time.perf_counter()
            if rate is not None:
                due = origin + index / rate
                await asyncio.sleep(max(0.0, due - start))
                start = due
            response = await client.post(
                "/v1.0/alpha-channel-base64",
                headers={"X-API-Key": key},
                json={"image_base64": body},
            )
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


async def measure(
    url: str, key: str, bodies: list[str], args: argparse.Namespace, pid: int
) -> tuple[float, float, float, list[float], dict[int, int]]:
    """Warm up (connections, caches, allocator) on the same client, then measure."""
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        warm = max(50, args.requests // 20) if args.model == "instant" else 2
        await drive(client, key, bodies[:warm], args.concurrency, time.monotonic() + 120)
        rss_start = rss_mb(pid)
        start = time.perf_counter()
        latencies, statuses = await drive(
            client, key, bodies, args.concurrency, time.monotonic() + args.max_seconds, args.rate
        )
        elapsed = time.perf_counter() - start
        return rss_start, rss_mb(pid), elapsed, latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["instant", "real"], default="instant")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--repeat-image", action="store_true", help="one image: cache hits")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s")
    args = parser.parse_args()

    from alphamatte.server.accounting.keys import create_key
    from alphamatte.server.loopback import free_port, wait_ready
    from alphamatte.server.storage.database import make_engine, migrate

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(home_dir() / "models")
        # The result cache is off unless the run is about it: distinct photos must each be
        # decoded and encoded, or the numbers would be cache hits.
        settings = Settings(
            home=home,
            queue_size=max(16, args.concurrency * 2),
            result_cache_mb=64 if args.repeat_image else 0,
        )
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        _, key = create_key(engine, credits=2 * args.requests + 100, rate_limit="1000000/minute")
        engine.dispose()
        port = free_port()
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        server = context.Process(target=serve, args=(settings, args.model, port, ready))
        server.start()
        ready.wait(60)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        try:
            distinct = 1 if args.repeat_image else min(args.requests, 500)
            pool = photos(distinct)
            bodies = [pool[i % distinct] for i in range(args.requests)]
            assert server.pid is not None
            rss_start, rss_end, elapsed, latencies, statuses = asyncio.run(
                measure(url, key, bodies, args, server.pid)
            )
        finally:
            server.terminate()
            server.join(10)
    done = len(latencies)
    ordered = sorted(latencies)
    print(
        f"model {args.model}, {done} requests ({statuses}), "
        f"{f'open loop at {args.rate:g}/s' if args.rate else 'closed loop'}, "
        f"concurrency {args.concurrency}, "
        f"{'one repeated image' if args.repeat_image else f'{distinct} distinct 320x240 JPEGs'}"
    )
    print(
        "| requests/s | p50 ms | p99 ms | max ms | RSS after warm-up MB | RSS at end MB | growth |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {done / elapsed:.1f} | {statistics.median(ordered) * 1000:.1f} | "
        f"{ordered[int(0.99 * (done - 1))] * 1000:.1f} | {ordered[-1] * 1000:.1f} | "
        f"{rss_start:.0f} | {rss_end:.0f} | {100 * (rss_end - rss_start) / rss_start:+.1f} % |"
    )


if __name__ == "__main__":
    main()
