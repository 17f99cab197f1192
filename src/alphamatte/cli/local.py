"""`alphamatte matte` and `alphamatte cutout` on this machine's CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from alphamatte.cli.files import check_destinations, expand_inputs, output_path
from alphamatte.cli.options import engine_options, load_matter_or_exit
from alphamatte.imaging.decode import DecodedImage, decode
from alphamatte.imaging.encode import encode_png
from alphamatte.imaging.errors import ImageError

Render = Callable[[DecodedImage], np.ndarray]


def _run(
    kind: str,
    inputs: tuple[Path, ...],
    out: Path | None,
    out_dir: Path | None,
    render_factory: Callable[[], Render],
) -> None:
    err = Console(stderr=True)
    files = expand_inputs(inputs)
    if not files:
        raise click.UsageError("No images found in the given inputs.")
    check_destinations(len(files), out, out_dir)
    render = render_factory()
    failures: list[tuple[Path, str]] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=len(files) < 2,
    ) as progress:
        task = progress.add_task(kind, total=len(files))
        for source, base in files:
            target = output_path(source, base, out=out, out_dir=out_dir, suffix=kind)
            try:
                pixels = render(decode(source.read_bytes()))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(encode_png(pixels))
            except (ImageError, OSError) as exc:
                failures.append((source, str(exc)))
                err.print(f"[red]skipped[/red] {source}: {exc}")
            progress.advance(task)
    done = len(files) - len(failures)
    err.print(f"{kind}: {done} written, {len(failures)} failed")
    if failures:
        raise SystemExit(1)


def _matter_renderer(kind: str, **engine: object) -> Callable[[], Render]:
    def factory() -> Render:
        from alphamatte.engine.pipeline import run_matting

        matter = load_matter_or_exit(**engine)
        if kind == "matte":
            return lambda image: run_matting(image, matter).stored_matte(image.orientation)
        return lambda image: run_matting(image, matter).cutout()

    return factory


_inputs = click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
_output = click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (one input only).",
)
_out_dir = click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for outputs; input folder layout is kept.",
)


@click.command()
@_inputs
@_output
@_out_dir
@engine_options
def matte(
    inputs: tuple[Path, ...], out: Path | None, out_dir: Path | None, **engine: object
) -> None:
    """Write grayscale PNG mattes at each input's size (white = opaque)."""
    _run("matte", inputs, out, out_dir, _matter_renderer("matte", **engine))


@click.command()
@_inputs
@_output
@_out_dir
@engine_options
def cutout(
    inputs: tuple[Path, ...], out: Path | None, out_dir: Path | None, **engine: object
) -> None:
    """Write RGBA PNG cutouts (straight alpha, upright) at each input's size."""
    _run("cutout", inputs, out, out_dir, _matter_renderer("cutout", **engine))
