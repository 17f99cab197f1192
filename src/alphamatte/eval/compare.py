"""A pipeline's scores next to the plain pipeline's, per source and per size regime.

Whole-image sums (SAD, gradient, connectivity) grow with the pixel count, so a 24 MP photo
would outweigh twenty 800 px ones in a plain mean. Every sum is therefore divided by the
photo's megapixels before anything is averaged, and each photo is also judged on its own: the
ratio of its SAD to plain's, the median of those ratios and how many photos beat plain. A mean
can be carried by one photo; the median and the win count cannot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from alphamatte.eval.dataset import Report, Result

LARGE_SIDE = 1024  # above this the matte has to be brought *up* to the photo's resolution
SUMMED = ("sad", "gradient", "connectivity")  # whole-image sums, divided by megapixels


def regime(result: Result) -> str:
    return "> 1024 px" if max(result.size) > LARGE_SIDE else "≤ 1024 px"


def megapixels(result: Result) -> float:
    width, height = result.size
    return width * height / 1e6


def per_mp(result: Result) -> dict[str, float]:
    """The result's metrics with whole-image sums divided by its megapixels."""
    scale = 1.0 / megapixels(result)
    return {m: v * scale if m in SUMMED else v for m, v in result.metrics.items()}


@dataclass(frozen=True)
class Comparison:
    """One group of photos: our means per MP, plain's, and the per-image view."""

    group: str
    count: int
    ours: dict[str, float]  # mean per MP (MSE is already per pixel)
    plain: dict[str, float]
    sad_ratios: tuple[float, ...]  # per photo, ours / plain (SAD per MP)
    seconds: float
    plain_seconds: float

    def ratio(self, metric: str) -> float:
        """Ratio of the means (ours / plain)."""
        base = self.plain[metric]
        return self.ours[metric] / base if base > 0 else float("inf")

    @property
    def median_sad_ratio(self) -> float:
        return float(np.median(self.sad_ratios))

    @property
    def wins(self) -> int:
        """Photos where our SAD is lower than plain's."""
        return sum(1 for r in self.sad_ratios if r < 1.0)


def _mean(results: Iterable[Result]) -> dict[str, float]:
    rows = [per_mp(r) for r in results]
    return {m: float(np.mean([row[m] for row in rows])) for m in rows[0]}


def compare(ours: Report, plain: Report) -> list[Comparison]:
    """Groups: each source, then each size regime over all sources (in that order)."""
    base = {(r.pair.source, r.pair.name): r for r in plain.results}
    groups: dict[str, list[tuple[Result, Result]]] = {}
    for result in ours.results:
        reference = base[(result.pair.source, result.pair.name)]
        groups.setdefault(result.pair.source, []).append((result, reference))
    for result in ours.results:
        reference = base[(result.pair.source, result.pair.name)]
        groups.setdefault(regime(result), []).append((result, reference))
    comparisons = []
    for group, pairs in groups.items():
        ratios = tuple(
            mine.metrics["sad"] / theirs.metrics["sad"] if theirs.metrics["sad"] > 0 else 1.0
            for mine, theirs in pairs
        )
        comparisons.append(
            Comparison(
                group=group,
                count=len(pairs),
                ours=_mean(mine for mine, _ in pairs),
                plain=_mean(theirs for _, theirs in pairs),
                sad_ratios=ratios,
                seconds=float(np.mean([mine.seconds for mine, _ in pairs])),
                plain_seconds=float(np.mean([theirs.seconds for _, theirs in pairs])),
            )
        )
    return comparisons
