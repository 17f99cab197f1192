"""`alphamatte eval DATASET_DIR`: our mattes scored next to the plain pipeline's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from alphamatte.cli.extras import require
from alphamatte.cli.options import load_matter_or_exit

if TYPE_CHECKING:
    from collections.abc import Callable

    from alphamatte.engine.inference.matting import Matter
    from alphamatte.eval.compare import Comparison
    from alphamatte.eval.dataset import Pair, Report, Result


def report_table(report: Report, plain: Report, title: str) -> Table:
    """One row per photo: metrics per megapixel and the SAD ratio against plain."""
    from alphamatte.eval.compare import per_mp

    base = {(r.pair.source, r.pair.name): r for r in plain.results}
    table = Table(title=title)
    columns = ("source", "image", "size", "SAD/MP", "MSE", "grad/MP", "conn/MP", "vs plain", "s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "image") else "right")
    for result in report.results:
        mine = per_mp(result)
        theirs = per_mp(base[(result.pair.source, result.pair.name)])
        ratio = mine["sad"] / theirs["sad"] if theirs["sad"] > 0 else 1.0
        table.add_row(
            result.pair.source,
            result.pair.name,
            f"{result.size[0]}×{result.size[1]}",
            f"{mine['sad']:.2f}",
            f"{mine['mse']:.4f}",
            f"{mine['gradient']:.3f}",
            f"{mine['connectivity']:.2f}",
            f"{ratio:.2f}×",
            f"{result.seconds:.2f}",
        )
    return table


def summary_table(summary: list[Comparison], title: str) -> Table:
    table = Table(title=title)
    columns = (
        "group",
        "photos",
        "SAD/MP",
        "plain",
        "ratio",
        "median ratio",
        "wins",
        "grad ratio",
        "s",
        "plain s",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "group" else "right")
    for c in summary:
        table.add_row(
            c.group,
            str(c.count),
            f"{c.ours['sad']:.2f}",
            f"{c.plain['sad']:.2f}",
            f"{c.ratio('sad'):.2f}×",
            f"{c.median_sad_ratio:.2f}×",
            f"{c.wins}/{c.count}",
            f"{c.ratio('gradient'):.2f}×",
            f"{c.seconds:.2f}",
            f"{c.plain_seconds:.2f}",
        )
    return table


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write per-image numbers, ours and plain's, and the summary as JSON.",
)
@click.option(
    "--report",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an HTML page: photo, truth, mattes and error maps, worst first.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="A model to score (catalogue name or imported); repeat to compare models side by "
    "side. Default: ALPHAMATTE_MODEL.",
)
@click.option(
    "--quality",
    type=click.Choice(["fast", "best"]),
    default=None,
    help="best: the strongest installed model (docs/models.md).",
)
@click.option("--max-side", type=click.IntRange(32, 1024), default=None)
def eval_command(
    dataset: Path,
    json_out: Path | None,
    html_out: Path | None,
    models: tuple[str, ...],
    quality: str | None,
    max_side: int | None,
) -> None:
    """Score mattes against ground truth, next to the plain pipeline, per source and size.

    Whole-image sums (SAD, gradient, connectivity) are per megapixel; "vs plain" is each
    photo's SAD over plain's (a 1024 px proxy stretched to the square, plain upscale). With
    several --model, each is also scored next to the first: per size regime, its metrics,
    seconds per megapixel and the process's peak memory while it ran.
    """
    engine: dict[str, object] = {
        "model": models[0] if models else None,
        "quality": quality,
        "max_side": max_side,
    }
    require("local", "`alphamatte eval`")
    from alphamatte.eval.compare import compare
    from alphamatte.eval.dataset import discover, evaluate_side_by_side
    from alphamatte.eval.reference import plain
    from alphamatte.eval.visual import VisualReport

    pairs = list(discover(dataset))
    if not pairs:
        raise click.ClickException(f"No <source>/images + <source>/alpha pairs under {dataset}.")
    matter = load_matter_or_exit(**engine)
    console = Console(stderr=True)
    ours_name = matter.name

    def progress(result: Result) -> None:
        console.print(f"{result.pair.source}/{result.pair.name}: SAD {result.metrics['sad']:.2f}")

    visual = VisualReport() if html_out is not None else None
    reports = evaluate_side_by_side(
        pairs,
        {ours_name: matter.predict, "plain": plain(matter)},
        progress,
        keep=visual.keep if visual is not None else None,
    )
    ours, reference = reports[ours_name], reports["plain"]
    summary = compare(ours, reference)
    title = f"{dataset} ({ours_name}, max side {matter.config.max_side})"
    out = Console()
    out.print(report_table(ours, reference, title))
    out.print(summary_table(summary, f"{ours_name} vs plain, means per megapixel"))
    document: dict[str, object] = {}
    if json_out is not None:
        document = {
            ours_name: ours.to_json(),
            "plain": reference.to_json(),
            "summary": [
                {
                    "group": c.group,
                    "photos": c.count,
                    "sad_per_mp": c.ours["sad"],
                    "plain_sad_per_mp": c.plain["sad"],
                    "sad_ratio": c.ratio("sad"),
                    "median_sad_ratio": c.median_sad_ratio,
                    "wins": c.wins,
                    "gradient_ratio": c.ratio("gradient"),
                }
                for c in summary
            ],
        }
    if len(models) > 1:
        others = _side_by_side(pairs, models, ours, matter, max_side, progress)
        out.print(models_table(others, ours, f"models side by side on {dataset}"))
        if json_out is not None:
            document["models"] = {
                name: {"report": report.to_json(), "peak_rss_mb": peak}
                for name, (report, peak) in others.items()
            }
    if json_out is not None:
        json_out.write_text(json.dumps(document, indent=2))
    if visual is not None and html_out is not None:
        visual.write(html_out, title, ours, reference, summary)
        console.print(f"Visual report: {html_out}")


def _side_by_side(
    pairs: list[Pair],
    models: tuple[str, ...],
    first_report: Report,
    first: Matter,
    max_side: int | None,
    progress: Callable[[Result], None],
) -> dict[str, tuple[Report, float]]:
    """{model: (its report, the most resident memory its load and run added, MB)}. Every
    model runs here, the first one again too, so that each is timed and measured alike."""
    import gc

    from alphamatte.eval.dataset import evaluate

    found: dict[str, tuple[Report, float]] = {}
    del first
    gc.collect()
    for name in models:
        with PeakRss() as peak:
            matter = load_matter_or_exit(model=name, max_side=max_side)
            report = evaluate(pairs, matter.predict, progress)
        found[name] = (report, peak.mb - peak.base)
        del matter
        gc.collect()
    return found


class PeakRss:
    """The process's largest resident size while the block runs (``mb``), sampled every
    20 ms, and its size when the block began (``base``)."""

    def __enter__(self) -> PeakRss:
        import threading

        self.base = self.mb = self._resident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _resident() -> float:
        import os

        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.mb = max(self.mb, self._resident())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def models_table(found: dict[str, tuple[Report, float]], first: Report, title: str) -> Table:
    """Per size regime and model: means per megapixel, SAD against the first model per photo
    (median ratio, wins), seconds per megapixel and peak memory."""
    from alphamatte.eval.compare import compare, megapixels

    table = Table(title=title)
    columns = (
        "group",
        "model",
        "SAD/MP",
        "grad/MP",
        "MSE",
        "conn/MP",
        "median vs 1st",
        "wins vs 1st",
        "s/MP",
        "+MB peak",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("group", "model") else "right")
    for name, (report, peak) in found.items():
        for c in compare(report, first):
            if c.group in {r.pair.source for r in report.results}:
                continue  # per source rows stay in the tables above; regimes here
            members = [r for r in report.results if _in_group(r, c.group)]
            seconds = sum(r.seconds for r in members) / max(
                sum(megapixels(r) for r in members), 1e-9
            )
            table.add_row(
                c.group,
                name,
                f"{c.ours['sad']:.2f}",
                f"{c.ours['gradient']:.3f}",
                f"{c.ours['mse']:.4f}",
                f"{c.ours['connectivity']:.2f}",
                f"{c.median_sad_ratio:.2f}×",
                f"{c.wins}/{c.count}",
                f"{seconds:.2f}",
                f"{peak:.0f}",
            )
    return table


def _in_group(result: Result, group: str) -> bool:
    from alphamatte.eval.compare import regime

    return regime(result) == group
