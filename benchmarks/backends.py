"""ONNX Runtime (fp32, int8) vs OpenVINO on this machine: speed per 1024² and matte agreement.

ONNX Runtime fp32 and OpenVINO open the same prepared fp32 graph; ONNX Runtime int8 and
OpenVINO int8 the QDQ graph engine/quantize.py builds from it. Runs alternate for ``--rounds``
on the real photos of ../shared/eval (letterboxed as ``fast`` does), so machine noise hits all;
the matte difference is taken against ONNX Runtime fp32. Ends with the backend ``auto`` picks here.

    .venv/bin/python benchmarks/backends.py [--rounds 3] [--photos 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.engine.backends import OpenVinoSession, choose, describe, openvino_installed
from alphamatte.engine.cache import models_dir
from alphamatte.engine.loader import load_matter
from alphamatte.engine.matting import Matter
from alphamatte.engine.prepare import prepared_path
from alphamatte.engine.quantize import quantize
from alphamatte.engine.session import OrtSession
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import sad

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--photos", type=int, default=6)
    args = parser.parse_args()
    os.environ["ALPHAMATTE_CPU_PRECISION"] = "f32"  # the reference
    base = load_matter(backend="onnxruntime")
    graph = prepared_path(models_dir() / base.spec.filename)
    sessions: dict[str, OrtSession | OpenVinoSession] = {"onnxruntime": base.session}  # type: ignore[dict-item]
    sessions["onnxruntime int8"] = OrtSession(
        quantize(graph, base.spec), dynamic=True, precision="int8"
    )
    if openvino_installed():
        sessions["openvino"] = OpenVinoSession(graph, dynamic=True)
        # OpenVINO reads the QDQ graph's quantize/dequantize pairs and runs those parts in int8.
        quantized = OpenVinoSession(quantize(graph, base.spec), dynamic=True)
        quantized.precision = "int8"
        sessions["openvino int8"] = quantized
    matters = {name: Matter(s, base.spec, base.config) for name, s in sessions.items()}
    pairs = [p for p in discover(EVAL) if not p.composite][: args.photos]
    photos = [load_pair(p) for p in pairs]
    batch = matters["onnxruntime"]._normalise(np.full((1, 1024, 1024, 3), 127, np.uint8))
    for session in sessions.values():
        session.run(batch)  # compile / warm up
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            start = perf_counter()
            session.run(batch)
            times[name].append(perf_counter() - start)
    mattes = {name: [m.predict_float(rgb) for rgb, _ in photos] for name, m in matters.items()}
    print(f"{len(photos)} photos, {args.rounds} alternating rounds of one 1024² inference\n")
    print(
        "| backend | precision | s per 1024² (median) | speed vs ORT "
        "| max abs diff | mean abs diff | SAD |"
    )
    print("|---|---|---|---|---|---|---|")
    ort_time = statistics.median(times["onnxruntime"])
    for name, session in sessions.items():
        runtime = describe(session)
        diffs = [np.abs(a - b) for a, b in zip(mattes[name], mattes["onnxruntime"], strict=True)]
        sads = [
            sad(m, gt.astype(np.float32) / 255)
            for m, (_, gt) in zip(mattes[name], photos, strict=True)
        ]
        median = statistics.median(times[name])
        print(
            f"| {name.split()[0]} {runtime.version} | {runtime.precision} | {median:.2f} | "
            f"{ort_time / median:.2f}x | {max(float(d.max()) for d in diffs):.4f} | "
            f"{float(np.mean([d.mean() for d in diffs])):.5f} | {float(np.mean(sads)):.2f} |"
        )
    print(f"\nauto picks: {choose('auto')}")


if __name__ == "__main__":
    main()
