"""Matte quality on ../shared/eval: the plain pipeline next to alphamatte fast and best.

plain = stretch to a square of the max side, model, bilinear back to the input size (what the
hosted API and rembg do). Prints one table per source and max side; run from the repo root:

    .venv/bin/python benchmarks/quality.py [--dataset ../shared/eval] [--sides 1024 400]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.engine.loader import load_matter
from alphamatte.engine.matting import Matter, MattingConfig
from alphamatte.eval.dataset import METRICS, Pair, Report, discover, evaluate, load_pair
from alphamatte.eval.metrics import background_leak
from alphamatte.imaging.compose import cutout
from alphamatte.imaging.resize import resize_image, resize_matte, to_uint8


def plain(matter: Matter) -> Callable[[np.ndarray], np.ndarray]:
    side = matter.canvas_side()

    def predict(rgb: np.ndarray) -> np.ndarray:
        batch = matter._normalise(resize_image(rgb, side, side)[None])
        alpha = np.clip(matter.session.run(batch)[0, 0], 0, 1)
        return to_uint8(resize_matte(alpha, rgb.shape[1], rgb.shape[0]))

    return predict


def bicubic(matter: Matter) -> Callable[[np.ndarray], np.ndarray]:
    """alphamatte fast, but the matte brought to full size by plain bicubic interpolation."""

    def predict(rgb: np.ndarray) -> np.ndarray:
        coarse = matter.coarse(rgb)
        return to_uint8(resize_matte(coarse, rgb.shape[1], rgb.shape[0], cubic=True))

    return predict


def halo_table(pairs: list[Pair], fast: Matter) -> None:
    """Old background left in cutout edges (``background_leak``), raw vs decontaminated."""
    rows = []
    for pair in pairs:
        if pair.composite:
            continue
        rgb, gt = load_pair(pair)
        truth = gt.astype(np.float32) / 255.0
        pred = fast.predict_float(rgb)
        start = perf_counter()
        clean_pred = cutout(rgb, pred)[:, :, :3]
        seconds = perf_counter() - start
        rows.append(
            (
                background_leak(rgb, truth, rgb, truth),
                background_leak(cutout(rgb, truth)[:, :, :3], truth, rgb, truth),
                background_leak(rgb, pred, rgb, truth),
                background_leak(clean_pred, pred, rgb, truth),
                seconds,
            )
        )
    means = np.mean(np.array(rows), axis=0)
    print(f"\nHalo: old background visible in the edge band, % ({len(rows)} real photos)")
    print("| alpha | raw cutout | decontaminated | ratio |")
    print("|---|---|---|---|")
    print(f"| ground truth | {means[0]:.2f} | {means[1]:.2f} | {means[1] / means[0]:.2f}x |")
    print(f"| alphamatte fast | {means[2]:.2f} | {means[3]:.2f} | {means[3] / means[2]:.2f}x |")
    print(f"decontamination: {means[4] * 1000:.0f} ms per photo on average")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 400])
    args = parser.parse_args()
    pairs = list(discover(args.dataset))
    # One ONNX Runtime session shared by every variant: loading it per variant only costs time.
    shared = load_matter()
    rows: list[tuple[str, int, str, dict[str, float], int]] = []
    per_image: dict[tuple[int, str, str], dict[str, float]] = {}
    for side in args.sides:
        fast = Matter(shared.session, shared.spec, MattingConfig(max_side=side))
        best = Matter(shared.session, shared.spec, MattingConfig(max_side=side, quality="best"))
        variants = {
            "plain": plain(fast),
            "fast, bicubic up": bicubic(fast),
            "fast": fast.predict,
            "best": best.predict,
        }
        for name, predict in variants.items():
            report: Report = evaluate(pairs, predict)
            for source, results in report.groups().items():
                rows.append((source, side, name, Report.mean(results), len(results)))
            for result in report.results:
                per_image[(side, name, result.pair.name)] = result.metrics
    header = (
        f"| source | max side | pipeline | {' | '.join(METRICS)} | s/image "
        "| SAD vs plain | gradient vs plain |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for source, side, name, means, count in rows:
        base = next(r[3] for r in rows if r[0] == source and r[1] == side and r[2] == "plain")
        cells = " | ".join(
            f"{means[m]:.4f}" if m in ("mse", "gradient") else f"{means[m]:.2f}" for m in METRICS
        )
        print(
            f"| {source} ({count}) | {side} | {name} | {cells} | {means['seconds']:.2f} | "
            f"{means['sad'] / base['sad']:.2f}x | {means['gradient'] / base['gradient']:.2f}x |"
        )
    names = ("plain", "fast, bicubic up", "fast", "best")
    for metric in ("sad", "gradient"):
        print(f"\nPer-image {metric} ({' / '.join(names)}):")
        for side in args.sides:
            for image in sorted({key[2] for key in per_image if key[0] == side}):
                values = [per_image[(side, v, image)][metric] for v in names]
                print(f"  {side} {image}: " + " / ".join(f"{v:.3f}" for v in values))
    halo_table(pairs, Matter(shared.session, shared.spec, MattingConfig(max_side=1024)))


if __name__ == "__main__":
    main()
