"""One bulk job as a Ray Data pipeline, consumed by the driver into the manifest."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alphamatte.bulk.cluster import Cluster
from alphamatte.bulk.manifest import Manifest
from alphamatte.bulk.stages import (
    EngineOptions,
    ModelStage,
    PhotoStage,
    finish_and_write,
    list_inputs,
    read_and_decode,
)
from alphamatte.bulk.store import Location

# CPUs Ray accounts each stage's task or actor. Listing is I/O and light.
LIST_CPUS = 0.25
# GPU clusters: decode and post-processing are CPU tasks around GPU model actors. Decoding is
# light (a 12 MP JPEG in ~0.1 s); the model actor holds a core to feed its GPU; the
# post-processing (guided upscale, edge colours, PNG) gets a whole core per task.
DECODE_CPUS = 0.25
MODEL_CPUS = 1.0
FINISH_CPUS = 1.0
# CPU clusters: photo actors that run every stage of a photo, each for PHOTO_CORES cores: a
# model of that many threads and one photo more than cores at once, so that no core waits
# while a photo is between steps (2 at once used 1.78 of 2 cores, 3 used 1.85). Separate
# stages moved every decoded photo between processes, which cost more than the stages
# (docs/bulk.md). Ray accounts each actor half its cores, so that the listing and the
# repartition (Ray Data's tasks take one CPU of Ray's) always find room beside a node full of
# photo actors; a whole CPU each starved them and the job never started.
PHOTO_CORES = 2
PHOTOS_IN_FLIGHT = PHOTO_CORES + 1
PHOTO_CPUS = PHOTO_CORES / 2


# The driver spends ~6 ms of one core per block (Ray Data's scheduling, the record, the
# manifest line: 158 CPU-s for 25,000 one-photo blocks), so one photo per block would cap a
# job near 160 photos/s, ~200 cores' worth. Above that, blocks carry more photos: about one
# block per core per 2.5 s at ~0.8 photos/s per core (docs/bulk.md, "Scaling model").
CORES_PER_PHOTO_IN_A_BLOCK = 128


@dataclass(frozen=True)
class JobSpec:
    source: str
    target: str
    kind: str
    overwrite: bool
    engine: EngineOptions
    model_sha256: str
    actors: int | None = None  # model actors; unset: one per GPU, or one per PHOTO_CORES
    # Separate decode, model and post-processing stages; unset: on GPU clusters only.
    staged: bool | None = None


@dataclass(frozen=True)
class Plan:
    """How a job is laid out on its cluster, decided once per job."""

    gpus: bool  # the model runs on the cluster's GPUs
    staged: bool  # separate decode, model and post-processing stages
    actors: int  # how many actors run the model


def plan(cluster: Cluster, spec: JobSpec) -> Plan:
    """GPUs when the cluster has them and the backend may use them; stages on GPU clusters
    (unless ``spec.staged`` says otherwise); ``--workers`` actors, else one per GPU, else one
    per :data:`PHOTO_CORES` cores."""
    gpus = cluster.gpus >= 1 and spec.engine.settings().backend in ("auto", "cuda")
    staged = gpus if spec.staged is None else spec.staged
    if spec.actors:
        actors = spec.actors
    elif gpus:
        actors = int(cluster.gpus)
    else:
        actors = max(1, int(cluster.cpus) // PHOTO_CORES)
    return Plan(gpus, staged, actors)


def photos_per_block(cluster: Cluster) -> int:
    """One photo per block (the finest spread, the smallest retry) until the driver's share
    of a block starts to bound the job; then enough photos per block to keep it under."""
    return max(1, math.ceil(cluster.cpus / CORES_PER_PHOTO_IN_A_BLOCK))


def build(cluster: Cluster, spec: JobSpec) -> Any:
    """The lazy dataset: shards → keys → manifest records, through photo actors that run every
    stage (CPU clusters), or decode tasks → model actors → post-processing tasks (staged: GPU
    clusters, where the GPU should only run the model)."""
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
    # Small blocks from here on, so that photos spread over the actors instead of one call
    # taking a listing batch of 256 (streaming: no barrier).
    block = photos_per_block(cluster)
    ds = ds.repartition(target_num_rows_per_block=block)
    # Ray Data spreads the actors over the nodes, restarts an actor lost with its process or
    # node (and retries its batch), and retries a lost task, without limit; a photo that
    # fails by itself never reaches that: it becomes a manifest record.
    layout = plan(cluster, spec)
    size = layout.actors
    model = {"options": spec.engine, "expected_sha256": spec.model_sha256}
    if not layout.staged:
        return ds.map_batches(
            PhotoStage,
            batch_size=1,
            fn_constructor_kwargs={
                **model,
                **paths,
                "threads": PHOTO_CORES,
                "kind": spec.kind,
                "overwrite": spec.overwrite,
            },
            compute=ray.data.ActorPoolStrategy(
                size=size,
                max_concurrent_calls_per_actor=PHOTOS_IN_FLIGHT,
                enable_true_multi_threading=True,
            ),
            num_cpus=PHOTO_CPUS,
        )
    ds = ds.map_batches(
        read_and_decode,
        batch_size=1,
        fn_kwargs={**paths, "overwrite": spec.overwrite},
        num_cpus=DECODE_CPUS,
    )
    ds = ds.map_batches(
        ModelStage,
        batch_size=1,
        fn_constructor_kwargs=model,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size),
        num_cpus=MODEL_CPUS,
        **({"num_gpus": 1} if layout.gpus else {}),
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
