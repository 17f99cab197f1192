"""`alphamatte eval DATASET_DIR`."""

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
    from alphamatte.eval.dataset import Report, Result


def report_table(report: Report, title: str) -> Table:
    from alphamatte.eval.dataset import METRICS, Report

    table = Table(title=title)
    for column in ("source", "image", *METRICS, "s/image"):
        table.add_column(column, justify="left" if column in ("source", "image") else "right")
    for source, results in report.groups().items():
        for result in results:
            table.add_row(source, result.pair.name, *_cells(result.metrics, result.seconds))
        means = Report.mean(results)
        table.add_row(source, f"[b]mean of {len(results)}[/b]", *_cells(means, means["seconds"]))
    return table


def _cells(metrics: dict[str, float], seconds: float) -> list[str]:
    return [
        f"{metrics['sad']:.2f}",
        f"{metrics['mse']:.4f}",
        f"{metrics['gradient']:.3f}",
        f"{metrics['connectivity']:.2f}",
        f"{seconds:.2f}",
    ]


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write per-image and mean numbers as JSON.",
)
@engine_options
def eval_command(dataset: Path, json_out: Path | None, **engine: object) -> None:
    """Score mattes against ground truth: SAD, MSE, gradient, connectivity, seconds."""
    require("local", "`alphamatte eval`")
    from alphamatte.eval.dataset import discover, evaluate

    pairs = list(discover(dataset))
    if not pairs:
        raise click.ClickException(f"No <source>/images + <source>/alpha pairs under {dataset}.")
    matter = load_matter_or_exit(**engine)
    console = Console(stderr=True)

    def progress(result: Result) -> None:
        console.print(f"{result.pair.source}/{result.pair.name}: SAD {result.metrics['sad']:.2f}")

    report = evaluate(pairs, matter.predict, progress)
    Console().print(
        report_table(
            report, f"{dataset} ({matter.config.quality}, max side {matter.config.max_side})"
        )
    )
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_json(), indent=2))
