"""One bulk job as a Ray Data pipeline, consumed by the driver into the manifest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alphamatte.bulk.cluster import Cluster
from alphamatte.bulk.manifest import Manifest
from alphamatte.bulk.stages import (
    EngineOptions,
    ModelStage,
    finish_and_write,
    list_inputs,
    read_and_decode,
)
from alphamatte.bulk.store import Location

# CPUs Ray accounts each stage's task or actor. Listing and decoding are light (a 12 MP JPEG
# decodes in ~0.1 s); the model actor runs on all of its node's cores but is idle between
# photos, so it holds one; post-processing (guided upscale, edge colours, PNG) is the heaviest
# stage and gets a whole core per task. On 2 cores other splits (actor 0, 0.5; post-processing
# 0.5, 0.75; decode 1) measured the same or slower (docs/bulk.md).
# Different resources also keep Ray Data from fusing the listing into the decode tasks, which
# would decode a whole folder in one task.
LIST_CPUS = 0.25
DECODE_CPUS = 0.25
MODEL_CPUS = 1.0
FINISH_CPUS = 1.0


@dataclass(frozen=True)
class JobSpec:
    source: str
    target: str
    kind: str
    overwrite: bool
    engine: EngineOptions
    model_sha256: str
    actors: int | None = None  # model actors; unset: one per node, or one per GPU


def actor_pool(cluster: Cluster, spec: JobSpec) -> dict[str, Any]:
    """How the model stage is placed: ``num_gpus=1`` per actor on GPU nodes, else one actor
    per node, each running the model with the node's cores. Ray Data spreads the actors over
    the nodes, restarts an actor lost with its process or node (and retries its batch), and
    retries a task lost the same way, without limit; a photo that fails by itself never
    reaches that: it becomes a manifest record."""
    import ray.data

    gpu = cluster.gpus >= 1 and spec.engine.settings().backend in ("auto", "cuda")
    if gpu:
        size = spec.actors or int(cluster.gpus)
        return {
            "compute": ray.data.ActorPoolStrategy(min_size=1, max_size=size),
            "num_gpus": 1,
            "num_cpus": MODEL_CPUS,
        }
    size = spec.actors or max(1, cluster.nodes)
    return {
        "compute": ray.data.ActorPoolStrategy(min_size=1, max_size=size),
        "num_cpus": MODEL_CPUS,
    }


def build(cluster: Cluster, spec: JobSpec) -> Any:
    """The lazy dataset: shards → keys → decoded photos → coarse mattes → manifest records."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI shows one progress line of its own
    context.print_on_execution_start = False

    shards = Location(spec.source).shards()
    paths = {"source": spec.source, "target": spec.target}
    ds: Any = ray.data.from_items(
        [{"prefix": prefix, "recursive": recursive} for prefix, recursive in shards],
        override_num_blocks=len(shards),
    )
    ds = ds.map_batches(
        list_inputs,
        batch_size=1,
        fn_kwargs={"source": spec.source},
        num_cpus=LIST_CPUS,
    )
    # One photo per block from here on, so that decode tasks spread over the cluster instead
    # of one task taking a listing batch of 256 photos (streaming: no barrier).
    ds = ds.repartition(target_num_rows_per_block=1)
    ds = ds.map_batches(
        read_and_decode,
        batch_size=1,
        fn_kwargs={**paths, "overwrite": spec.overwrite},
        num_cpus=DECODE_CPUS,
    )
    ds = ds.map_batches(
        ModelStage,
        batch_size=1,
        fn_constructor_kwargs={"options": spec.engine, "expected_sha256": spec.model_sha256},
        **actor_pool(cluster, spec),
    )
    return ds.map_batches(
        finish_and_write,
        batch_size=1,
        fn_kwargs={**paths, "kind": spec.kind},
        num_cpus=FINISH_CPUS,
    )


def run(
    cluster: Cluster,
    spec: JobSpec,
    manifest: Manifest,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
) -> None:
    """Stream the job's records into ``manifest`` as photos finish."""
    for batch in build(cluster, spec).iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["input"])):
            record = {
                "input": str(batch["input"][i]),
                "output": str(batch["output"][i]) or None,
                "status": str(batch["status"][i]),
                "error": str(batch["error"][i]) or None,
                "seconds": float(batch["seconds"][i]),
            }
            manifest.add(record)
            on_record(record)
