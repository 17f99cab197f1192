"""The int8 variant of the prepared graph, for ONNX Runtime on CPUs.

Static quantisation (ONNX Runtime's QDQ format): weights int8 per output channel, activations
uint8 with ranges measured on the photos in ``calibration/`` (letterboxed exactly as
:class:`~alphamatte.engine.matting.Matter` feeds the network, on a smaller canvas). Two choices
decide whether the mattes survive, both measured on the eval photos (docs/benchmarks.md):

* **The logits stay fp32.** The last convolution, the resize to the canvas and the sigmoid run
  unquantised. Quantised, a logit step of ~0.3 becomes a sigmoid step of ~0.07 on the soft
  edge, and every opaque pixel lost 4 %: SAD 1.87x fp32 instead of 1.00x.
* **7-bit weights** (``reduce_range``). CPUs without VNNI multiply uint8 by int8 with
  ``vpmaddubsw``, which saturates its int16 pair sums on full-range weights.

Built once per prepared graph, next to it, in ~20 s; ~45 MB instead of ~176 MB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np

from alphamatte.engine.catalogue.spec import ModelSpec
from alphamatte.engine.inference.matting import fitted_size, letterbox
from alphamatte.engine.preparation.rewrite import quantized_path
from alphamatte.files import replacing

CALIBRATION_SIDE = 512  # canvas side while measuring ranges: 1024² would keep ~10 GB of tensors
# The logit head: quantising these moves every soft pixel (see the module docstring).
FP32_NODES = ("/side1/Conv", "/Resize_5", "/Sigmoid")


def calibration_photos() -> list[np.ndarray]:
    """The bundled calibration photos as RGB arrays, in name order."""
    from PIL import Image

    folder = resources.files("alphamatte.engine.preparation") / "calibration"
    photos = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jpg"):
            with entry.open("rb") as stream, Image.open(stream) as image:
                photos.append(np.asarray(image.convert("RGB")))
    return photos


def calibration_batches(spec: ModelSpec, side: int = CALIBRATION_SIDE) -> Iterator[np.ndarray]:
    """Each photo letterboxed as :class:`Matter` does it, and normalised."""
    mean = np.asarray(spec.input.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(spec.input.std, dtype=np.float32).reshape(1, 3, 1, 1)
    for rgb in calibration_photos():
        width, height = fitted_size(rgb.shape[1], rgb.shape[0], side)
        planar = letterbox(rgb, side, width, height).transpose(2, 0, 1)[None] / np.float32(255)
        # The textbook form, not the engine's folded multiply-add (:func:`normalise`): equal up
        # to float rounding, which still moves MinMax ranges and so the built graph; the
        # mattes in docs/benchmarks.md were measured with the graph this form builds.
        yield np.ascontiguousarray((planar - mean) / std, dtype=np.float32)


def quantize(prepared: Path, spec: ModelSpec) -> Path:
    """Write (once) and return the int8 graph built from the prepared fp32 one."""
    target = quantized_path(prepared)
    if target.is_file():
        return target
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(prepared), load_external_data=False).graph
    missing = set(FP32_NODES) - {node.name for node in graph.node}
    if missing:  # a different graph: its logit head is unknown, so it is not quantised blindly
        raise ValueError(f"{prepared.name} has no {', '.join(sorted(missing))}")
    input_name = graph.input[0].name
    batches = calibration_batches(spec)

    class Photos(CalibrationDataReader):  # type: ignore[misc]
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {input_name: batch}

    # The quantiser advises its shape-inference pre-pass on the root logger; the prepared graph
    # needs none, and the advice would land on every first start's console.
    advice = _Drop("Please consider")
    logging.getLogger().addFilter(advice)
    try:
        with replacing(target) as partial:
            quantize_static(
                str(prepared),
                str(partial),
                Photos(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=list(FP32_NODES),
            )
    finally:
        logging.getLogger().removeFilter(advice)
    return target


class _Drop(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._prefix)
