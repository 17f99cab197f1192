"""Evaluation pairs laid out as ``<source>/images/<name>.*`` + ``<source>/alpha/<name>.png``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

import numpy as np
from PIL import Image

from alphamatte.eval.metrics import all_metrics

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}
METRICS = ("sad", "mse", "gradient", "connectivity")


@dataclass(frozen=True)
class Pair:
    source: str
    name: str
    image: Path
    alpha: Path
    composite: bool = False


@dataclass
class Result:
    pair: Pair
    metrics: dict[str, float]
    seconds: float
    size: tuple[int, int] = (0, 0)  # (width, height) of the photo


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def groups(self) -> dict[str, list[Result]]:
        grouped: dict[str, list[Result]] = {}
        for result in self.results:
            grouped.setdefault(result.pair.source, []).append(result)
        return grouped

    @staticmethod
    def mean(results: list[Result]) -> dict[str, float]:
        means = {m: float(np.mean([r.metrics[m] for r in results])) for m in METRICS}
        means["seconds"] = float(np.mean([r.seconds for r in results]))
        return means

    def to_json(self) -> dict[str, object]:
        return {
            "images": [
                {
                    "source": r.pair.source,
                    "name": r.pair.name,
                    "width": r.size[0],
                    "height": r.size[1],
                    "seconds": r.seconds,
                    **r.metrics,
                }
                for r in self.results
            ],
            "means": {source: self.mean(rs) for source, rs in self.groups().items()},
        }


def discover(root: Path) -> Iterator[Pair]:
    """Every image with a same-named alpha, sources in name order."""
    composites: set[tuple[str, str]] = set()
    manifest = root / "MANIFEST.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()):
            if entry.get("composite"):
                composites.add((entry["source"], entry["name"]))
    for source_dir in sorted(p for p in root.iterdir() if (p / "images").is_dir()):
        alphas = {p.stem: p for p in (source_dir / "alpha").glob("*.png")}
        for image in sorted((source_dir / "images").iterdir()):
            if image.suffix.lower() in IMAGE_SUFFIXES and image.stem in alphas:
                key = (source_dir.name, image.stem)
                yield Pair(
                    source_dir.name, image.stem, image, alphas[image.stem], key in composites
                )


def first_of_each_source(pairs: list[Pair], count: int) -> list[Pair]:
    """The first ``count`` pairs of each source, in order (benchmarks' smoke runs)."""
    seen: dict[str, int] = {}
    kept = []
    for pair in pairs:
        seen[pair.source] = seen.get(pair.source, 0) + 1
        if seen[pair.source] <= count:
            kept.append(pair)
    return kept


def load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(pair.image) as image:
        rgb = np.asarray(image.convert("RGB"))
    with Image.open(pair.alpha) as alpha:
        gt = np.asarray(alpha.convert("L"))
    return rgb, gt


Predict = Callable[[np.ndarray], np.ndarray]  # RGB uint8 -> uint8 matte of the same size


def evaluate(
    pairs: list[Pair], predict: Predict, progress: Callable[[Result], None] | None = None
) -> Report:
    """Run ``predict`` on each pair and score it."""
    return evaluate_side_by_side(pairs, {"": predict}, progress)[""]


def evaluate_side_by_side(
    pairs: list[Pair],
    pipelines: dict[str, Predict],
    progress: Callable[[Result], None] | None = None,
    keep: Callable[[Pair, np.ndarray, np.ndarray, dict[str, np.ndarray]], None] | None = None,
) -> dict[str, Report]:
    """Score several pipelines photo by photo; one report per pipeline name.

    ``keep(pair, rgb, gt, mattes)`` sees every pipeline's matte of a photo together (for
    visual reports) before they are dropped: only one photo is held in memory at a time.
    """
    reports = {name: Report() for name in pipelines}
    for pair in pairs:
        rgb, gt = load_pair(pair)
        mattes = {}
        for name, predict in pipelines.items():
            start = perf_counter()
            pred = predict(rgb)
            seconds = perf_counter() - start
            if pred.shape != gt.shape:
                raise ValueError(f"{pair.name}: matte {pred.shape} but ground truth {gt.shape}")
            result = Result(pair, all_metrics(pred, gt), seconds, (gt.shape[1], gt.shape[0]))
            reports[name].results.append(result)
            mattes[name] = pred
            if progress is not None:
                progress(result)
        if keep is not None:
            keep(pair, rgb, gt, mattes)
    return reports
