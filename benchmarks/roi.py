"""What ``roi`` should mean: the model on the region only, or on the whole photo with
everything outside the region cleared. Both on every real photo of ../shared/eval, for a tight
region (the subject's box, 5 % margin) and a loose one (25 % margin), scored against the
ground truth over the whole photo. Prints each photo's SAD ratio (region / whole), the median
and the win count per source. Run from the repo root:

    .venv/bin/python benchmarks/roi.py [--dataset ../shared/eval] [--limit N]
        [--backend onnxruntime]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from alphamatte.config import default_models_dir
from alphamatte.engine.loader import load_matter
from alphamatte.eval.dataset import discover, first_of_each_source, load_pair
from alphamatte.eval.metrics import sad
from alphamatte.imaging.layout import Box, apply_roi


def subject_region(truth: np.ndarray, margin: float) -> Box:
    ys, xs = np.nonzero(truth > 0.02)
    height, width = truth.shape
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = round((bottom - top) * margin), round((right - left) * margin)
    return Box(
        max(0, left - dx), max(0, top - dy), min(width, right + dx), min(height, bottom + dy)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--limit", type=int, default=0, help="photos per source (0: all)")
    parser.add_argument("--backend", default="onnxruntime")
    args = parser.parse_args()
    matter = load_matter(directory=default_models_dir(), fetch=False, backend=args.backend)
    rows: dict[tuple[str, str], list[float]] = {}
    print("| photo | size | region | SAD whole+clear | SAD region only | ratio |")
    print("|---|---|---|---|---|---|")
    pairs = [p for p in discover(args.dataset) if not p.composite]
    for pair in first_of_each_source(pairs, args.limit) if args.limit else pairs:
        rgb, gt = load_pair(pair)
        truth = gt.astype(np.float32) / 255.0
        whole = matter.predict_float(rgb)
        for label, margin in (("tight", 0.05), ("loose", 0.25)):
            box = subject_region(truth, margin)
            cleared = apply_roi(whole, box)
            region = np.zeros_like(whole)
            crop = np.ascontiguousarray(rgb[box.top : box.bottom, box.left : box.right])
            region[box.top : box.bottom, box.left : box.right] = matter.predict_float(crop)
            a, b = sad(cleared, truth), sad(region, truth)
            rows.setdefault((pair.source, label), []).append(b / max(a, 1e-9))
            size = f"{rgb.shape[1]}x{rgb.shape[0]}"
            print(
                f"| {pair.source}/{pair.name} | {size} | {label} | {a:.1f} | {b:.1f} | "
                f"{b / max(a, 1e-9):.3f} |"
            )
    print("\n| source | region | photos | median ratio (region/whole) | region wins |")
    print("|---|---|---|---|---|")
    for (source, label), ratios in sorted(rows.items()):
        wins = sum(r < 1 for r in ratios)
        print(
            f"| {source} | {label} | {len(ratios)} | {statistics.median(ratios):.3f} | "
            f"{wins}/{len(ratios)} |"
        )


if __name__ == "__main__":
    main()
