"""Model contracts on real weights, on ../shared/eval (both regimes):

1. IS-Net wrapped to BiRefNet's contract (ImageNet input, logits out), imported
   ``--like birefnet-general``, against IS-Net under its own contract in the same size regime
   (stretched to 1024²): SAD ratio per set (acceptance: within 0.5 %). The default pipeline's
   SAD (adaptive letterbox/stretch) is printed beside it.
2. ``u2netp`` through the engine against the U²-Net family's contract written out as its own
   code runs it (``alphamatte.eval.contracts.u2net_reference``): SAD per set, median per-image
   ratio and wins (acceptance: ours ≤ the reference on both sets).

    .venv/bin/python benchmarks/contracts.py [--dataset ../shared/eval] [--limit N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from time import perf_counter

import numpy as np

from alphamatte.config import default_models_dir
from alphamatte.engine.catalogue.entries import REGISTRY
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.catalogue.installed import imported_model, spec_to_toml
from alphamatte.engine.catalogue.spec import GENERIC
from alphamatte.engine.loader import load_matter
from alphamatte.eval.contracts import u2net_reference, wrap_like_birefnet
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import sad
from alphamatte.imaging.resize import to_uint8

SETS = ("alphamatting_lowres", "icm58_hires")


def per_set(pairs, predict, limit):  # type: ignore[no-untyped-def]
    """{set: [SAD per photo]} for ``predict``."""
    scores: dict[str, list[float]] = {}
    for pair in pairs:
        if pair.source not in SETS or len(scores.get(pair.source, [])) >= limit:
            continue
        rgb, gt = load_pair(pair)
        scores.setdefault(pair.source, []).append(sad(predict(rgb), gt))
    return scores


def summary(name: str, ours: dict[str, list[float]], ref: dict[str, list[float]]) -> None:
    for source in SETS:
        a, b = np.array(ours[source]), np.array(ref[source])
        ratios = a / np.maximum(b, 1e-9)
        print(
            f"| {name} | {source} ({len(a)}) | {a.sum():.1f} | {b.sum():.1f} "
            f"| {a.sum() / b.sum():.4f} | {statistics.median(ratios):.4f} "
            f"| {int((a <= b).sum())}/{len(a)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--limit", type=int, default=1000, help="photos per set")
    args = parser.parse_args()
    pairs = list(discover(args.dataset))
    print("| what | set | SAD ours | SAD reference | ratio of sums | median ratio | wins |")
    print("|---|---|---|---|---|---|---|")

    started = perf_counter()
    u2netp = load_matter(
        "u2netp", directory=default_models_dir(), backend="onnxruntime", fetch=False
    )
    import onnxruntime as ort

    raw = ort.InferenceSession(str(default_models_dir() / REGISTRY["u2netp"].filename))
    summary(
        "u2netp: engine vs family reference",
        per_set(pairs, u2netp.predict, args.limit),
        per_set(pairs, lambda rgb: to_uint8(u2net_reference(raw, rgb)), args.limit),
    )
    print(f"u2netp: {perf_counter() - started:.0f} s")

    started = perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        source = default_models_dir() / ISNET.filename
        shutil.copyfile(source, directory / ISNET.filename)
        wrapped = wrap_like_birefnet(source, directory / "isnet-as-birefnet.onnx")
        like = imported_model(
            "isnet-as-birefnet", wrapped.name, REGISTRY["birefnet-general"], sha256=None, size=None
        )
        (directory / "isnet-as-birefnet.model.toml").write_text(spec_to_toml(like))
        as_birefnet = load_matter(
            "isnet-as-birefnet", directory=directory, backend="onnxruntime", fetch=False
        )
        stretched = replace(
            ISNET, input=replace(ISNET.input, resize="stretch"), preparation=GENERIC
        )
        (directory / "isnet-stretched.model.toml").write_text(
            spec_to_toml(replace(stretched, name="isnet-stretched", family="isnet"))
        )
        own = load_matter(
            "isnet-stretched", directory=directory, backend="onnxruntime", fetch=False
        )
        default = load_matter(directory=default_models_dir(), backend="onnxruntime", fetch=False)
        wrapped_scores = per_set(pairs, as_birefnet.predict, args.limit)
        summary(
            "IS-Net like birefnet-general vs IS-Net (stretch 1024²)",
            wrapped_scores,
            per_set(pairs, own.predict, args.limit),
        )
        summary(
            "IS-Net like birefnet-general vs the default pipeline",
            wrapped_scores,
            per_set(pairs, default.predict, args.limit),
        )
    print(f"IS-Net: {perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
