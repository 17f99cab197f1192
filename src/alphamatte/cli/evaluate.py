"""`alphamatte eval DATASET_DIR`: our mattes scored next to the plain pipeline's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from alphamatte.cli.extras import require
from alphamatte.cli.options import engine_options, load_matter_or_exit

if TYPE_CHECKING:
    from alphamatte.eval.compare import Comparison
    from alphamatte.eval.dataset import Report, Result


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
@engine_options
def eval_command(
    dataset: Path, json_out: Path | None, html_out: Path | None, **engine: object
) -> None:
    """Score mattes against ground truth, next to the plain pipeline, per source and size.

    Whole-image sums (SAD, gradient, connectivity) are per megapixel; "vs plain" is each
    photo's SAD over plain's (a 1024 px proxy stretched to the square, plain upscale).
    """
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
        json_out.write_text(json.dumps(document, indent=2))
    if visual is not None and html_out is not None:
        visual.write(html_out, title, ours, reference, summary)
        console.print(f"Visual report: {html_out}")
