"""Sustained load on a loopback server: requests/s, latency percentiles and server memory.

The server runs in its own process (so its RSS is its own) with either an instant stand-in
model (pure overhead: auth, rate limit, body reading, decode, credits, encode, ledger) or the
real one. Requests are bounded in count and time. Run from the repo root:

    .venv/bin/python benchmarks/load.py --requests 10000 --concurrency 16
    .venv/bin/python benchmarks/load.py --model real --requests 40 --concurrency 4
    .venv/bin/python benchmarks/load.py --repeat-image   # every request hits the result cache
    .venv/bin/python benchmarks/load.py --workers 2      # `alphamatte serve --workers 2`
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image

from alphamatte.config import Settings, default_home
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.engine.runtimes.session import BaseSession

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


class InstantMatter(Matter):
    """Stands in for the whole model stage (canvas, network, upscale): the left half of the
    photo is foreground. What remains is the server's own work: auth, rate limit, body,
    base64, decode, credits, encode, ledger."""

    def predict_float(self, rgb: np.ndarray) -> np.ndarray:
        alpha = np.zeros(rgb.shape[:2], np.float32)
        alpha[:, : rgb.shape[1] // 2] = 1.0
        return alpha


class NoNetwork(BaseSession):
    """The session an instant model reports: any canvas size, a zero output if ever run (the
    server's warm-up and canvas choice ask it; predict_float never does)."""

    dynamic_size = True

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((batch.shape[0], 1, *batch.shape[2:]), np.float32)


def instant_matter(settings: Settings, _: str) -> Matter:
    session = NoNetwork()
    return InstantMatter(session, ISNET, MattingConfig(max_side=settings.max_side))  # type: ignore[arg-type]


def app() -> object:
    """The app each server process builds (uvicorn imports this module by name, as
    `alphamatte serve` imports the real factory); settings come from ALPHAMATTE_* variables."""
    from alphamatte.server.app import create_app

    model = os.environ.get("LOAD_BENCH_MODEL", "instant")
    return create_app(Settings(), instant_matter if model == "instant" else None)


def serve(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "load:app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def start_server(
    port: int, workers: int = 1, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """This module's server (:func:`serve`) in its own process, with ``env`` added to ours."""
    command = [sys.executable, __file__, "--serve", str(port), "--workers", str(workers)]
    return subprocess.Popen(command, env={**os.environ, **(env or {})})


def _tree(pid: int) -> list[str]:
    """/proc entries of ``pid`` and its children (the worker processes of --workers N)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if int(entry.name) == pid or ppid == pid:
            found.append(str(entry))
    return found


def rss_mb(pid: int) -> float:
    total = 0.0
    for entry in _tree(pid):
        for line in Path(entry, "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the server's processes have used so far."""
    ticks = 0
    for entry in _tree(pid):
        fields = Path(entry, "stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int]:
    """(stolen, all) ticks of the whole machine so far, from /proc/stat's first line."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])  # user nice system idle iowait irq softirq steal


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
    client: aiohttp.ClientSession,
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
            async with client.post(
                "/v1.0/alpha-channel-base64",
                headers={"X-API-Key": key},
                json={"image_base64": body},
            ) as response:
                await response.read()
            latencies.append(time.perf_counter() - start)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


@dataclass
class Run:
    rss_start: float
    rss_end: float
    elapsed: float
    server_cpu: float  # seconds, the server's processes
    client_cpu: float  # seconds, this process (the load generator)
    stolen: float  # share of the machine's CPU time its hypervisor gave to others meanwhile
    latencies: list[float]
    statuses: dict[int, int]


async def measure(url: str, key: str, bodies: list[str], args: argparse.Namespace, pid: int) -> Run:
    """Warm up (connections, caches, allocator) on the same client, then measure.

    The generator is aiohttp: on the 2 cores it shares with the server, httpx's client took
    2.3 ms of CPU per request against aiohttp's 0.28 (a bare FastAPI endpoint, 3,000 requests),
    which left the server a third of a core less and made it the generator's benchmark."""
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:
        warm = max(50, args.requests // 20) if args.model == "instant" else 2
        await drive(client, key, bodies[:warm], args.concurrency, time.monotonic() + 120)
        rss_start, server_start, client_start = rss_mb(pid), cpu_s(pid), time.process_time()
        stolen_start, ticks_start = cpu_ticks()
        start = time.perf_counter()
        latencies, statuses = await drive(
            client, key, bodies, args.concurrency, time.monotonic() + args.max_seconds, args.rate
        )
        elapsed = time.perf_counter() - start
        stolen_end, ticks_end = cpu_ticks()
        return Run(
            rss_start,
            rss_mb(pid),
            elapsed,
            cpu_s(pid) - server_start,
            time.process_time() - client_start,
            (stolen_end - stolen_start) / max(1, ticks_end - ticks_start),
            latencies,
            statuses,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["instant", "real"], default="instant")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--repeat-image", action="store_true", help="one image: cache hits")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:  # the server's own process, started below
        serve(args.serve, args.workers)
        return

    from alphamatte.server.accounting.keys import create_key
    from alphamatte.server.loopback import free_port, wait_ready
    from alphamatte.server.storage.database import make_engine, migrate

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(default_home() / "models")
        settings = Settings(home=home)
        # The server process reads its settings from here. The result cache is off unless the
        # run is about it: distinct photos must each be decoded and encoded, or the numbers
        # would be cache hits.
        os.environ.update(
            ALPHAMATTE_HOME=str(home),
            ALPHAMATTE_QUEUE_SIZE=str(max(16, args.concurrency * 2)),
            ALPHAMATTE_RESULT_CACHE_MB="64" if args.repeat_image else "0",
            LOAD_BENCH_MODEL=args.model,
        )
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        _, key = create_key(engine, credits=2 * args.requests + 100, rate_limit="1000000/minute")
        engine.dispose()
        port = free_port()
        server = start_server(port, args.workers)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url)
            distinct = 1 if args.repeat_image else min(args.requests, 500)
            pool = photos(distinct)
            bodies = [pool[i % distinct] for i in range(args.requests)]
            run = asyncio.run(measure(url, key, bodies, args, server.pid))
        finally:
            server.terminate()
            server.wait(30)
    done = len(run.latencies)
    ordered = sorted(run.latencies)
    print(
        f"model {args.model}, {done} requests ({run.statuses}), "
        f"{f'open loop at {args.rate:g}/s' if args.rate else 'closed loop'}, "
        f"concurrency {args.concurrency}, {args.workers} server process(es), "
        f"{'one repeated image' if args.repeat_image else f'{distinct} distinct 320x240 JPEGs'}"
    )
    # Server CPU per request is steadier than requests/s when the load generator shares the
    # cores: it does not move with how the scheduler splits them between the two. Stolen CPU
    # is what a virtual machine's host took for others: runs with much of it are not
    # comparable with runs without.
    print(
        "| requests/s | p50 ms | p99 ms | max ms | server CPU ms/request "
        "| client CPU ms/request | stolen CPU | RSS after warm-up MB | RSS at end MB | growth |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    growth = 100 * (run.rss_end - run.rss_start) / run.rss_start
    per_request = max(done, 1) / 1000  # seconds of CPU → ms per request
    print(
        f"| {done / run.elapsed:.1f} | {statistics.median(ordered) * 1000:.1f} | "
        f"{ordered[int(0.99 * (done - 1))] * 1000:.1f} | {ordered[-1] * 1000:.1f} | "
        f"{run.server_cpu / per_request:.2f} | {run.client_cpu / per_request:.2f} | "
        f"{100 * run.stolen:.1f} % | "
        f"{run.rss_start:.0f} | {run.rss_end:.0f} | {growth:+.1f} % |"
    )


if __name__ == "__main__":
    main()
