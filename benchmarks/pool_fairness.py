"""The model pool under clients that alternate two models, at a memory budget that holds one.

A loopback server serves ``main`` (the default) and ``other``, each a stand-in model that takes
``--load-s`` to load and ``--run-s`` per inference (sleeps: the pool's scheduling is measured,
not a model), with weights files sized so that the budget holds one of them. ``--clients``
threads each send ``--requests`` requests, alternating the model. Printed per model: answers by
status, the share of 503, requests/s and the slowest answer, and the pool's loads.

    .venv/bin/python benchmarks/pool_fairness.py [--clients 4] [--requests 10]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.engine.runtimes.session import BaseSession
from alphamatte.server.accounting.keys import create_key
from alphamatte.server.loopback import serving

MB = 1024 * 1024


class SleepySession(BaseSession):
    """A model whose inference takes ``run_s`` (a sleep, which lets other threads run)."""

    dynamic_size = True

    def __init__(self, run_s: float) -> None:
        self.run_s = run_s

    def run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.run_s)
        return np.full((batch.shape[0], 1, *batch.shape[2:]), 0.9, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=10, help="per client")
    parser.add_argument("--load-s", type=float, default=0.5)
    parser.add_argument("--run-s", type=float, default=0.2)
    parser.add_argument("--wait-s", type=float, default=3.0, help="ALPHAMATTE_MEMORY_WAIT_S")
    args = parser.parse_args()

    def factory(settings: Settings, model: str) -> Matter:
        time.sleep(args.load_s)
        spec = replace(ISNET, name=model, filename=f"{model}.onnx")
        return Matter(SleepySession(args.run_s), spec, MattingConfig(max_side=256))  # type: ignore[arg-type]

    home = Path(tempfile.mkdtemp(prefix="pool-fairness-"))
    settings = Settings(
        home=home,
        models="main,other",
        memory_budget_mb=100,  # each model is estimated at 2 x 27 + 6.5 MB: one fits
        memory_wait_s=args.wait_s,
        result_cache_mb=0,
        rate_limit="100000/minute",
    )
    settings.models_dir.mkdir(parents=True)
    for name in ("main", "other"):
        with (settings.models_dir / f"{name}.onnx").open("wb") as weights:
            weights.truncate(27 * MB)
    photo = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(photo, "PNG")
    outcomes: dict[str, Counter[int]] = defaultdict(Counter)
    slowest: dict[str, float] = defaultdict(float)
    with serving(settings, factory) as live:
        _, key = create_key(live.state.db, credits=100_000, rate_limit="100000/minute")

        def client(index: int) -> None:
            with httpx.Client(timeout=120) as http:
                for step in range(args.requests):
                    model = ("main", "other")[(index + step) % 2]
                    started = time.monotonic()
                    answer = http.post(
                        f"{live.url}/v1.0/alpha-channel?model={model}",
                        files={"file": ("p.png", photo.getvalue(), "image/png")},
                        headers={"X-API-Key": key},
                    )
                    outcomes[model][answer.status_code] += 1
                    slowest[model] = max(slowest[model], time.monotonic() - started)

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client, range(args.clients)))
        elapsed = time.monotonic() - started
        loads = live.state.models.loads if live.state.models is not None else -1
    total = sum(sum(c.values()) for c in outcomes.values())
    print(
        f"{args.clients} clients x {args.requests} requests, alternating; budget holds one "
        f"model; load {args.load_s} s, inference {args.run_s} s, memory wait {args.wait_s} s"
    )
    print(f"{'model':<8} {'answers':<24} {'503 share':>9} {'slowest s':>9}")
    for model in ("main", "other"):
        counts = outcomes[model]
        share = counts[503] / max(1, sum(counts.values()))
        answers = ", ".join(f"{n}x{status}" for status, n in sorted(counts.items()))
        print(f"{model:<8} {answers:<24} {share:>9.0%} {slowest[model]:>9.2f}")
    ok = sum(c[200] for c in outcomes.values())
    print(f"{total} requests in {elapsed:.1f} s: {ok / elapsed:.2f} answered 200/s; {loads} loads")


if __name__ == "__main__":
    main()
