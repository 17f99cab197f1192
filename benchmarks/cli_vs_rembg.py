"""`alphamatte matte|cutout DIR` against `rembg p` on the same IS-Net weights, whole process.

Each round runs both commands on the same folder, in alternating order (A B, then B A), so
machine noise hits both; the time is the wall clock of the whole process (start-up, model
load, decode, inference, post-processing, PNG writing). rembg lives in its own virtualenv so
that its pins cannot change ours:

    python3.11 -m venv /tmp/rembg-venv && /tmp/rembg-venv/bin/pip install "rembg[cpu,cli]"
    .venv/bin/python benchmarks/cli_vs_rembg.py --rembg /tmp/rembg-venv/bin/rembg \
        --kind matte ../shared/eval/alphamatting_lowres/images
    .venv/bin/python benchmarks/cli_vs_rembg.py --rembg /tmp/rembg-venv/bin/rembg \
        --kind cutout ../shared/eval/icm58_hires/images

rembg runs its ``dis_custom`` session on the published graph that ``alphamatte model fetch``
stored (copied into rembg's model folder, which is the only place it accepts paths from); ``-om``
for mattes, the default RGBA cutout otherwise. rembg stretches every photo to 1024²; alphamatte
runs its default ``fast`` pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alphamatte.config import default_models_dir
from alphamatte.engine.catalogue.families import ISNET


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def rembg_command(rembg: str, kind: str, source: Path, out: Path) -> list[str]:
    home = Path(os.environ.get("U2NET_HOME", Path.home() / ".rembg"))
    home.mkdir(parents=True, exist_ok=True)
    weights = home / ISNET.filename
    if not weights.exists():
        shutil.copyfile(default_models_dir() / ISNET.filename, weights)
    extras = json.dumps({"model_path": str(weights)})
    only_mask = ["-om"] if kind == "matte" else []
    return [rembg, "p", *only_mask, "-m", "dis_custom", "-x", extras, str(source), str(out)]


def ours_command(kind: str, source: Path, out: Path) -> list[str]:
    binary = Path(sys.executable).with_name("alphamatte")
    return [str(binary), kind, str(source), "--out-dir", str(out)]


def timed(command: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    written = sum(1 for _ in out.rglob("*.png"))
    if written == 0:
        raise SystemExit(f"{command[0]} wrote nothing")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rembg", required=True, help="the rembg executable (its own venv)")
    parser.add_argument("--kind", choices=("matte", "cutout"), default="matte")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    photos = [p for p in args.folder.iterdir() if p.is_file()]
    print(f"{len(photos)} photos in {args.folder}; {cpu_model()}, {os.cpu_count()} cores")
    seconds: dict[str, list[float]] = {"rembg": [], "alphamatte": []}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        commands = {
            "rembg": rembg_command(args.rembg, args.kind, args.folder, out / "rembg"),
            "alphamatte": ours_command(args.kind, args.folder, out / "alphamatte"),
        }
        for round_ in range(args.rounds):
            order = ["rembg", "alphamatte"] if round_ % 2 == 0 else ["alphamatte", "rembg"]
            for name in order:
                seconds[name].append(timed(commands[name], out / name))
                print(f"round {round_ + 1}: {name:10s} {seconds[name][-1]:6.1f} s", flush=True)
    ours, theirs = statistics.median(seconds["alphamatte"]), statistics.median(seconds["rembg"])
    print(
        f"{args.kind} over {len(photos)} photos, median of {args.rounds}: alphamatte {ours:.1f} s,"
        f" rembg {theirs:.1f} s -> alphamatte at {theirs / ours:.2f}x rembg's speed"
    )


if __name__ == "__main__":
    main()
