"""Matte quality on ../shared/eval: the loaded model next to the plain pipeline.

plain = a Lanczos proxy of 1024 px, stretched to the model's square, the matte bilinear back to
the proxy and bicubic to the photo (what the hosted API and rembg do). Reports per source and
per size regime, per megapixel, with each photo's SAD ratio against plain, the median ratio and
the win count, then every photo's numbers. Run from the repo root:

    .venv/bin/python benchmarks/quality.py [--dataset ../shared/eval] [--only icm58_hires]
        [--report report.html]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.config import Settings, default_models_dir
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.engine.loader import load_matter
from alphamatte.engine.runtimes.backends import describe
from alphamatte.eval.compare import compare, per_mp
from alphamatte.eval.dataset import (
    Pair,
    discover,
    evaluate_side_by_side,
    first_of_each_source,
    load_pair,
)
from alphamatte.eval.metrics import background_leak
from alphamatte.eval.reference import plain
from alphamatte.eval.visual import VisualReport
from alphamatte.imaging.compose import cutout


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
    parser.add_argument("--only", default=None, help="only sources whose name contains this")
    parser.add_argument("--report", type=Path, default=None, help="HTML report of fast")
    parser.add_argument("--no-halo", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="photos per source (0: all)")
    parser.add_argument(
        "--backend", default=None, help="onnxruntime, openvino, cuda (default: ALPHAMATTE_BACKEND)"
    )
    args = parser.parse_args()
    pairs = [p for p in discover(args.dataset) if args.only is None or args.only in p.source]
    pairs = first_of_each_source(pairs, args.limit) if args.limit else pairs
    # One session shared by every variant (plain included): loading it per variant only costs
    # time, and the ratios against plain compare pipelines on the same runtime and precision.
    shared = load_matter(directory=default_models_dir(), backend=args.backend or Settings().backend)
    runtime = describe(shared.session)
    print(f"backend {runtime.backend} on {runtime.device}, {runtime.precision}")
    fast = Matter(shared.session, shared.spec, MattingConfig())
    visual = VisualReport() if args.report else None
    started = perf_counter()

    def keep(pair: Pair, rgb: np.ndarray, gt: np.ndarray, mattes: dict[str, np.ndarray]) -> None:
        if visual is not None:
            visual.keep(pair, rgb, gt, {"fast": mattes["fast"], "plain": mattes["plain"]})

    reports = evaluate_side_by_side(
        pairs,
        {"plain": plain(fast), "fast": fast.predict},
        keep=keep,
    )
    print(f"{len(pairs)} photos in {perf_counter() - started:.0f} s\n")
    print(
        "| group | pipeline | SAD/MP | plain | SAD ratio of means | median per-image ratio "
        "| wins | gradient ratio | s/photo | plain s/photo |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    summaries = {name: compare(reports[name], reports["plain"]) for name in ("fast",)}
    for index in range(len(summaries["fast"])):
        for name, summary in summaries.items():
            c = summary[index]
            print(
                f"| {c.group} ({c.count}) | {name} | {c.ours['sad']:.2f} | {c.plain['sad']:.2f} "
                f"| {c.ratio('sad'):.3f} | {c.median_sad_ratio:.3f} | {c.wins}/{c.count} "
                f"| {c.ratio('gradient'):.3f} | {c.seconds:.2f} | {c.plain_seconds:.2f} |"
            )
    print("\nPer photo, SAD/MP and gradient/MP (plain / fast):")
    for index, reference in enumerate(reports["plain"].results):
        rows = [per_mp(reports[n].results[index]) for n in ("plain", "fast")]
        width, height = reference.size
        print(
            f"  {reference.pair.source}/{reference.pair.name} {width}x{height}: SAD "
            + " / ".join(f"{r['sad']:.2f}" for r in rows)
            + "; gradient "
            + " / ".join(f"{r['gradient']:.3f}" for r in rows)
        )
    if visual is not None and args.report is not None:
        visual.write(
            args.report, "fast vs plain", reports["fast"], reports["plain"], summaries["fast"]
        )
    if not args.no_halo:
        halo_table(pairs, fast)


if __name__ == "__main__":
    main()
