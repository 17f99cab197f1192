"""Yardsticks for the engine's model contracts (tests and ``benchmarks/contracts.py``).

* :func:`wrap_like_birefnet`: the real IS-Net graph made to expect BiRefNet's input (ImageNet
  normalisation) and to return logits. Run under BiRefNet's contract it must give IS-Net's
  own mattes back; any mistake in that contract (mean, std, scaling, the sigmoid) shows.
* :func:`u2net_reference`: U²-Net's contract written out the way its family's own code runs
  it (the photo stretched to 320², divided by its maximum, ImageNet statistics, the first
  output min-max normalised, Lanczos back to the photo's size), independent of the engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from alphamatte.engine.preparation.rewrite import _topological_sort

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EDGE = 1e-6  # probabilities are kept this far from 0 and 1 so that their logits are finite


def wrap_like_birefnet(source: Path, target: Path) -> Path:
    """IS-Net's graph at ``source`` taking (x/255 − ImageNet mean)/ImageNet std and returning
    the logit of its matte, saved to ``target``."""
    model = onnx.load(str(source))
    graph = model.graph
    original_input = graph.input[0].name
    outer = f"{original_input}_imagenet"
    std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
    # IS-Net wants x/255 − 0.5: undo ImageNet (x·std + mean), then subtract 0.5.
    offset = (np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1) - 0.5).astype(np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(std, "wrap_std"),
            numpy_helper.from_array(offset, "wrap_offset"),
            numpy_helper.from_array(np.array(EDGE, np.float32), "wrap_low"),
            numpy_helper.from_array(np.array(1 - EDGE, np.float32), "wrap_high"),
            numpy_helper.from_array(np.array(1.0, np.float32), "wrap_one"),
        ]
    )
    graph.input[0].name = outer
    matte = graph.output[0].name
    before = [
        helper.make_node("Mul", [outer, "wrap_std"], ["wrap_scaled"]),
        helper.make_node("Add", ["wrap_scaled", "wrap_offset"], [original_input]),
    ]
    after = [
        helper.make_node("Clip", [matte, "wrap_low", "wrap_high"], ["wrap_p"]),
        helper.make_node("Sub", ["wrap_one", "wrap_p"], ["wrap_q"]),
        helper.make_node("Div", ["wrap_p", "wrap_q"], ["wrap_odds"]),
        helper.make_node("Log", ["wrap_odds"], ["logits"]),
    ]
    nodes = [*before, *graph.node, *after]
    del graph.node[:]
    graph.node.extend(nodes)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    logits.type.tensor_type.shape.CopyFrom(graph.output[0].type.tensor_type.shape)
    del graph.output[:]
    graph.output.append(logits)
    _topological_sort(graph)
    onnx.save(model, str(target))
    return target


def u2net_reference(run: object, rgb: np.ndarray) -> np.ndarray:
    """The U²-Net family's contract as its own code runs it; ``run`` is an ONNX Runtime
    session of the published graph. Returns a float32 matte in 0..1 at the photo's size."""
    import onnxruntime as ort

    assert isinstance(run, ort.InferenceSession)
    height, width = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((320, 320), Image.Resampling.LANCZOS))
    scaled = small / max(float(small.max()), 1e-6)
    normalised = (scaled - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    batch = normalised.transpose(2, 0, 1)[None].astype(np.float32)
    prediction = run.run(None, {run.get_inputs()[0].name: batch})[0][0, 0]
    low, high = float(prediction.min()), float(prediction.max())
    prediction = (prediction - low) / (high - low) if high > low else prediction
    matte = Image.fromarray((prediction * 255).astype(np.uint8))
    back = matte.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(back, np.float32) / 255
