"""The real IS-Net weights through ONNX Runtime: proof the model runs correctly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from alphamatte.config import default_models_dir
from alphamatte.engine.acquisition.download import is_verified
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.engine.loader import load_matter
from alphamatte.engine.preparation.rewrite import prepare, prepared_path
from alphamatte.engine.runtimes.backends import describe
from alphamatte.engine.runtimes.ort import OrtSession, PerShapeSession
from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import sad

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def matter() -> Matter:
    return load_matter(directory=default_models_dir(), fetch=False)


def test_cached_weights_match_the_pinned_hash(models_dir: Path) -> None:
    assert is_verified(models_dir / ISNET.filename, ISNET)


def test_prepared_graph_matches_the_published_one(models_dir: Path) -> None:
    """fp32 + dynamic-size rewrite: identical maths at the trained 1024² size."""
    original = OrtSession(models_dir / ISNET.filename, dynamic=False)
    prepared = OrtSession(prepared_path(models_dir / ISNET.filename), dynamic=True)
    rng = np.random.default_rng(7)
    batch = rng.random((1, 3, 1024, 1024), dtype=np.float32) - 0.5
    difference = np.abs(original.run(batch) - prepared.run(batch)).max()
    assert difference < 1e-3
    # Only the matte is computed: the side outputs and feature maps the export also returns
    # are pruned.
    assert [o.name for o in prepared._session.get_outputs()] == ["output"]
    small = prepared.run(np.ascontiguousarray(batch[:, :, :320, :480]))
    assert small.shape == (1, 1, 320, 480)


def test_prepared_graphs_run_a_batch_as_its_images_alone(models_dir: Path) -> None:
    """A GPU batches concurrent requests: each image of a batch gets the matte it gets alone,
    in the fp32 graph and in the fp16 one a GPU runs."""
    rng = np.random.default_rng(11)
    batch = rng.random((3, 3, 256, 320), dtype=np.float32) - 0.5
    for half in (False, True):
        session = OrtSession(prepare(models_dir / ISNET.filename, half=half), dynamic=True)
        together = session.run(batch)
        alone = np.concatenate([session.run(batch[i : i + 1]) for i in range(3)])
        assert together.shape == (3, 1, 256, 320)
        assert np.abs(together - alone).max() < 1e-5, f"half={half}"


def test_preparing_removes_files_of_earlier_rewrites(models_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / ISNET.filename
    shutil.copyfile(models_dir / ISNET.filename, source)
    stale = tmp_path / f"{source.stem}.prepared-v1.onnx"
    stale.write_bytes(b"an older rewrite")
    half = prepare(source, half=True)
    full = prepare(source)
    assert not stale.exists()
    assert half.is_file() and full.is_file()  # the current version's two variants both stay


def test_the_fp16_graph_keeps_the_published_maths(models_dir: Path) -> None:
    original = OrtSession(models_dir / ISNET.filename, dynamic=False)
    half = OrtSession(prepare(models_dir / ISNET.filename, half=True), dynamic=True)
    batch = np.random.default_rng(5).random((1, 3, 1024, 1024), dtype=np.float32) - 0.5
    assert np.abs(original.run(batch) - half.run(batch)).max() < 1e-3
    assert half.run(np.ascontiguousarray(batch[:, :, :320, :480])).shape == (1, 1, 320, 480)


# Bounds are about 2x the SAD measured for these photos (3.8, 1.8, 3.6 at max side 1024);
# an empty or inverted matte scores 30-200 on them.
@pytest.mark.parametrize(("name", "bound"), [("GT05", 8.0), ("GT18", 4.0), ("GT20", 7.5)])
def test_matte_is_close_to_ground_truth(
    matter: Matter, eval_dir: Path, name: str, bound: float
) -> None:
    pair = next(p for p in discover(eval_dir) if p.name == name)
    rgb, gt = load_pair(pair)
    pred = matter.predict(rgb)
    assert pred.shape == gt.shape
    assert sad(pred / 255.0, gt / 255.0) < bound
    inverted = sad(1 - pred / 255.0, gt / 255.0)
    assert inverted > 5 * bound


def test_the_int8_graph_keeps_the_fp32_mattes(
    eval_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime's int8 graph (forced: what `auto` picks depends on the CPU) keeps fp32's
    mattes."""
    full = load_matter(
        directory=default_models_dir(),
        fetch=False,
        backend="onnxruntime",
        precisions=("f32", "fp16"),
    )
    quantized = load_matter(
        directory=default_models_dir(),
        fetch=False,
        backend="onnxruntime",
        precisions=("int8", "fp16"),
    )
    assert (describe(full.session).precision, describe(quantized.session).precision) == (
        "f32",
        "int8",
    )
    for name in ("GT05", "GT18", "GT20"):
        rgb, gt = load_pair(next(p for p in discover(eval_dir) if p.name == name))
        alpha = gt / 255.0
        reference, matte = full.predict_float(rgb), quantized.predict_float(rgb)
        # Measured: mean differences 0.001-0.004; SAD within 3 % either way. Quantising the
        # logits as well (the obvious recipe) moves the mean by 0.03 and doubles SAD.
        assert np.abs(matte - reference).mean() < 0.01, name
        assert sad(matte, alpha) < 1.1 * sad(reference, alpha) + 0.1, name


def test_smaller_max_side_still_finds_the_subject(eval_dir: Path) -> None:
    # Below ~400 px the model loses the subject (SAD 20-130 at 256-320 on these photos).
    small = load_matter(
        directory=default_models_dir(), config=MattingConfig(max_side=512), fetch=False
    )
    pair = next(p for p in discover(eval_dir) if p.name == "GT18")
    rgb, gt = load_pair(pair)
    pred = small.predict(rgb)
    assert pred.shape == gt.shape
    assert sad(pred / 255.0, gt / 255.0) < 8.0


def test_one_session_per_shape_gives_the_same_mattes(models_dir: Path) -> None:
    """What a GPU runs (ONNX Runtime's CUDA provider slows down when shapes alternate): here on
    the CPU provider, the same mattes as one shared session, and at most max_shapes sessions."""
    graph = prepared_path(models_dir / ISNET.filename)
    shared = OrtSession(graph, dynamic=True)
    per_shape = PerShapeSession(graph, dynamic=True, max_shapes=2)
    rng = np.random.default_rng(2)
    a, b, c = (
        rng.random(shape, dtype=np.float32) - 0.5
        for shape in [(1, 3, 64, 64), (2, 3, 64, 64), (1, 3, 96, 64)]
    )
    for batch in (a, b, a):
        assert np.abs(per_shape.run(batch) - shared.run(batch)).max() < 1e-5
    assert per_shape.shapes == [b.shape, a.shape]
    np.testing.assert_allclose(per_shape.run(c), shared.run(c), atol=1e-5)
    assert per_shape.shapes == [a.shape, c.shape]  # the least recently used (b) was dropped


def test_a_failed_int8_build_falls_back_to_fp32(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Building the int8 graph needs ~2 GB once; where that fails the model still serves."""
    from alphamatte.engine import loader

    def no_memory(*_: object) -> Path:
        raise MemoryError("calibration")

    monkeypatch.setattr(loader, "quantize", no_memory)
    fallback = load_matter(
        directory=default_models_dir(),
        fetch=False,
        backend="onnxruntime",
        precisions=("int8", "fp16"),
    )
    assert describe(fallback.session).precision == "f32"
    assert "int8 graph not built" in caplog.text
    rgb = np.full((64, 96, 3), 200, np.uint8)
    assert fallback.predict(rgb).shape == (64, 96)
