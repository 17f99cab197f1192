"""The bulk stages as plain functions (no Ray): listing, resume, decode failures, writes,
the manifest, the per-node model check and the CLI's refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.bulk import store
from alphamatte.bulk.cluster import forwarded_environment
from alphamatte.bulk.manifest import Manifest, read_manifest
from alphamatte.bulk.stages import (
    EngineOptions,
    ModelUnverifiedError,
    finish_and_write,
    list_inputs,
    read_and_decode,
    verify_model,
)
from alphamatte.bulk.store import Location, output_key
from alphamatte.cli.main import cli
from tests.conftest import gradient_rgb, image_bytes


def tree(root: Path) -> None:
    for key in ("a.jpg", "notes.txt", "x/b.png", "x/y/c.webp", "z/d.JPG", "z/.hidden/e.png"):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}.get(path.suffix.lower()[1:])
        if fmt:
            path.write_bytes(image_bytes(Image.fromarray(gradient_rgb(40, 30)), fmt))
        else:
            path.write_text("not an image")


def listed(location: Location) -> list[str]:
    keys: list[str] = []
    for prefix, recursive in location.shards():
        for batch in location.list_shard(prefix, recursive):
            keys += batch
    return sorted(keys)


def test_listing_keeps_the_layout_and_only_images(tmp_path: Path) -> None:
    tree(tmp_path)
    location = Location(str(tmp_path))
    assert location.shards() == [("", False), ("x", True), ("z", True)]
    assert listed(location) == ["a.jpg", "x/b.png", "x/y/c.webp", "z/.hidden/e.png", "z/d.JPG"]
    assert output_key("x/y/c.webp") == "x/y/c.png"


def test_a_large_folder_is_listed_in_bounded_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "LIST_BATCH", 4)
    for i in range(10):
        (tmp_path / f"{i:02d}.png").write_bytes(b"")
    batches = list(
        list_inputs(
            {"prefix": np.asarray([""]), "recursive": np.asarray([False])}, source=str(tmp_path)
        )
    )
    assert [len(b["key"]) for b in batches] == [4, 4, 2]


def test_a_missing_input_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Location(str(tmp_path / "nope")).shards()


def test_decode_skips_finished_outputs_and_records_unreadable_photos(tmp_path: Path) -> None:
    source, target = tmp_path / "in", tmp_path / "out"
    tree(source)
    (source / "bad.png").write_bytes(b"\x89PNG broken")
    (target / "x").mkdir(parents=True)
    (target / "x" / "b.png").write_bytes(b"done before")
    keys = np.asarray(["a.jpg", "x/b.png", "bad.png"], dtype=object)
    batch = read_and_decode({"key": keys}, source=str(source), target=str(target), overwrite=False)
    assert list(batch["status"]) == ["todo", "skipped", "failed"]
    assert batch["image"][0].shape == (30, 40, 3)
    assert batch["error"][2].split(":")[0] in {"CorruptImageError", "UnsupportedFormatError"}
    again = read_and_decode(
        {"key": keys[1:2]}, source=str(source), target=str(target), overwrite=True
    )
    assert list(again["status"]) == ["todo"]


def test_finish_writes_the_matte_and_passes_failures_on(tmp_path: Path) -> None:
    out = tmp_path / "out"
    image = gradient_rgb(40, 30)
    alpha = np.zeros((30, 40), np.float32)
    alpha[10:20, 10:30] = 1.0
    batch = {
        "key": np.asarray(["s/a.jpg", "bad.png"], dtype=object),
        "status": np.asarray(["todo", "failed"]),
        "error": np.asarray(["", "CorruptImageError: truncated"]),
        "seconds": np.asarray([0.5, 0.1]),
        "image": np.stack([image, image]),
        "orientation": np.asarray([1, 1]),
        "icc": np.asarray([b"", b""], dtype=object),
        "opacity": np.zeros((2, 0, 0), np.uint8),
        "alpha": np.stack([alpha, alpha]),
        "photo": np.stack([image, image]),
    }
    records = finish_and_write(batch, kind="matte", source=str(tmp_path / "in"), target=str(out))
    assert list(records["status"]) == ["done", "failed"]
    assert records["output"][0] == str(out / "s" / "a.png")
    assert records["output"][1] == ""
    assert records["error"][1] == "CorruptImageError: truncated"
    assert records["seconds"][0] >= 0.5
    matte = np.asarray(Image.open(io.BytesIO((out / "s" / "a.png").read_bytes())))
    assert matte.shape == (30, 40) and matte[15, 20] == 255 and matte[0, 0] == 0
    assert not list(out.rglob("*.tmp"))


def test_manifest_counts_and_keeps_one_line_per_record(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with Manifest(path) as manifest:
        for status in ("done", "done", "skipped", "failed"):
            manifest.add({"input": "i", "output": "o", "status": status, "error": None})
        with pytest.raises(ValueError):
            manifest.add({"input": "i", "status": "lost"})
        summary = manifest.close()
    assert (summary.done, summary.skipped, summary.failed) == (2, 1, 1)
    assert "2 done, 1 skipped, 1 failed" in summary.line()
    assert [r["status"] for r in read_manifest(path)] == ["done", "done", "skipped", "failed"]
    assert set(json.loads(path.read_text().splitlines()[0])) == {
        "input",
        "output",
        "status",
        "error",
        "seconds",
    }


def test_model_check_names_the_missing_or_different_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHAMATTE_HOME", str(tmp_path))
    with pytest.raises(ModelUnverifiedError, match="alphamatte model fetch"):
        verify_model(EngineOptions(), "0" * 64)
    models = tmp_path / "models"
    models.mkdir()
    (models / "mine.onnx").write_bytes(b"not the job's model")
    with pytest.raises(ModelUnverifiedError, match="sha256"):
        verify_model(EngineOptions(model="mine.onnx"), "0" * 64)


def test_only_engine_and_object_store_settings_reach_the_workers() -> None:
    environ = {
        "ALPHAMATTE_BACKEND": "onnxruntime",
        "ALPHAMATTE_HOME": "/driver/home",  # each node has its own
        "ALPHAMATTE_ADMIN_TOKEN": "secret",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "HOME": "/root",
    }
    assert forwarded_environment(environ) == {
        "ALPHAMATTE_BACKEND": "onnxruntime",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s3://bucket/in", "out"], "Object-store URLs need --ray"),
        (["in", "out", "--api", "http://127.0.0.1:1", "--ray"], "does not take --api"),
        (["missing-folder", "out", "--ray"], "is not a folder"),
    ],
)
def test_batch_refuses_what_it_cannot_do(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    result = CliRunner().invoke(cli, ["batch", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_gpu_clusters_run_separate_stages_and_cpu_clusters_photo_actors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alphamatte.bulk.cluster import Cluster
    from alphamatte.bulk.job import JobSpec, Plan, plan

    monkeypatch.delenv("ALPHAMATTE_BACKEND", raising=False)
    spec = JobSpec("in", "out", "matte", False, EngineOptions(), "0" * 64)
    cpus = Cluster(nodes=3, cpus=48, gpus=0, started_here=False)
    gpus = Cluster(nodes=3, cpus=48, gpus=6, started_here=False)
    assert plan(cpus, spec) == Plan(gpus=False, staged=False, actors=24)  # one per 2 cores
    assert plan(gpus, spec) == Plan(gpus=True, staged=True, actors=6)  # one per GPU
    monkeypatch.setenv("ALPHAMATTE_BACKEND", "onnxruntime")  # a CPU backend on a GPU node
    assert not plan(gpus, spec).staged
    small = Cluster(nodes=1, cpus=1, gpus=0, started_here=True)
    assert plan(small, spec).actors == 1


def test_blocks_carry_more_photos_only_when_the_driver_would_bound_the_job() -> None:
    from alphamatte.bulk.cluster import Cluster
    from alphamatte.bulk.job import photos_per_block

    def of(cpus: int) -> int:
        return photos_per_block(Cluster(nodes=1, cpus=cpus, gpus=0, started_here=False))

    assert of(2) == of(128) == 1  # the finest spread and the smallest retry
    assert of(129) == 2
    assert of(100 * 32) == 25  # 100 nodes of 32 cores: ~100 blocks/s through the driver
