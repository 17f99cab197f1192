"""Which backend/precision candidates keep ONNX Runtime f32's mattes: the precision budget.

Every candidate this machine runs (engine/selection.py) mattes the real photos of
../shared/eval with ``fast``; against the ground truth, each photo's SAD and gradient error
(per megapixel) are divided by ONNX Runtime f32's. A candidate is within the budget when, on
both size regimes (≤ 1024 px and > 1024 px), the ratio of the means and the median of the
per-photo ratios are at most ``selection.BUDGET`` for both metrics. ``--write`` stores the
verdicts where ``auto`` reads them (src/alphamatte/engine/precision_budget.json).

    .venv/bin/python benchmarks/precision.py [--write] [--only onnxruntime-int8,openvino-int8]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.config import default_models_dir
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter
from alphamatte.engine.loader import open_candidate, runtime_versions
from alphamatte.engine.runtimes.openvino import openvino_bf16, openvino_installed
from alphamatte.engine.runtimes.selection import (
    BUDGET,
    REFERENCE,
    Candidate,
    Capabilities,
    cpu_model,
    runnable,
)
from alphamatte.eval.dataset import discover, first_of_each_source, load_pair
from alphamatte.eval.metrics import gradient_error, sad

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
VERDICTS = ROOT / "src" / "alphamatte" / "engine" / "precision_budget.json"
METRICS = ("sad", "gradient")


def regime(rgb: np.ndarray) -> str:
    return "large" if max(rgb.shape[:2]) > 1024 else "small"


def judge(
    scores: dict[str, list[dict[str, float]]], reference: str, regimes: list[str]
) -> dict[str, dict[str, object]]:
    """Per candidate: for each regime and metric, ratio of means and median per-photo ratio."""
    verdicts: dict[str, dict[str, object]] = {}
    base = scores[reference]
    for name, rows in scores.items():
        table: dict[str, float] = {}
        for group in regimes:
            index = [i for i, row in enumerate(base) if row["regime"] == group]
            for metric in METRICS:
                mine = [rows[i][metric] for i in index]
                theirs = [base[i][metric] for i in index]
                table[f"{group} {metric} mean"] = float(np.mean(mine) / np.mean(theirs))
                ratios = [m / t if t > 0 else 1.0 for m, t in zip(mine, theirs, strict=True)]
                table[f"{group} {metric} median"] = float(statistics.median(ratios))
        worst = max(table.values())
        verdicts[name] = {"within_budget": worst <= BUDGET, "worst": round(worst, 4)} | {
            k: round(v, 4) for k, v in table.items()
        }
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the verdicts for auto")
    parser.add_argument("--only", default="", help="candidates, e.g. openvino-int8 (f32 always)")
    parser.add_argument("--limit", type=int, default=0, help="photos per source (0: all)")
    args = parser.parse_args()
    has_openvino = openvino_installed()
    candidates = runnable(Capabilities(has_openvino, has_openvino and openvino_bf16(), False))
    if args.only:
        wanted = {Candidate(*n.split("-")) for n in args.only.split(",")} | {REFERENCE}
        candidates = [c for c in candidates if c in wanted]
    source = default_models_dir() / ISNET.filename
    matters = {}
    for candidate in candidates:
        matters[str(candidate)] = Matter(open_candidate(ISNET, source, candidate), ISNET)
    pairs = [p for p in discover(EVAL) if not p.composite]
    pairs = first_of_each_source(pairs, args.limit) if args.limit else pairs
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in matters}
    seconds = dict.fromkeys(matters, 0.0)
    for pair in pairs:
        rgb, gt = load_pair(pair)
        truth = gt.astype(np.float32) / 255.0
        mp = rgb.shape[0] * rgb.shape[1] / 1e6
        for name, matter in matters.items():
            start = perf_counter()
            alpha = matter.predict_float(rgb)
            seconds[name] += perf_counter() - start
            scores[name].append(
                {
                    "regime": regime(rgb),  # type: ignore[dict-item]
                    "sad": sad(alpha, truth) / mp,
                    "gradient": gradient_error(alpha, truth) / mp,
                }
            )
        print(
            pair.name,
            " ".join(f"{n.replace(' ', '-')}={scores[n][-1]['sad']:.2f}" for n in matters),
            flush=True,
        )
    regimes = ["small", "large"]
    verdicts = judge(scores, str(REFERENCE), regimes)
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    wanted_flags = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16")
    present = [f for f in wanted_flags if f" {f} " in f" {flags.split('Flags:')[-1]} "]
    print(
        f"\n{len(pairs)} photos ({sum(1 for r in scores[str(REFERENCE)] if r['regime'] == 'small')}"
        f" ≤ 1024 px), {cpu_model()} [{' '.join(present)}]; budget {BUDGET}x f32\n"
    )
    columns = [f"{g} {m} {s}" for g in regimes for m in METRICS for s in ("mean", "median")]
    print("| candidate | " + " | ".join(columns) + " | within | s per photo |")
    print("|---" * (len(columns) + 3) + "|")
    for name, verdict in verdicts.items():
        cells = " | ".join(f"{verdict[c]:.3f}" for c in columns)
        mark = "yes" if verdict["within_budget"] else "no"
        print(f"| {name} | {cells} | {mark} | {seconds[name] / len(pairs):.2f} |")
    if args.write:
        document = {
            "budget": BUDGET,
            "rule": "SAD and gradient per MP against ONNX Runtime f32 on the real photos of "
            "shared/eval, both size regimes, ratio of means and median per-photo ratio",
            "measured": {
                "date": datetime.now(UTC).date().isoformat(),
                "cpu": f"{cpu_model()} [{' '.join(present)}]",
                "machine": platform.machine(),
                "runtimes": runtime_versions(),
                "photos": len(pairs),
            },
            "candidates": {n: v for n, v in verdicts.items() if n != str(REFERENCE)},
        }
        VERDICTS.write_text(json.dumps(document, indent=1) + "\n")
        print(f"\nwritten to {VERDICTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
