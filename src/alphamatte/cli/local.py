"""`alphamatte matte` and `alphamatte cutout`: on this CPU, or through a server with --api."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from alphamatte.cli.files import check_destinations, expand_inputs, output_path
from alphamatte.cli.options import engine_options
from alphamatte.cli.render import (
    Finish,
    Kind,
    Render,
    api_options,
    api_renderer,
    local_renderer,
    make_client,
)
from alphamatte.client.errors import (
    AlphamatteError,
    AuthenticationError,
    CreditsExpiredError,
    InsufficientCreditError,
)
from alphamatte.files import write_atomic
from alphamatte.imaging.errors import ImageError
from alphamatte.imaging.layout import LayoutError
from alphamatte.imaging.product_shot import ProductOptions


def _finish(target: Path, finish: Finish) -> None:
    write_atomic(target, finish())


PER_FILE_ERRORS = (ImageError, OSError, ValueError, AlphamatteError)
# Errors that no other file will escape either: stop the run instead of failing every file.
FATAL_ERRORS = (AuthenticationError, InsufficientCreditError, CreditsExpiredError)


def _run(
    kind: Kind,
    inputs: tuple[Path, ...],
    out: Path | None,
    out_dir: Path | None,
    render: Render,
    product: ProductOptions | None = None,
) -> None:
    err = Console(stderr=True)
    files = expand_inputs(inputs)
    if not files:
        raise click.UsageError("No images found in the given inputs.")
    check_destinations(len(files), out, out_dir)
    failures: list[tuple[Path, str]] = []

    def skip(source: Path, exc: Exception) -> None:
        if isinstance(exc, FATAL_ERRORS):
            raise click.ClickException(str(exc)) from exc
        failures.append((source, str(exc)))
        err.print(f"[red]skipped[/red] {source}: {exc}")

    # Post-processing, PNG encoding and the write of one photo overlap the next photo's
    # inference (decontamination and zlib leave a core idle that the model can use, and the
    # other way round). One photo in flight bounds memory.
    writing: tuple[Path, Future[None]] | None = None

    def finish_write() -> None:
        if writing is not None:
            source, future = writing
            try:
                future.result()
            except PER_FILE_ERRORS as exc:
                skip(source, exc)
            progress.advance(task)

    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=len(files) < 2,
        ) as progress,
        ThreadPoolExecutor(1, thread_name_prefix="alphamatte-writer") as writer,
    ):
        task = progress.add_task(kind, total=len(files))
        for source, base in files:
            extension = "png" if product is None else product.format
            target = output_path(
                source, base, out=out, out_dir=out_dir, suffix=kind, extension=extension
            )
            try:
                image = render(source.read_bytes())
            except PER_FILE_ERRORS as exc:
                skip(source, exc)
                progress.advance(task)
                continue
            finish_write()
            writing = source, writer.submit(_finish, target, image)
        finish_write()
    done = len(files) - len(failures)
    err.print(f"{kind}: {done} written, {len(failures)} failed")
    if failures:
        raise SystemExit(1)


def run_kind(
    kind: Kind,
    inputs: tuple[Path, ...],
    out: Path | None,
    out_dir: Path | None,
    api_url: str | None,
    api_key: str | None,
    engine: dict[str, object],
    product: ProductOptions | None = None,
) -> None:
    if product is not None:
        try:
            product.check()
        except LayoutError as exc:
            raise click.BadParameter(str(exc)) from exc
    if api_url:
        with make_client(api_url, api_key, model=engine.get("model")) as client:
            _run(kind, inputs, out, out_dir, api_renderer(kind, client, product), product)
    else:
        _run(kind, inputs, out, out_dir, local_renderer(kind, product, **engine), product)


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
@api_options
def matte(
    inputs: tuple[Path, ...],
    out: Path | None,
    out_dir: Path | None,
    api_url: str | None,
    api_key: str | None,
    **engine: object,
) -> None:
    """Write grayscale PNG mattes at each input's size (white = opaque)."""
    run_kind("matte", inputs, out, out_dir, api_url, api_key, engine)


@click.command()
@_inputs
@_output
@_out_dir
@click.option("--crop", is_flag=True, help="Crop to the subject (plus --margin).")
@click.option("--margin", default=None, help="Around a crop: '10%', '20px', '10px 5%' or 4 values.")
@click.option("--scale", default=None, help="Fit the subject into 10%-100% of the canvas.")
@click.option("--position", default=None, help="'center', '50%' or '20% 80%' of the free space.")
@click.option("--roi", default=None, help="'x1 y1 x2 y2' (px or %): only there is subject.")
@click.option("--shadow", is_flag=True, help="A soft drop shadow under the subject.")
@click.option(
    "--bg", "bg_color", default=None, help="Background colour: 'fff', '#2f6fde', 'white'."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["png", "jpg", "webp", "zip"]),
    default="png",
    show_default=True,
    help="zip holds color.jpg and alpha.png.",
)
@click.option(
    "--color-profile",
    "color_profile",
    type=click.Choice(["keep", "srgb"]),
    default="keep",
    show_default=True,
    help="keep: the photo's colours and ICC profile; srgb: rendered to sRGB (clips wide gamut).",
)
@engine_options
@api_options
def cutout(
    inputs: tuple[Path, ...],
    out: Path | None,
    out_dir: Path | None,
    crop: bool,
    margin: str | None,
    scale: str | None,
    position: str | None,
    roi: str | None,
    shadow: bool,
    bg_color: str | None,
    fmt: str,
    color_profile: str,
    api_url: str | None,
    api_key: str | None,
    **engine: object,
) -> None:
    """Write cutouts (straight alpha, upright) at each input's size, or laid out as asked:
    only the region of interest, scaled and positioned, cropped, with a shadow, on a background,
    as PNG, JPEG, WebP or ZIP."""
    options = ProductOptions(
        crop,
        margin,
        scale,
        position,
        bg_color,
        "rgba",
        fmt,
        shadow="drop" if shadow else None,
        roi=roi,
        color_profile=color_profile,
    )
    plain = options == ProductOptions()
    run_kind("cutout", inputs, out, out_dir, api_url, api_key, engine, None if plain else options)
