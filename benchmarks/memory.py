"""Peak server memory under concurrent huge cutouts, with and without a memory budget.

The server runs in its own process with the real model; N clients each send one 49 MP JPEG
cutout at the same moment. RSS is sampled every 20 ms. Prints per run: the budget, idle and
peak RSS, peak minus idle, statuses, and credits charged (which must equal the 200s). Run from
the repo root:

    .venv/bin/python benchmarks/memory.py [--clients 8] [--side 7000] [--budgets 2048 0]
    .venv/bin/python benchmarks/memory.py --background --clients 1 --budgets 2048 0

A budget of 0 means "no budget" (one bigger than the machine), to show what it prevents.
``--background``: remove.bg's endpoint instead, the photo at ``size=full`` put on a background
image (``bg_image_file``) of the same size.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import rss_mb, start_server

from alphamatte.config import Settings, default_home


def big_jpeg(side: int, icc: bytes | None = None) -> str:
    """A smooth photo-like JPEG of side² pixels (small file, full decoded cost), with ``icc``
    embedded when given (a wide-gamut photo is also rendered to sRGB for the model)."""
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 255, (side // 64, side // 64, 3), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(
        buffer, "JPEG", quality=85, **({"icc_profile": icc} if icc else {})
    )
    return base64.b64encode(buffer.getvalue()).decode()


def run(budget_mb: int, clients: int, body: str, background: bool) -> dict[str, object]:
    from alphamatte.server.accounting.keys import create_key
    from alphamatte.server.loopback import free_port, wait_ready
    from alphamatte.server.storage.database import make_engine, migrate

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(default_home() / "models")
        settings = Settings(
            home=home,
            memory_budget_mb=budget_mb or 1024 * 1024,
            memory_wait_s=120,
            result_cache_mb=0,
            max_input_bytes=64 * 1024 * 1024,
        )
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        _, key = create_key(engine, credits=1000, rate_limit="1000/minute")
        port = free_port()
        # The server is load.py's: its own process, settings from ALPHAMATTE_* variables.
        environment = {
            "LOAD_BENCH_MODEL": "real",
            "ALPHAMATTE_HOME": str(home),
            "ALPHAMATTE_MEMORY_BUDGET_MB": str(settings.memory_budget_mb),
            "ALPHAMATTE_MEMORY_WAIT_S": str(settings.memory_wait_s),
            "ALPHAMATTE_RESULT_CACHE_MB": "0",
            "ALPHAMATTE_MAX_INPUT_BYTES": str(settings.max_input_bytes),
        }
        server = start_server(port, env=environment)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, timeout=300)
        pid = server.pid
        idle = rss_mb(pid)  # after start-up, which runs one inference (the model's arena)
        peak = idle
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mb(pid))
                time.sleep(0.02)

        def cutout(_: int) -> int:
            if background:
                photo = base64.b64decode(body)
                response = httpx.post(
                    f"{url}/v1.0/removebg",
                    headers={"X-API-Key": key},
                    data={"size": "full"},
                    files={"image_file": ("p.jpg", photo), "bg_image_file": ("b.jpg", photo)},
                    timeout=900,
                )
            else:
                response = httpx.post(
                    f"{url}/v1.0/image-without-background-base64",
                    headers={"X-API-Key": key},
                    json={"image_base64": body},
                    timeout=900,
                )
            return response.status_code

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(cutout, range(clients)))
            seconds = time.perf_counter() - started
            credit = httpx.get(f"{url}/available-credit", headers={"X-API-Key": key}).json()
            # remove.bg's endpoint charges 1 credit, and available-credit shows whole credits.
        finally:
            stop.set()
            sampler.join()
            server.terminate()
            server.wait(30)
            engine.dispose()
    return {
        "budget": budget_mb,
        "idle": idle,
        "peak": peak,
        "statuses": statuses,
        "charged": 1000 - int(credit["credit"]),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--side", type=int, default=7000)
    parser.add_argument("--budgets", type=int, nargs="+", default=[2048, 0])
    parser.add_argument("--background", action="store_true", help="remove.bg + bg_image_file")
    parser.add_argument("--wide-gamut", action="store_true", help="a Display P3 profile on it")
    args = parser.parse_args()
    icc = None
    if args.wide_gamut:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.colour_samples import display_p3

        icc = display_p3()
    body = big_jpeg(args.side, icc)
    megapixels = args.side * args.side / 1e6
    what = (
        "remove.bg cutouts at size=full on a same-size bg_image_file"
        if args.background
        else ("cutouts")
    )
    print(
        f"{args.clients} concurrent {what} of one {megapixels:.0f} MP JPEG"
        f"{' (Display P3)' if icc else ''} "
        f"({len(body) * 3 // 4 // 1024} KB), real model\n"
    )
    print("| budget MB | idle RSS MB | peak RSS MB | peak − idle MB | statuses | charged | s |")
    print("|---|---|---|---|---|---|---|")
    for budget in args.budgets:
        r = run(budget, args.clients, body, args.background)
        statuses = r["statuses"]
        assert isinstance(statuses, list)
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        idle, peak = float(r["idle"]), float(r["peak"])  # type: ignore[arg-type]
        print(
            f"| {budget or 'none'} | {idle:.0f} | {peak:.0f} | {peak - idle:.0f} | {counts} "
            f"| {r['charged']} | {float(r['seconds']):.0f} |"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
