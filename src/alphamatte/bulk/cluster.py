"""Joining or starting the Ray cluster, and checking every node before the first photo."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from alphamatte.bulk.stages import EngineOptions, ModelUnverifiedError, verify_model

# Settings the driver passes to every worker: how the engine runs (not where its files are:
# ALPHAMATTE_HOME is each node's own) and how the object store is reached.
FORWARDED = (
    "ALPHAMATTE_MODEL",
    "ALPHAMATTE_QUALITY",
    "ALPHAMATTE_MAX_SIDE",
    "ALPHAMATTE_BACKEND",
    "ALPHAMATTE_CPU_PRECISION",
    "ALPHAMATTE_GPU_PRECISION",
    "ALPHAMATTE_THREADS",
)
FORWARDED_PREFIXES = ("AWS_", "FSSPEC_")
# numba (the cutout's edge colours) runs one thread per photo: an actor already runs more
# photos than it has cores, and post-processing tasks each hold a CPU. With its default of one
# thread per core, post-processing tasks beside the model actor oversubscribed the cores: 60
# CPU-seconds for 40 photos instead of 25.
WORKER_ENVIRONMENT = {"NUMBA_NUM_THREADS": "1"}
# How long the per-node model check may take (a cold sha256 of the model on slow disks).
CHECK_TIMEOUT_S = 300


class ClusterSetupError(RuntimeError):
    """The job cannot start: no cluster, or a node without the job's model."""


@dataclass(frozen=True)
class Cluster:
    nodes: int
    cpus: float
    gpus: float
    started_here: bool


def forwarded_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    return {
        name: value
        for name, value in environ.items()
        if name in FORWARDED or name.startswith(FORWARDED_PREFIXES)
    }


def connect(address: str | None) -> Cluster:
    """``None``: a private cluster on this machine (stopped with the job); ``auto`` or an
    address: join a running one."""
    import ray

    from alphamatte.engine.runtimes.session import default_threads

    if ray.is_initialized():
        ray.shutdown()
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address is None:
            # The private cluster's processes inherit this environment: no runtime
            # environment, so the workers Ray starts ahead of time can run the job (with one,
            # each worker is started for it: ~3 s more before the first photo on 2 cores).
            os.environ.update(WORKER_ENVIRONMENT)
            ray.init(
                num_cpus=os.cpu_count() or default_threads(), include_dashboard=False, **options
            )
        else:
            runtime_env = {"env_vars": {**forwarded_environment(), **WORKER_ENVIRONMENT}}
            ray.init(address=address, runtime_env=runtime_env, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterSetupError(f"cannot reach a Ray cluster at {address!r}: {exc}") from exc
    resources = ray.cluster_resources()
    alive = [node for node in ray.nodes() if node.get("Alive")]
    return Cluster(
        nodes=len(alive),
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        started_here=address is None,
    )


def _check_node(options: EngineOptions, expected_sha256: str) -> str | None:
    try:
        verify_model(options, expected_sha256)
    except ModelUnverifiedError as exc:
        return str(exc)
    return None


def check_every_node(cluster: Cluster, options: EngineOptions, expected_sha256: str) -> None:
    """Run the model check on each alive node; one clear error naming every node that lacks
    the model (or has another one), before any photo is read. A private cluster's one node is
    this machine: the driver checks it itself (a task would start a worker process first,
    1.6 s on 2 cores)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if cluster.started_here:
        problem = _check_node(options, expected_sha256)
        if problem is not None:
            raise ClusterSetupError(f"the model is not ready on every node:\n  {problem}")
        return

    check = ray.remote(num_cpus=0, max_retries=1)(_check_node)
    pending = {
        node["NodeID"]: check.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(options, expected_sha256)
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
    }
    problems = [
        message
        for message in ray.get(list(pending.values()), timeout=CHECK_TIMEOUT_S)
        if message is not None
    ]
    if problems:
        raise ClusterSetupError(
            "the model is not ready on every node:\n  " + "\n  ".join(sorted(set(problems)))
        )


def disconnect(cluster: Cluster) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
