"""remove.bg's endpoint against withoutbg's on the same 4000x3000 photo, real model, loopback.

Alternating rounds of: `POST /v1.0/alpha-channel` (the matte PNG), `POST /v1.0/removebg` with
`size=full&format=zip` (color.jpg + alpha.png at 4000x3000), `size=full` (RGBA PNG) and
`size=preview` (0.25 MP). Medians of wall time per request, from one run.

    .venv/bin/python benchmarks/removebg.py [--rounds 3] [--photo ../shared/eval/.../x.jpg]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import tempfile
from pathlib import Path
from time import perf_counter

import httpx
from PIL import Image

from alphamatte.config import Settings, default_models_dir
from alphamatte.server.loopback import serving

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photo", type=Path, default=EVAL / "icm58_hires/images/cat_02.jpg")
    args = parser.parse_args()
    with Image.open(args.photo) as source:
        photo = source.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=92)
    data = buffer.getvalue()
    cases = {
        "alpha-channel (matte PNG)": ("/v1.0/alpha-channel", "file", {}),
        "removebg full zip": ("/v1.0/removebg", "image_file", {"size": "full", "format": "zip"}),
        "removebg full png": ("/v1.0/removebg", "image_file", {"size": "full", "format": "png"}),
        "removebg preview": ("/v1.0/removebg", "image_file", {"size": "preview"}),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as home:
        # The server downloads nothing: it serves the models this machine has fetched.
        (Path(home) / "models").symlink_to(default_models_dir())
        settings = Settings(home=Path(home), rate_limit="1000/minute", result_cache_mb=0)
        with serving(settings) as server:
            key = server.new_key(credits=1000)
            headers = {"X-API-Key": key}
            with httpx.Client(base_url=server.url, timeout=300, headers=headers) as client:
                for round_ in range(args.rounds + 1):  # round 0 warms up, not counted
                    for name, (path, field, fields) in cases.items():
                        files = {field: ("photo.jpg", data, "image/jpeg")}
                        start = perf_counter()
                        answer = client.post(path, files=files, data=fields)
                        elapsed = perf_counter() - start
                        answer.raise_for_status()
                        if round_ == 0:
                            _describe(name, answer)
                        else:
                            times[name].append(elapsed)
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in flags.splitlines() if "Model name" in ln), "?"
    )
    print(
        f"\n{model}; 4000x3000 JPEG ({len(data) / 1e6:.1f} MB), {args.rounds} alternating rounds\n"
    )
    print("| request | median s | vs alpha-channel |")
    print("|---|---|---|")
    base = statistics.median(times["alpha-channel (matte PNG)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / base:.2f}x |")


def _describe(name: str, answer: httpx.Response) -> None:
    width, height = answer.headers.get("X-Width", "?"), answer.headers.get("X-Height", "?")
    print(
        f"{name}: {answer.headers['content-type']}, {len(answer.content) / 1e6:.1f} MB, "
        f"{width}x{height}, charged {answer.headers.get('X-Credits-Charged')}"
    )


if __name__ == "__main__":
    main()
