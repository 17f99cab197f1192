"""Two real models behind one server, mixed concurrent requests, within its memory budget.

A loopback server serves ``isnet-general-use`` and ``u2netp`` (``ALPHAMATTE_MODELS``), with
u2netp priced at 0.5 credits. Clients send N requests, alternating the model, from several
threads at once. Checked: no 5xx, every answer names (``X-Model``) and is the matte of the
model it asked for (each compared with that model's matte made in this process), every key's
balance equals its ledger's sum and what the answers said they charged.

    .venv/bin/python benchmarks/two_models.py [--requests 200] [--clients 8] [--budget-mb 700]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import httpx
import numpy as np
from PIL import Image

from alphamatte.config import Settings, default_models_dir
from alphamatte.server.accounting.amounts import to_milli
from alphamatte.server.accounting.keys import authenticate, create_key
from alphamatte.server.accounting.ledger import totals
from alphamatte.server.loopback import serving

MODELS = ("isnet-general-use", "u2netp")
PRICES = {"isnet-general-use": 1.0, "u2netp": 0.5}


@dataclass
class Outcome:
    status: int
    asked: str
    answered: str
    charged: str
    photo: int
    matte: np.ndarray | None


def photos(count: int = 4, side: int = 480) -> list[bytes]:
    """Small real photos from ../shared/eval, else synthetic ones."""
    found = sorted(Path("../shared/eval/alphamatting_lowres/images").glob("*.png"))[:count]
    images = [Image.open(p).convert("RGB") for p in found]
    rng = np.random.default_rng(1)
    while len(images) < count:
        images.append(Image.fromarray(rng.integers(0, 255, (side, side, 3), np.uint8)))
    out = []
    for image in images:
        image.thumbnail((side, side))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def key_of(index: int, keys: int) -> int:
    """Which key sends request ``index``: each key sends both models."""
    return (index // 3) % keys


def drive(
    url: str, keys: list[str], data: list[bytes], requests: int, clients: int
) -> list[Outcome]:
    def one(index: int) -> Outcome:
        asked = MODELS[index % 2]
        photo = (index // 2) % len(data)
        with httpx.Client(timeout=300) as client:
            response = client.post(
                f"{url}/v1.0/alpha-channel",
                params={"model": asked},
                files={"file": ("p.png", data[photo], "image/png")},
                headers={"X-API-Key": keys[key_of(index, len(keys))]},
            )
        matte = None
        if response.status_code == 200:
            matte = np.asarray(Image.open(io.BytesIO(response.content)))
        return Outcome(
            response.status_code,
            asked,
            response.headers.get("X-Model", ""),
            response.headers.get("X-Credits-Charged", "0"),
            photo,
            matte,
        )

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(requests)))


def check(outcomes: list[Outcome], data: list[bytes], settings: Settings) -> dict[str, object]:
    """What the acceptance asks, as numbers."""
    from alphamatte.engine.loader import load_matter

    references = {}
    for name in MODELS:
        matter = load_matter(name, directory=settings.models_dir, fetch=False)
        for i, png in enumerate(data):
            rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            references[name, i] = matter.predict(rgb).astype(np.int16)
    wrong_model = 0
    for o in outcomes:
        if o.matte is None:
            continue
        own = np.abs(o.matte - references[o.asked, o.photo]).mean()
        other = MODELS[1 - MODELS.index(o.asked)]
        theirs = np.abs(o.matte - references[other, o.photo]).mean()
        if o.answered != o.asked or own > 1.0 or own >= theirs:
            wrong_model += 1
    return {
        "statuses": dict(Counter(o.status for o in outcomes)),
        "5xx": sum(o.status >= 500 for o in outcomes),
        "wrong model": wrong_model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--budget-mb", type=int, default=700)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "models").symlink_to(default_models_dir())
        settings = Settings(
            home=Path(home),
            models=",".join(MODELS),
            model_prices=",".join(f"{k}={v}" for k, v in PRICES.items()),
            memory_budget_mb=args.budget_mb,
            result_cache_mb=0,
            queue_size=64,
            rate_limit="100000/minute",
        )
        with serving(settings) as live:
            keys = [create_key(live.state.db, credits=1000)[1] for _ in range(4)]
            data = photos()
            started = perf_counter()
            outcomes = drive(live.url, keys, data, args.requests, args.clients)
            seconds = perf_counter() - started
            pool = live.state.models
            assert pool is not None
            peak = live.state.memory.peak
            books = []
            for raw in keys:
                key = authenticate(live.state.db, raw)
                assert key is not None
                found = totals(live.state.db, key.id)
                assert found is not None
                said = sum(
                    to_milli(o.charged)
                    for i, o in enumerate(outcomes)
                    if keys[key_of(i, len(keys))] == raw and o.status == 200
                )
                books.append((found[0], found[1], 1000 - said / 1000))
            loads = pool.loads
        result = check(outcomes, data, settings)
    print(f"{args.requests} requests, {args.clients} clients, {seconds:.1f} s")
    print(
        f"statuses {result['statuses']}; 5xx {result['5xx']}; wrong model {result['wrong model']}"
    )
    print(f"model loads {loads}; memory peak {peak / 2**20:.0f} of {args.budget_mb} MB")
    for balance, ledger_sum, expected in books:
        print(f"balance {balance} ledger {ledger_sum} answers say {expected}")


if __name__ == "__main__":
    main()
