"""One photo, whole process: `alphamatte matte PHOTO -o OUT` with the default backend (`auto`,
whatever it measured on this machine) against the same command pinned to ONNX Runtime.

A one-photo run pays for everything a server pays once: interpreter start, imports, model
load and compile (OpenVINO's from its compiled-model cache), decode, inference, upscale and
the PNG. Runs alternate (A B, then B A) for ``--rounds``, so machine noise hits both; the
ratio of medians is printed (acceptance for docs/models.md: default ≤ 1.15× ONNX Runtime's).

    .venv/bin/python benchmarks/one_photo.py [PHOTO] [--rounds 6] [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from alphamatte.engine.runtimes.selection import cpu_flags, cpu_model

DEFAULT_PHOTO_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval" / "icm58_hires"


def cpu_line() -> str:
    present = set(cpu_flags())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
    flags = " ".join(flag for flag in wanted if flag in present)
    return f"{cpu_model()}, {os.cpu_count()} cores, flags: {flags}"


def largest_photo(folder: Path) -> Path:
    photos = sorted((folder / "images").iterdir())

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    # The photo nearest 12 MP: a typical camera photo, not the set's extreme.
    return min(photos, key=lambda p: abs(pixels(p) - 12_000_000))


def timed(command: list[str], env: dict[str, str], out: Path) -> float:
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seconds = time.perf_counter() - start
    if not out.is_file():
        raise SystemExit(f"{' '.join(command)} wrote nothing")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path, nargs="?")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    photo = args.photo or largest_photo(DEFAULT_PHOTO_DIR)
    with Image.open(photo) as image:
        size = f"{image.width}×{image.height}"
    binary = str(Path(sys.executable).with_name("alphamatte"))
    print(f"{photo.name} ({size}); {cpu_line()}")
    base = {k: v for k, v in os.environ.items() if k != "ALPHAMATTE_BACKEND"}
    runs = {"default": base, "onnxruntime": {**base, "ALPHAMATTE_BACKEND": "onnxruntime"}}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "matte.png"
        command = [binary, "matte", str(photo), "-o", str(out)]
        if args.model:
            command += ["--model", args.model]
        for env in runs.values():  # a first run each fills the caches (`auto`, OpenVINO)
            timed(command, env, out)
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for name in order:
                seconds[name].append(timed(command, runs[name], out))
            print(
                f"round {round_ + 1}: " + "  ".join(f"{n} {seconds[n][-1]:.2f} s" for n in runs),
                flush=True,
            )
    default, ort = (statistics.median(seconds[n]) for n in runs)
    print(
        f"median of {args.rounds}: default {default:.2f} s, ONNX Runtime {ort:.2f} s "
        f"-> default at {default / ort:.2f}x ONNX Runtime's time"
    )


if __name__ == "__main__":
    main()
