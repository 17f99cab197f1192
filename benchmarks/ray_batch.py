"""`alphamatte batch IN OUT --ray` (a Ray cluster on this machine) against the local
`alphamatte batch IN OUT`, whole process, over the same photos.

Each round runs both, alternating which goes first (A B, then B A), into fresh output folders,
so machine noise hits both; the time is the wall clock of the whole command (interpreter,
cluster start for --ray, model load, decode, inference, post-processing, PNG writes). The
printed ratio is local / ray photos per second (≥ 1 means --ray is at least as fast).

    .venv/bin/python benchmarks/ray_batch.py --rounds 2 --copies 3 \
        ../shared/eval/alphamatting_lowres/images ../shared/eval/icm58_hires/images \
        ../shared/eval/comp1k_crops_foamliu/images

The folders are linked into one input tree (their layout kept), so one run sees all photos;
``--copies N`` links them N times, for a backlog long enough that the cluster's start (~10 s
more than the local batch's on 2 cores) is paid once among many photos, as in a real job.
Both sides use the same backend (the machine's `auto` choice unless ALPHAMATTE_BACKEND pins
one); their outputs are compared byte for byte after the first round.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alphamatte.engine.runtimes.selection import cpu_flags_digest, cpu_model
from alphamatte.files import IMAGE_SUFFIXES


def link_tree(folders: list[Path], into: Path, copies: int) -> int:
    """Link every photo of ``folders`` into ``into``, ``copies`` times (copy-N/folder/...): a
    backlog longer than the eval set, of the same photos."""
    count = 0
    for copy in range(copies):
        for folder in folders:
            for photo in sorted(folder.rglob("*")):
                if photo.is_file() and photo.suffix.lower() in IMAGE_SUFFIXES:
                    target = into / f"copy-{copy}" / folder.name / photo.relative_to(folder)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(photo.resolve(), target)
                    count += 1
    return count


def command(kind: str, source: Path, out: Path, ray: bool) -> list[str]:
    binary = Path(sys.executable).with_name("alphamatte")
    extra = ["--ray"] if ray else []
    return [str(binary), "batch", str(source), str(out), "--kind", kind, *extra]


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def same_outputs(a: Path, b: Path) -> tuple[int, int]:
    """(photos compared, photos whose bytes differ)."""
    compared = differ = 0
    for left in sorted(a.rglob("*.png")):
        right = b / left.relative_to(a)
        compared += 1
        differ += not (right.exists() and filecmp.cmp(left, right, shallow=False))
    return compared, differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--kind", choices=["matte", "cutout"], default="cutout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1, help="times each photo is in the job")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="alphamatte-ray-bench-"))
    try:
        source = scratch / "in"
        photos = link_tree(args.folders, source, args.copies)
        times: dict[str, list[float]] = {"local": [], "ray": []}
        for round_ in range(args.rounds):
            order = ["local", "ray"] if round_ % 2 == 0 else ["ray", "local"]
            for name in order:
                out = scratch / f"out-{name}-{round_}"
                times[name].append(timed(command(args.kind, source, out, name == "ray")))
                print(f"round {round_ + 1} {name:5s} {times[name][-1]:7.1f} s", flush=True)
        compared, differ = same_outputs(scratch / "out-local-0", scratch / "out-ray-0")
        local, ray = statistics.median(times["local"]), statistics.median(times["ray"])
        result = {
            "cpu": cpu_model(),
            "cpu_flags_digest": cpu_flags_digest(),
            "cores": os.cpu_count(),
            "photos": photos,
            "copies": args.copies,
            "kind": args.kind,
            "rounds": args.rounds,
            "local_s": times["local"],
            "ray_s": times["ray"],
            "local_photos_per_s": round(photos / local, 3),
            "ray_photos_per_s": round(photos / ray, 3),
            "ray_vs_local_throughput": round(local / ray, 3),
            "outputs_compared": compared,
            "outputs_differing": differ,
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
