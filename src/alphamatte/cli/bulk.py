"""`alphamatte batch IN OUT --ray [ADDRESS]`: the bulk path (see :mod:`alphamatte.bulk`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from alphamatte.cli.extras import require
from alphamatte.cli.options import settings_with
from alphamatte.cli.progress import RateColumn

MANIFEST_NAME = "batch-manifest.jsonl"


def _model_sha256(engine: dict[str, object]) -> str:
    """The sha256 every node's model must have: the registry's pin, or the driver's file's."""
    from alphamatte.engine.acquisition.download import sha256_of
    from alphamatte.engine.errors import ModelPathError
    from alphamatte.engine.loader import resolve_spec

    settings = settings_with(engine.get("model"), engine.get("quality"), engine.get("max_side"))
    try:
        spec, path = resolve_spec(settings.model, settings.models_dir)
    except ModelPathError as exc:
        raise click.ClickException(str(exc)) from exc
    if spec.sha256:
        return spec.sha256
    return sha256_of(path)


def run_on_ray(
    source: str,
    target: str,
    kind: str,
    overwrite: bool,
    address: str | None,
    manifest_path: Path | None,
    actors: int | None,
    engine: dict[str, object],
) -> None:
    require("ray", "Batch on a Ray cluster (--ray)")
    require("local", "Batch on a Ray cluster (--ray)")
    from alphamatte.bulk.cluster import ClusterSetupError, check_every_node, connect, disconnect
    from alphamatte.bulk.job import JobSpec, run
    from alphamatte.bulk.manifest import Manifest
    from alphamatte.bulk.stages import EngineOptions
    from alphamatte.bulk.store import Location

    err = Console(stderr=True)
    inputs, outputs = Location(source), Location(target)
    try:
        inputs.shards()  # a missing IN is a usage error, before any cluster starts
    except (FileNotFoundError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="IN") from exc
    if manifest_path is None:
        local = outputs.is_local
        manifest_path = Path(outputs.path(MANIFEST_NAME)) if local else Path.cwd() / MANIFEST_NAME
    options = EngineOptions(
        model=_str_or_none(engine.get("model")),
        quality=_str_or_none(engine.get("quality")),
        max_side=_int_or_none(engine.get("max_side")),
    )
    spec = JobSpec(source, target, kind, overwrite, options, _model_sha256(engine), actors)
    try:
        cluster = connect(address)
    except ClusterSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        err.print(
            f"batch: Ray cluster of {cluster.nodes} node(s), {cluster.cpus:g} CPUs, "
            f"{cluster.gpus:g} GPUs; checking the model on every node"
        )
        try:
            check_every_node(cluster, options, spec.model_sha256)
        except ClusterSetupError as exc:
            raise click.ClickException(str(exc)) from exc
        with Manifest(manifest_path) as manifest, _progress(err) as progress:
            task = progress.add_task(kind, total=None)

            def advance(record: dict[str, Any]) -> None:
                counts = manifest.summary
                progress.update(
                    task,
                    advance=1,
                    description=f"{kind}: {counts.done} done, {counts.skipped} skipped, "
                    f"{counts.failed} failed",
                )

            run(cluster, spec, manifest, advance)
            summary = manifest.close()
    finally:
        disconnect(cluster)
    if not outputs.is_local:
        outputs.write(MANIFEST_NAME, manifest_path.read_bytes())
    err.print(summary.line())
    err.print(f"batch: manifest {manifest_path}")
    if summary.failed:
        raise SystemExit(1)


def _progress(err: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), RateColumn(), TimeElapsedColumn(), console=err
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))
