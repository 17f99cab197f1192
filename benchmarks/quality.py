"""Matte quality on ../shared/eval: the plain pipeline next to alphamatte fast and best.

plain = stretch to a square of the max side, model, bilinear back to the input size (what the
hosted API and rembg do). Prints one table per source and max side; run from the repo root:

    .venv/bin/python benchmarks/quality.py [--dataset ../shared/eval] [--sides 1024 400]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alphamatte.engine.loader import load_matter
from alphamatte.engine.matting import Matter, MattingConfig
from alphamatte.eval.dataset import METRICS, Report, discover, evaluate
from alphamatte.imaging.resize import resize_image, resize_matte, to_uint8


def plain(matter: Matter) -> Callable[[np.ndarray], np.ndarray]:
    side = matter.canvas_side()

    def predict(rgb: np.ndarray) -> np.ndarray:
        batch = matter._normalise(resize_image(rgb, side, side)[None])
        alpha = np.clip(matter.session.run(batch)[0, 0], 0, 1)
        return to_uint8(resize_matte(alpha, rgb.shape[1], rgb.shape[0]))

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 400])
    args = parser.parse_args()
    pairs = list(discover(args.dataset))
    # One ONNX Runtime session shared by every variant: loading it per variant only costs time.
    base = load_matter()
    rows: list[tuple[str, int, str, dict[str, float], int]] = []
    per_image: dict[tuple[int, str], dict[str, float]] = {}
    for side in args.sides:
        variants = {
            "plain": plain(Matter(base.session, base.spec, MattingConfig(max_side=side))),
            "fast": Matter(base.session, base.spec, MattingConfig(max_side=side)).predict,
            "best": Matter(
                base.session, base.spec, MattingConfig(max_side=side, quality="best")
            ).predict,
        }
        for name, predict in variants.items():
            report: Report = evaluate(pairs, predict)
            for source, results in report.groups().items():
                rows.append((source, side, name, Report.mean(results), len(results)))
            for result in report.results:
                per_image[(side, f"{name}:{result.pair.name}")] = result.metrics
    header = f"| source | max side | pipeline | {' | '.join(METRICS)} | s/image | SAD vs plain |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for source, side, name, means, count in rows:
        base = next(r[3] for r in rows if r[0] == source and r[1] == side and r[2] == "plain")
        cells = " | ".join(
            f"{means[m]:.4f}" if m in ("mse", "gradient") else f"{means[m]:.2f}" for m in METRICS
        )
        print(
            f"| {source} ({count}) | {side} | {name} | {cells} | {means['seconds']:.2f} | "
            f"{means['sad'] / base['sad']:.2f}x |"
        )
    print("\nPer-image SAD (plain / fast / best):")
    for side in args.sides:
        names = sorted({key.split(":")[1] for (s, key) in per_image if s == side})
        for image in names:
            values = [per_image[(side, f"{v}:{image}")]["sad"] for v in ("plain", "fast", "best")]
            print(f"  {side} {image}: " + " / ".join(f"{v:.1f}" for v in values))


if __name__ == "__main__":
    main()
