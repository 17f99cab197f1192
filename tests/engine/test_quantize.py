"""The int8 graph's inputs: the bundled calibration photos and the graph it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.preparation.quantize import (
    CALIBRATION_SIDE,
    calibration_batches,
    calibration_photos,
    quantize,
)
from alphamatte.engine.preparation.rewrite import quantized_path


def test_calibration_photos_ship_with_the_package() -> None:
    photos = calibration_photos()
    assert len(photos) == 4
    for rgb in photos:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        assert min(rgb.shape[:2]) >= 300  # real photos, not thumbnails


def test_calibration_feeds_photos_as_the_engine_does() -> None:
    """Fitted into the top-left of the letterbox square, the rest grey (~0 once normalised)."""
    photos = calibration_photos()
    batches = list(calibration_batches(ISNET))
    assert len(batches) == len(photos)
    for rgb, batch in zip(photos, batches, strict=True):
        assert batch.shape == (1, 3, CALIBRATION_SIDE, CALIBRATION_SIDE)
        assert batch.dtype == np.float32
        height, width = rgb.shape[:2]
        scale = CALIBRATION_SIDE / max(height, width)
        fitted_h, fitted_w = round(height * scale), round(width * scale)
        margin = np.concatenate(
            [batch[..., fitted_h:, :].ravel(), batch[..., :, fitted_w:].ravel(), [0.0]]
        )
        assert np.abs(margin).max() < 0.01
        assert batch[..., :fitted_h, :fitted_w].std() > 0.1  # the photo itself is there
        assert batch.min() >= -0.51 and batch.max() <= 0.51


def test_a_graph_without_the_known_logit_head_is_not_quantised(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.ones((1, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"], name="/conv", pads=[1, 1, 1, 1])],
        "other",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 32, 32])],
        [weight],
    )
    source = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(source))
    with pytest.raises(ValueError, match="/side1/Conv"):
        quantize(source, ISNET)
    assert not quantized_path(source).exists()
