"""Every benchmark runs and prints its table (smoke runs at a tiny size), so that a benchmark
cannot rot unnoticed: ``load.py``, the one README quotes for the server's overhead, did not start
for a whole release, and ``speed.py`` imported a name that no longer existed.

Three need what a test machine has not and must not get (a download, a GPU, another tool's
virtualenv): for them the smoke is that the script imports everything it uses and parses its
arguments. ONNX Runtime is pinned where a script would otherwise measure ``auto`` first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
EVAL = ROOT.parent / "shared" / "eval"
LOWRES = EVAL / "alphamatting_lowres" / "images"

# script → (arguments, text its output must hold, seconds allowed)
RUNS: dict[str, tuple[list[str], str, int]] = {
    "backends.py": (["--rounds", "1", "--photos", "1"], "| onnxruntime f32 |", 600),
    "contracts.py": (["--limit", "1"], "IS-Net like birefnet-general", 900),
    "memory.py": (["--clients", "1", "--side", "600", "--budgets", "0"], "| none |", 600),
    "one_photo.py": ([str(LOWRES / "GT01.png"), "--rounds", "1"], "median of 1", 600),
    "phone_formats.py": (
        ["--photos", "1", "--rounds", "1", "--max-side", "400"],
        "median HEIC/JPEG",
        600,
    ),
    "precision.py": (["--only", "onnxruntime-f32", "--limit", "1"], "onnxruntime", 900),
    "proxy_vs_full.py": (["--rounds", "1"], "SDK / full", 600),
    "quality.py": (["--only", "alphamatting_lowres", "--limit", "2", "--no-halo"], "|", 900),
    "removebg.py": (["--rounds", "1", "--photo", str(LOWRES / "GT01.png")], "|", 600),
    "roi.py": (["--limit", "1"], "region wins", 900),
    "two_models.py": (["--requests", "4", "--clients", "2"], "statuses {200: 4}", 900),
    "pool_fairness.py": (
        ["--requests", "3", "--load-s", "0.05", "--run-s", "0.01"],
        "answered 200/s",
        300,
    ),
    "load.py": (["--requests", "60", "--concurrency", "2"], "|", 600),
}
NEEDS_WHAT_TESTS_HAVE_NOT = {
    "cli_vs_rembg.py": "rembg in its own virtualenv (a download)",
    "footprint.py": "fresh virtualenvs installed from the package index (a download)",
    "gpu.py": "an NVIDIA GPU",
    "speed.py": "rembg beside it (a download)",
}
RAY = {
    "ray_batch.py": "matte",
    "ray_memory.py": "",
}


def _run(script: str, args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ALPHAMATTE_BACKEND": "onnxruntime"}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment,
    )


def test_every_benchmark_has_a_smoke_run() -> None:
    scripts = {path.name for path in BENCHMARKS.glob("*.py")}
    assert scripts == set(RUNS) | set(NEEDS_WHAT_TESTS_HAVE_NOT) | set(RAY)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_the_benchmark_runs_and_prints_its_table(script: str) -> None:
    if not EVAL.is_dir():
        pytest.skip("../shared/eval is not present")
    args, marker, timeout = RUNS[script]
    ran = _run(script, args, timeout)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert marker in ran.stdout, ran.stdout[-3000:]


@pytest.mark.parametrize("script", sorted(NEEDS_WHAT_TESTS_HAVE_NOT))
def test_a_benchmark_that_needs_more_still_imports_and_parses(script: str) -> None:
    ran = _run(script, ["--help"], 120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "usage:" in ran.stdout


@pytest.mark.slow
def test_the_ray_benchmarks_run_a_tiny_job(tmp_path: Path) -> None:
    if not EVAL.is_dir():
        pytest.skip("../shared/eval is not present")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "GT01.png").write_bytes((LOWRES / "GT01.png").read_bytes())
    batch = _run("ray_batch.py", [str(photos), "--kind", "matte", "--rounds", "1"], 900)
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert '"outputs_differing": 0' in batch.stdout
    memory = _run("ray_memory.py", ["--photos", "8", "--nodes", "1", "--max-side", "64"], 900)
    assert memory.returncode == 0, memory.stderr[-3000:]
    assert "median_mib_by_thousand" in memory.stdout
