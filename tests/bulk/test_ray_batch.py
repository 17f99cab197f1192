"""`alphamatte batch IN OUT --ray` on a real two-raylet Ray cluster and a real S3 server.

One module-wide cluster (``ray start --head`` + ``ray start --address``) and ``moto_server``;
~30 photos of mixed sizes and formats with three corrupt files. The local `alphamatte batch`
makes the reference outputs; every Ray run must write the same bytes. The engine is pinned
(ONNX Runtime int8, which every x86 CPU runs) so that both sides run the same backend on any
machine.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphamatte.bulk.raylets import RayCluster
from tests.bulk.cluster import S3Server
from tests.conftest import SHARED_EVAL

pytestmark = pytest.mark.slow

ALPHAMATTE = str(Path(sys.executable).with_name("alphamatte"))
ENGINE = {"ALPHAMATTE_BACKEND": "onnxruntime", "ALPHAMATTE_CPU_PRECISION": "int8"}
CORRUPT = {"broken/truncated.jpg", "broken/garbage.png", "broken/empty.jpg"}


def _save(image: Image.Image, path: Path, fmt: str, **options: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt, **options)


def make_catalogue(root: Path) -> set[str]:
    """Real photos in nested folders, the same photos in other formats and modes, and three
    corrupt files. Returns the keys of the good ones."""
    if not SHARED_EVAL.is_dir():
        pytest.skip("../shared/eval is not present")
    low = sorted((SHARED_EVAL / "alphamatting_lowres" / "images").glob("*.png"))
    high = sorted((SHARED_EVAL / "icm58_hires" / "images").glob("*.jpg"), key=os.path.getsize)
    for folder, photos in (("studio", low[:15]), ("camera/2026", high[:2])):
        (root / folder).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, root / folder / photo.name)
    source = Image.open(low[15]).convert("RGB")
    small = source.resize((source.width // 2, source.height // 2))
    formats = root / "formats"
    _save(source, formats / "webp.webp", "WEBP", quality=90)
    _save(source, formats / "tiff.tiff", "TIFF")
    _save(small, formats / "bmp.bmp", "BMP")
    _save(small.convert("P"), formats / "gif.gif", "GIF")
    _save(source.convert("L"), formats / "grey.png", "PNG")
    _save(source.convert("RGBA"), formats / "alpha.png", "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the matte must come back in the stored grid
    _save(source, formats / "sideways.jpg", "JPEG", quality=92, exif=exif)
    _save(Image.open(low[16]).convert("RGB"), root / "top.jpg", "JPEG", quality=90)
    _save(Image.open(low[17]).convert("RGB").resize((300, 200)), root / "tiny.png", "PNG")
    broken = root / "broken"
    broken.mkdir()
    jpeg = (root / "top.jpg").read_bytes()
    (broken / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (broken / "garbage.png").write_bytes(np.random.default_rng(7).bytes(5000))
    (broken / "empty.jpg").write_bytes(b"")
    keys = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return keys - CORRUPT


def outputs(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*.png"))
        if not p.name.startswith(".")
    }


def expected_outputs(good: set[str]) -> set[str]:
    return {str(Path(key).with_suffix(".png")) for key in good}


def batch(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ALPHAMATTE, "batch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manifest(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("bulk")
    catalogue = root / "catalogue"
    catalogue.mkdir()
    good = make_catalogue(catalogue)
    s3 = S3Server()
    env = {**os.environ, **ENGINE, **s3.env}
    cluster = RayCluster(env)
    try:
        cluster.add_node()
        reference = root / "reference"
        local = batch(env, str(catalogue), str(reference), "--kind", "matte")
        assert local.returncode == 1, local.stderr  # the three corrupt files
        yield {
            "root": root,
            "catalogue": catalogue,
            "good": good,
            "reference": outputs(reference),
            "s3": s3,
            "cluster": cluster,
            "env": env | cluster.env | {"RAY_ADDRESS": cluster.address},
        }
    finally:
        cluster.stop()
        s3.stop()


def test_local_reference_covers_every_good_photo(world: dict) -> None:
    assert set(world["reference"]) == expected_outputs(world["good"])


def test_s3_to_s3_on_two_nodes_writes_what_the_local_batch_writes(world: dict) -> None:
    s3, env = world["s3"], world["env"]
    fs = s3.filesystem()
    fs.mkdir("photos")
    fs.put(str(world["catalogue"]) + "/", "photos/in/", recursive=True)
    listed = world["root"] / "s3-manifest.jsonl"
    run = batch(
        env,
        "s3://photos/in",
        "s3://photos/out",
        "--kind",
        "matte",
        "--ray",
        "auto",
        "--manifest",
        str(listed),
    )
    assert run.returncode == 1, run.stderr  # failures are reported in the exit code
    assert "2 node(s)" in run.stderr
    records = manifest(listed)
    by_status: dict[str, set[str]] = {}
    for record in records:
        key = str(record["input"]).removeprefix("s3://photos/in/")
        by_status.setdefault(str(record["status"]), set()).add(key)
    assert by_status["done"] == world["good"]
    assert by_status["failed"] == CORRUPT
    assert len(records) == len(world["good"]) + len(CORRUPT)  # nothing twice
    for record in records:
        if record["status"] == "failed":
            assert record["error"] and record["output"] is None
    written = {
        name.removeprefix("photos/out/"): fs.cat_file(name)
        for name in fs.find("photos/out")
        if name.endswith(".png")
    }
    assert written == world["reference"]
    summary = fs.cat_file("photos/out/batch-manifest.jsonl").decode()
    assert summary == listed.read_text()  # the manifest is copied beside the outputs
    assert f"{len(world['good'])} done, 0 skipped, 3 failed" in run.stderr

    rerun = str(world["root"] / "rerun-manifest.jsonl")
    again = batch(
        env,
        "s3://photos/in",
        "s3://photos/out",
        "--kind",
        "matte",
        "--manifest",
        rerun,
        "--ray",
        "auto",
    )
    assert f"0 done, {len(world['good'])} skipped, 3 failed" in again.stderr, again.stderr


def run_killing_mid_job(world: dict, out: Path, kill: Callable[[], int]) -> None:
    """Start a job, ``kill`` something once four photos are done, and check that the job
    still ends with one record and one valid output per photo, the local batch's bytes."""
    command = [ALPHAMATTE, "batch", str(world["catalogue"]), str(out), "--kind", "matte"]
    job = subprocess.Popen(
        [*command, "--ray", "auto"],
        env=world["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    record_file = out / "batch-manifest.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        done = len(record_file.read_text().splitlines()) if record_file.exists() else 0
        if done >= 4:
            break
        time.sleep(0.2)
    assert job.poll() is None, "the job ended before the kill"
    assert kill() > 0
    try:
        _, stderr = job.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        job.kill()
        _, stderr = job.communicate()
        pytest.fail(f"the job did not finish after the kill:\n{stderr[-3000:]}")
    assert job.returncode == 1, stderr  # only the corrupt files failed
    records = manifest(record_file)
    assert len(records) == len(world["good"]) + len(CORRUPT)
    assert sum(r["status"] == "done" for r in records) == len(world["good"])
    written = outputs(out)
    assert written == world["reference"]  # every output there, whole, and the same bytes
    for data in written.values():
        Image.open(io.BytesIO(data)).load()


def test_worker_processes_of_one_node_killed_mid_job(world: dict) -> None:
    cluster: RayCluster = world["cluster"]
    victim = cluster.node_ports[1]

    def kill() -> int:
        _wait_for_workers(cluster, victim)
        return cluster.kill_workers(victim)

    run_killing_mid_job(world, world["root"] / "killed", kill)


def test_a_node_stopped_mid_job(world: dict, tmp_path: Path) -> None:
    cluster: RayCluster = world["cluster"]
    victim = cluster.add_node()

    def kill() -> int:
        _wait_for_workers(cluster, victim)
        cluster.stop_node(victim)
        return 1

    run_killing_mid_job(world, tmp_path / "out", kill)


def _wait_for_workers(cluster: RayCluster, node_port: int) -> None:
    deadline = time.monotonic() + 60
    while not cluster.workers(node_port):
        assert time.monotonic() < deadline, "the job never ran on the victim node"
        time.sleep(0.2)


def test_another_model_on_the_cluster_writes_what_it_writes_locally(
    world: dict, tmp_path: Path
) -> None:
    """`batch --ray --model u2netp`: every node runs the model asked for (its own contract),
    not the node's default."""
    studio = world["catalogue"] / "studio"
    local, remote = tmp_path / "local", tmp_path / "ray"
    ours = batch(world["env"], str(studio), str(local), "--model", "u2netp")
    assert ours.returncode == 0, ours.stderr
    run = batch(world["env"], str(studio), str(remote), "--ray", "auto", "--model", "u2netp")
    assert run.returncode == 0, run.stderr
    written = outputs(remote)
    assert written == outputs(local) and len(written) == 15
    default = {name: world["reference"][f"studio/{name}"] for name in written}
    assert sum(written[name] != default[name] for name in written) >= 14


def test_a_node_without_the_model_is_refused_before_any_photo(world: dict, tmp_path: Path) -> None:
    cluster: RayCluster = world["cluster"]
    empty_home = tmp_path / "empty-home"
    port = cluster.add_node(ALPHAMATTE_HOME=str(empty_home))
    try:
        out = tmp_path / "out"
        run = batch(world["env"], str(world["catalogue"]), str(out), "--ray", "auto")
        assert run.returncode != 0
        assert "the model is not ready on every node" in run.stderr
        assert str(empty_home / "models") in run.stderr
        assert "alphamatte model fetch" in run.stderr
        assert not out.exists() or not outputs(out)
    finally:
        cluster.stop_node(port)


def test_the_staged_layout_writes_the_same_bytes(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GPU clusters run decode tasks → model actors → post-processing tasks; forced here on
    CPUs, that layout must write what the local batch writes."""
    from alphamatte.bulk.cluster import connect, disconnect
    from alphamatte.bulk.job import JobSpec, run
    from alphamatte.bulk.manifest import Manifest
    from alphamatte.bulk.stages import EngineOptions
    from alphamatte.engine.catalogue.families import ISNET

    for name, value in world["env"].items():
        if name.startswith(("ALPHAMATTE_", "RAY_", "AWS_")):
            monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    spec = JobSpec(
        str(world["catalogue"]), str(out), "matte", False, EngineOptions(), ISNET.sha256, None, True
    )
    cluster = connect(world["cluster"].address)
    try:
        with Manifest(tmp_path / "manifest.jsonl") as listed:
            run(cluster, spec, listed)
            summary = listed.close()
    finally:
        disconnect(cluster)
    assert (summary.done, summary.failed) == (len(world["good"]), len(CORRUPT))
    assert outputs(out) == world["reference"]
