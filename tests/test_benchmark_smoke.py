"""Benchmarks run and print their tables (smoke runs at a tiny size, so that a benchmark cannot
rot unnoticed: ``load.py``, the one README quotes for the server's overhead, did not start for a
whole release)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_pool_benchmark_runs_and_the_default_is_never_starved() -> None:
    ran = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "pool_fairness.py"),
            *("--requests", "3", "--load-s", "0.05", "--run-s", "0.01"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    rows = {
        line.split()[0]: line for line in ran.stdout.splitlines() if line[:5] in ("main ", "other")
    }
    assert "6x200" in rows["main"] and rows["main"].split()[-2] == "0%"
    assert "answered 200/s" in ran.stdout


def test_the_load_benchmark_starts_its_server_and_prints_its_table() -> None:
    ran = subprocess.run(
        [sys.executable, str(BENCHMARKS / "load.py"), "--requests", "60", "--concurrency", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "({200: 60})" in ran.stdout and "| requests/s |" in ran.stdout
