"""What a model's graph expects and what it returns, as data, and the two functions that honour
it: :func:`to_input` (photos → the tensor the graph reads) and :func:`to_alpha` (what the graph
returns → mattes in 0..1).

Each family's publisher writes these facts as code (rembg writes one session class per family);
here they are fields, so that a fine-tuned or re-exported model runs ``--like`` a known family
and a new one is described in a TOML file. No code branches on a model's name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np

Resize = Literal["stretch", "letterbox", "adaptive"]
Scaling = Literal["unit", "image_max", "byte"]
Layout = Literal["NCHW", "NHWC"]
Channels = Literal["RGB", "BGR"]


@dataclass(frozen=True)
class InputContract:
    """How a photo becomes the graph's input.

    ``side``: the square the model was trained at (the graph's input when ``dynamic`` is
    false). ``dynamic``: the graph takes any H×W in multiples of ``multiple``.
    ``resize``: ``stretch`` fills the square (distorting), ``letterbox`` keeps the shape in the
    top-left corner of a square filled with ``pad``, ``adaptive`` stretches photos the model
    sees at or below their own resolution and letterboxes the ones it would enlarge (measured
    for IS-Net, docs/quality.md). ``scaling``: ``unit`` is x/255, ``image_max`` is x divided by
    the image's own maximum (U²-Net's ``ToTensorLab``), ``byte`` leaves 0..255; then
    (x − mean) / std per channel, in ``channels`` order, in ``layout``.
    """

    side: int = 1024
    dynamic: bool = False
    multiple: int = 32
    resize: Resize = "stretch"
    pad: int = 127
    channels: Channels = "RGB"
    scaling: Scaling = "unit"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Layout = "NCHW"

    def __post_init__(self) -> None:
        _check_choice("resize", self.resize, ("stretch", "letterbox", "adaptive"))
        _check_choice("scaling", self.scaling, ("unit", "image_max", "byte"))
        _check_choice("layout", self.layout, ("NCHW", "NHWC"))
        _check_choice("channels", self.channels, ("RGB", "BGR"))
        if not 16 <= self.side <= 4096 or not 1 <= self.multiple <= 256:
            raise ValueError("side must be within 16..4096 and multiple within 1..256")
        if not 0 <= self.pad <= 255:
            raise ValueError("pad must be a byte value, 0..255")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s == 0 for s in self.std):
            raise ValueError("mean and std need three values each, std non-zero")


@dataclass(frozen=True)
class OutputContract:
    """Which graph output is the matte and what its values are.

    ``output``: its index among the graph's outputs. ``channel``: which channel of it, when it
    has several. ``logits``: the values are logits (a sigmoid makes them probabilities).
    ``minmax``: each matte is stretched so that its minimum is 0 and its maximum 1, as the
    U²-Net family's own code does (over the photo's part of the canvas only).
    """

    output: int = 0
    channel: int = 0
    logits: bool = False
    minmax: bool = False

    def __post_init__(self) -> None:
        if self.output < 0 or self.channel < 0:
            raise ValueError("output and channel are indices (0 or more)")


def to_input(images: np.ndarray, contract: InputContract) -> np.ndarray:
    """N × H × W × 3 uint8 RGB → the float32 tensor the graph reads."""
    if contract.channels == "BGR":
        images = images[..., ::-1]
    count = images.shape[0]
    std = np.asarray(contract.std, dtype=np.float32)
    mean = np.asarray(contract.mean, dtype=np.float32)
    if contract.scaling == "unit":
        divisor = np.full(count, 255.0, dtype=np.float32)
    elif contract.scaling == "image_max":
        peaks = images.reshape(count, -1).max(axis=1).astype(np.float32)
        divisor = np.maximum(peaks, 1e-6)
    else:
        divisor = np.ones(count, dtype=np.float32)
    # (x / divisor − mean) / std as one multiply-add per channel, done in place: 1024² takes
    # 2.6 ms instead of 21 ms with temporaries, and NumPy releases the GIL meanwhile.
    scale = (1.0 / divisor[:, None] / std[None, :]).astype(np.float32)  # N × 3
    offset = (-mean / std).astype(np.float32)  # 3
    if contract.layout == "NCHW":
        planar = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        batch = np.empty(planar.shape, dtype=np.float32)
        np.multiply(planar, scale[:, :, None, None], out=batch, casting="unsafe")
        np.add(batch, offset[None, :, None, None], out=batch)
        return batch
    batch = np.empty(images.shape, dtype=np.float32)
    np.multiply(images, scale[:, None, None, :], out=batch, casting="unsafe")
    np.add(batch, offset[None, None, None, :], out=batch)
    return batch


def planes(output: np.ndarray, contract: OutputContract) -> np.ndarray:
    """The graph's output as N × H × W: N×C×H×W (channel ``contract.channel``), N×H×W×1 or
    N×H×W."""
    if output.ndim == 3:
        return output
    if output.ndim != 4:
        raise ValueError(f"the model returned a {output.ndim}-d tensor, expected 3 or 4")
    if output.shape[-1] == 1 and output.shape[1] != 1:
        return output[..., 0]
    return output[:, min(contract.channel, output.shape[1] - 1)]


def to_alpha(
    output: np.ndarray, contract: OutputContract, *, regions: list[tuple[int, int]] | None = None
) -> np.ndarray:
    """The graph's output → N × H × W float32 mattes in 0..1.

    ``regions``: per image, the (height, width) of the photo in the canvas's top-left corner
    (a letterbox); the min–max stretch looks only there."""
    values = planes(np.asarray(output), contract).astype(np.float32, copy=True)
    if contract.logits:
        # 1 / (1 + e^−x), without overflow warnings for large negative logits.
        np.negative(values, out=values)
        np.clip(values, -80.0, 80.0, out=values)
        np.exp(values, out=values)
        np.add(values, 1.0, out=values)
        np.reciprocal(values, out=values)
    if contract.minmax:
        for index in range(values.shape[0]):
            height, width = regions[index] if regions else values.shape[1:]
            photo = values[index, :height, :width]
            low, high = float(photo.min()), float(photo.max())
            if high > low:
                values[index] = (values[index] - low) / (high - low)
    clipped: np.ndarray = np.clip(values, 0.0, 1.0, out=values)
    return clipped


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}; got {value!r}")


def contract_from(
    data: dict[str, Any], base: InputContract | OutputContract
) -> InputContract | OutputContract:
    """``base`` with the fields ``data`` (a TOML table) sets; an unknown field is an error."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown contract field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return replace(base, **values)
