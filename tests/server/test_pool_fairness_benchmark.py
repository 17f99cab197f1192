"""``benchmarks/pool_fairness.py`` runs and prints its table (a smoke run at a tiny size, so that
the benchmark cannot rot unnoticed), and its numbers say what the pool promises: the default
model is never refused for the other's sake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pool_fairness.py"


def test_the_pool_benchmark_runs_and_the_default_is_never_starved() -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", "3", "--load-s", "0.05", "--run-s", "0.01"],
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
