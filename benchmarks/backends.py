"""Every backend/precision candidate on this machine: speed per 1024² and matte agreement, and
what ``auto`` picked here against the fastest candidate within the precision budget.

The candidates are engine/selection.py's (ONNX Runtime f32/int8, OpenVINO f32/bf16/int8 where
they run). Runs alternate for ``--rounds`` on the real photos of ../shared/eval (letterboxed
as ``fast`` does), so machine noise hits all; the matte difference is taken against ONNX
Runtime f32.

    .venv/bin/python benchmarks/backends.py [--rounds 5] [--photos 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.config import default_models_dir
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, normalise
from alphamatte.engine.loader import choose_runtime, open_candidate
from alphamatte.engine.runtimes.backends import describe
from alphamatte.engine.runtimes.openvino import openvino_bf16, openvino_installed
from alphamatte.engine.runtimes.selection import REFERENCE, Capabilities, budget_verdicts, runnable
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import sad

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=6)
    args = parser.parse_args()
    source = default_models_dir() / ISNET.filename
    has_openvino = openvino_installed()
    candidates = runnable(Capabilities(has_openvino, has_openvino and openvino_bf16(), False))
    matters = {}
    for candidate in candidates:
        matters[str(candidate)] = Matter(open_candidate(ISNET, source, candidate), ISNET)
    pairs = [p for p in discover(EVAL) if not p.composite][: args.photos]
    photos = [load_pair(p) for p in pairs]
    reference = matters[str(REFERENCE)]
    batch = normalise(np.full((1, 1024, 1024, 3), 127, np.uint8), reference.spec)
    for matter in matters.values():
        matter.session.run(batch)  # compile / warm up
    times: dict[str, list[float]] = {name: [] for name in matters}
    for _ in range(args.rounds):
        for name, matter in matters.items():
            start = perf_counter()
            matter.session.run(batch)
            times[name].append(perf_counter() - start)
    mattes = {name: [m.predict_float(rgb) for rgb, _ in photos] for name, m in matters.items()}
    verdicts = budget_verdicts()
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in flags.splitlines() if "Model name" in ln), "?"
    )
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16")
    present = [f for f in wanted if f" {f} " in f" {flags.split('Flags:')[-1]} "]
    print(f"{model} [{' '.join(present)}]")
    print(f"{len(photos)} photos, {args.rounds} alternating rounds of one 1024² inference\n")
    print(
        "| candidate | runtime | s per 1024² (median) | speed vs ORT f32 "
        "| max abs diff | mean abs diff | SAD | within budget |"
    )
    print("|---|---|---|---|---|---|---|---|")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, matter in matters.items():
        runtime = describe(matter.session)
        diffs = [np.abs(a - b) for a, b in zip(mattes[name], mattes[str(REFERENCE)], strict=True)]
        sads = [
            sad(m, gt.astype(np.float32) / 255)
            for m, (_, gt) in zip(mattes[name], photos, strict=True)
        ]
        print(
            f"| {name} | {runtime.version} | {medians[name]:.3f} | "
            f"{medians[str(REFERENCE)] / medians[name]:.2f}x | "
            f"{max(float(d.max()) for d in diffs):.4f} | "
            f"{float(np.mean([d.mean() for d in diffs])):.5f} | {float(np.mean(sads)):.2f} | "
            f"{'yes' if verdicts.get(name) else 'no'} |"
        )
    chosen = choose_runtime(ISNET, source, "auto")
    within = [n for n in medians if verdicts.get(n)]
    fastest = min(within, key=medians.__getitem__)
    print(f"\nauto picks {chosen.choice} ({chosen.reason})")
    print(
        f"fastest within the budget in this run: {fastest}; auto's pick takes "
        f"{medians[chosen.choice] / medians[fastest]:.2f}x its time"
    )


if __name__ == "__main__":
    main()
