"""`alphamatte batch`: a folder tree in, a folder tree out; resumable and rate-limit aware."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from alphamatte.cli.files import expand_inputs
from alphamatte.cli.local import FATAL_ERRORS, PER_FILE_ERRORS
from alphamatte.cli.options import engine_options
from alphamatte.cli.progress import RateColumn
from alphamatte.cli.render import (
    Kind,
    Render,
    api_options,
    api_renderer,
    local_renderer,
    make_client,
)
from alphamatte.client.errors import RateLimitError
from alphamatte.files import write_atomic

# --ray without a value: a cluster on this machine, started for the job.
LOCAL_CLUSTER = "local"
# How long one file may keep waiting on the rate limit before it is reported as failed.
RATE_LIMIT_PATIENCE_S = 15 * 60


@dataclass
class Tally:
    written: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _process(
    source: Path,
    target: Path,
    render: Render,
    stop: threading.Event,
    on_wait: Callable[[float], None],
) -> None:
    deadline = time.monotonic() + RATE_LIMIT_PATIENCE_S
    while True:
        try:
            finish = render(source.read_bytes())
            break
        except RateLimitError as exc:
            # The SDK already waited out its own retry budget; keep the file rather than fail
            # it, and wait for the window to move on.
            if time.monotonic() > deadline or stop.is_set():
                raise
            on_wait(exc.retry_after or 5.0)
            stop.wait(exc.retry_after or 5.0)
    write_atomic(target, finish())


@click.command()
@click.argument("in_dir", metavar="IN")
@click.argument("out_dir", metavar="OUT")
@click.option(
    "--kind",
    type=click.Choice(["cutout", "matte"]),
    default="cutout",
    show_default=True,
    help="What to write for each photo.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Files in flight at once (default 4 with --api, 2 locally); with --ray, model actors "
    "(default one per GPU, else one per two cores).",
)
@click.option("--overwrite", is_flag=True, help="Redo files whose output already exists.")
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value=LOCAL_CLUSTER,
    default=None,
    metavar="[ADDRESS]",
    help="Run on a Ray cluster: 'auto' joins the running one, an address joins that one, no "
    "value starts one on this machine. IN and OUT may then be s3:// (or other fsspec) URLs.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --ray: the JSON-lines record of every input (default OUT/batch-manifest.jsonl, "
    "or ./batch-manifest.jsonl for an object-store OUT, copied there at the end).",
)
@engine_options
@api_options
def batch(
    in_dir: str,
    out_dir: str,
    kind: Kind,
    workers: int | None,
    overwrite: bool,
    ray_address: str | None,
    manifest: Path | None,
    api_url: str | None,
    api_key: str | None,
    **engine: object,
) -> None:
    """Process every image under IN into OUT, keeping the folder layout.

    Finished outputs are skipped, so an interrupted batch resumes where it stopped. With --api
    the server's rate limit is waited out, not counted as a failure. With --ray the work runs
    on a Ray cluster (install 'alphamatte[ray]'), every photo is recorded in a manifest, and
    the exit code is 1 when any photo failed.
    """
    if ray_address is not None:
        if api_url:
            raise click.UsageError("--ray runs the model on the cluster; it does not take --api.")
        from alphamatte.cli.bulk import run_on_ray

        address = None if ray_address == LOCAL_CLUSTER else ray_address
        run_on_ray(in_dir, out_dir, kind, overwrite, address, manifest, workers, engine)
        return
    if "://" in in_dir or "://" in out_dir:
        raise click.UsageError("Object-store URLs need --ray; without it IN and OUT are folders.")
    _run_local(Path(in_dir), Path(out_dir), kind, workers, overwrite, api_url, api_key, engine)


def _run_local(
    in_dir: Path,
    out_dir: Path,
    kind: Kind,
    workers: int | None,
    overwrite: bool,
    api_url: str | None,
    api_key: str | None,
    engine: dict[str, object],
) -> None:
    if not in_dir.is_dir():
        raise click.BadParameter(f"{in_dir} is not a folder.", param_hint="IN")
    err = Console(stderr=True)
    jobs = [
        (src, out_dir / src.relative_to(in_dir).with_suffix(".png"))
        for src, _ in expand_inputs([in_dir])
    ]
    todo = [(src, dst) for src, dst in jobs if overwrite or not dst.exists()]
    skipped = len(jobs) - len(todo)
    if not todo:
        err.print(f"batch: nothing to do ({len(jobs)} images, {skipped} already done)")
        return
    client = make_client(api_url, api_key, model=engine.get("model")) if api_url else None
    try:
        render = api_renderer(kind, client) if client else local_renderer(kind, None, **engine)
        tally = _run_all(todo, render, workers or (4 if client else 2), kind, err)
    finally:
        if client is not None:
            client.close()
    err.print(f"batch: {tally.written} written, {skipped} already done, {len(tally.failed)} failed")
    for source, reason in tally.failed:
        err.print(f"  [red]failed[/red] {source}: {reason}")
    if tally.failed:
        raise SystemExit(1)


def _run_all(
    todo: list[tuple[Path, Path]], render: Render, workers: int, kind: str, err: Console
) -> Tally:
    tally = Tally()
    stop = threading.Event()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as progress, ThreadPoolExecutor(workers) as pool:
        task = progress.add_task(kind, total=len(todo))

        def waiting(seconds: float) -> None:
            progress.update(task, description=f"{kind} (rate limited, waiting {seconds:.0f} s)")

        pending: dict[Future[None], Path] = {
            pool.submit(_process, src, dst, render, stop, waiting): src for src, dst in todo
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    source = pending.pop(future)
                    try:
                        future.result()
                        tally.written += 1
                    except FATAL_ERRORS as exc:
                        raise click.ClickException(str(exc)) from exc
                    except PER_FILE_ERRORS as exc:
                        tally.failed.append((source, str(exc)))
                    progress.update(task, advance=1, description=kind)
        finally:
            stop.set()
            for future in pending:
                future.cancel()
    return tally
