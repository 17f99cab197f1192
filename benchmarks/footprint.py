"""What each install costs: venv size and the import time of the SDK, per extra.

Builds the wheel once, installs it into a fresh virtualenv per extra (base, edges, local,
server, all) from the configured package index, and prints the size each adds over an empty
venv, the time `import alphamatte.client` takes there and the time to also load what the first
image needs (NumPy, the imaging code), each the median of 5 fresh interpreters. Run
from the repo root:

    .venv/bin/python benchmarks/footprint.py [--extras base,local] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("base", "edges", "local", "server", "openvino", "all")
SDK = "import alphamatte.client"
# What the first matte loads on top: NumPy and the imaging code (refinement, cutouts).
FIRST_IMAGE = SDK + "; import alphamatte.client.source, alphamatte.imaging.refine"


def build_wheel(out_dir: Path) -> Path:
    """The project's wheel, built the way a release would be (``python -m build``)."""
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out_dir), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out_dir.glob("alphamatte-*.whl"))


def make_venv(path: Path) -> Path:
    """A fresh virtualenv; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def pip_install(python: Path, *requirements: str) -> None:
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )


def requirement(wheel: Path, extra: str) -> str:
    return str(wheel) if extra == "base" else f"alphamatte[{extra}] @ {wheel.as_uri()}"


def tree_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            full = Path(folder, name)
            if not full.is_symlink():
                total += full.stat().st_size
    return total


def import_seconds(python: Path, runs: int = 5, statement: str = SDK) -> float:
    """Median time of ``statement`` in fresh interpreters (bytecode warmed first)."""
    subprocess.run([str(python), "-c", statement], check=True)
    timer = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    run = [str(python), "-c", timer]
    times = [
        float(subprocess.run(run, check=True, capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extras", default=",".join(EXTRAS))
    parser.add_argument("--keep", type=Path, default=None, help="Build the venvs here.")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    work = args.keep or Path(tempfile.mkdtemp(prefix="alphamatte-footprint-"))
    work.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(work / "dist")
    empty = tree_bytes(make_venv(work / "empty").parents[1])
    print(
        f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB; empty venv {empty / 1e6:.0f} MB"
    )
    print(
        f"{'install':<10} {'venv MB':>8} {'added MB':>9} {'import SDK':>11} {'+ first image':>14}"
    )
    for extra in extras:
        python = make_venv(work / f"venv-{extra}")
        pip_install(python, requirement(wheel, extra))
        size = tree_bytes(python.parents[1])
        sdk = import_seconds(python)
        first = import_seconds(python, statement=FIRST_IMAGE)
        print(
            f"{extra:<10} {size / 1e6:>8.0f} {(size - empty) / 1e6:>9.0f} "
            f"{sdk:>10.3f}s {first:>13.3f}s"
        )


if __name__ == "__main__":
    main()
