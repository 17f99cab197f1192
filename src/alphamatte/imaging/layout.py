"""Product-photo options on a cutout: region of interest, crop to the subject with a margin,
scale and position of the subject on its canvas.

One implementation for every caller (the CLI, the SDK, the server's endpoints). Values are
written as remove.bg's API writes them, so its clients' strings work as they are:

* lengths: ``"30px"``, ``"30"`` (pixels) or ``"10%"``; a bare ``0`` is zero in any unit;
* ``roi``: ``"x1 y1 x2 y2"``, each a length against the photo's width or height; only that
  rectangle can be foreground;
* ``crop_margin``: one value (every side), two (top and bottom, left and right) or four (top,
  right, bottom, left); ``%`` is of the subject's height (top, bottom) or width (left, right);
  each side is capped at half the subject's size on that axis and at 500 px;
* ``scale``: ``"10%"``-``"100%"`` of the canvas that the subject's box is fitted into, or
  ``"original"``;
* ``position``: ``"original"``, ``"center"``, ``"N%"`` (both axes) or ``"H% V%"``: where the
  subject's box sits in the free space of the canvas (0 % left/top, 100 % right/bottom).

The subject is every pixel whose alpha reaches :data:`SUBJECT_LEVEL`: a model's matte is faintly
above zero in places, and cropping to that would keep the whole photo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

SUBJECT_LEVEL = 8 / 255  # alpha at or above this counts as subject when cropping or placing
MAX_MARGIN_PX = 500
MIN_SCALE, MAX_SCALE = 0.10, 1.00


class LayoutError(ValueError):
    """A value that cannot be read; ``code`` names it in the caller's error dialect."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Box:
    """A pixel rectangle: ``left``/``top`` inclusive, ``right``/``bottom`` exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


_LENGTH = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(px|%)?\s*$")


def parse_length(text: str, reference: float, *, code: str = "invalid_length") -> float:
    """``"30px"``, ``"30"`` or ``"10%"`` (of ``reference``) in pixels."""
    match = _LENGTH.match(text)
    if match is None:
        raise LayoutError(code, f"{text!r} is not a length like 30px or 10%")
    value = float(match.group(1))
    return value * reference / 100 if match.group(2) == "%" else value


def parse_roi(text: str, width: int, height: int) -> Box:
    """The region of interest ``"x1 y1 x2 y2"`` as a box inside a ``width`` x ``height`` photo."""
    parts = text.split()
    if len(parts) != 4:
        raise LayoutError("invalid_roi", f"roi {text!r} needs four values: x1 y1 x2 y2")
    x1, y1, x2, y2 = (
        parse_length(part, reference, code="invalid_roi")
        for part, reference in zip(parts, (width, height, width, height), strict=True)
    )
    if x2 <= x1 or y2 <= y1:
        raise LayoutError("invalid_roi", f"roi {text!r}: x2 and y2 must exceed x1 and y1")
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise LayoutError(
            "roi_exceeds_bounds", f"roi {text!r} exceeds the image ({width}x{height})"
        )
    # Outward to whole pixels (past float noise such as 20.000000000000004 from "10%"), so a
    # region of a pixel or less still covers at least one.
    low = [math.floor(v + 1e-6) for v in (x1, y1)]
    high = [max(a + 1, math.ceil(v - 1e-6)) for a, v in zip(low, (x2, y2), strict=True)]
    return Box(low[0], low[1], high[0], high[1])


def apply_roi(alpha: np.ndarray, roi: Box) -> np.ndarray:
    """``alpha`` with everything outside ``roi`` made transparent (a new array)."""
    kept = np.zeros_like(alpha)
    kept[roi.top : roi.bottom, roi.left : roi.right] = alpha[
        roi.top : roi.bottom, roi.left : roi.right
    ]
    return kept


def subject_box(alpha: np.ndarray) -> Box | None:
    """The bounding box of the subject (alpha 0..1 float or 0..255 uint8); None if empty."""
    level = SUBJECT_LEVEL * 255 if alpha.dtype == np.uint8 else SUBJECT_LEVEL
    solid = alpha >= level
    rows = np.flatnonzero(solid.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(solid.any(axis=0))
    return Box(int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1)


def parse_margin(text: str, subject: Box) -> tuple[int, int, int, int]:
    """``crop_margin`` as (top, right, bottom, left) pixels around ``subject``, capped."""
    parts = text.split()
    if len(parts) == 1:
        parts = parts * 4
    elif len(parts) == 2:
        parts = [parts[0], parts[1], parts[0], parts[1]]
    elif len(parts) != 4:
        raise LayoutError("invalid_crop_margin", "crop_margin takes 1, 2 or 4 values")
    references = (subject.height, subject.width, subject.height, subject.width)
    sides = []
    for part, reference in zip(parts, references, strict=True):
        value = parse_length(part, reference, code="invalid_crop_margin")
        if value < 0:
            raise LayoutError("invalid_crop_margin", f"crop_margin {part!r} is negative")
        sides.append(round(min(value, reference / 2, MAX_MARGIN_PX)))
    top, right, bottom, left = sides
    return top, right, bottom, left


def parse_scale(text: str) -> float | None:
    """``"original"`` → None; ``"10%"``..``"100%"`` → 0.1..1.0."""
    if text.strip().lower() == "original":
        return None
    match = _LENGTH.match(text)
    if match is None or match.group(2) != "%":
        raise LayoutError("invalid_scale", f"scale {text!r} is not 'original' or 10%-100%")
    value = float(match.group(1)) / 100
    if not MIN_SCALE <= value <= MAX_SCALE:
        raise LayoutError("invalid_scale", f"scale {text!r} is outside 10%-100%")
    return value


def parse_position(text: str) -> tuple[float, float] | None:
    """``"original"`` → None; ``"center"`` → (0.5, 0.5); ``"N%"`` or ``"H% V%"`` → fractions."""
    word = text.strip().lower()
    if word == "original":
        return None
    if word in ("center", "centre"):
        return 0.5, 0.5
    parts = word.split()
    values = []
    for part in parts:
        match = _LENGTH.match(part)
        if match is None or match.group(2) != "%" or not 0 <= float(match.group(1)) <= 100:
            raise LayoutError("invalid_position", f"position {text!r} is not a 0%-100% value")
        values.append(float(match.group(1)) / 100)
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise LayoutError("invalid_position", f"position {text!r} takes one or two values")


def place(
    rgba: np.ndarray, *, scale: float | None, position: tuple[float, float] | None
) -> np.ndarray:
    """The subject of ``rgba`` (straight alpha, uint8) moved on a transparent canvas of the same
    size: fitted into ``scale`` of it (when given) and put at ``position`` of the free space
    (centred when only ``scale`` is given). Unchanged when both are None or it has no subject."""
    if scale is None and position is None:
        return rgba
    box = subject_box(rgba[..., 3])
    if box is None:
        return rgba
    height, width = rgba.shape[:2]
    subject = rgba[box.top : box.bottom, box.left : box.right]
    if scale is not None:
        factor = min(scale * width / box.width, scale * height / box.height)
        new_w, new_h = max(1, round(box.width * factor)), max(1, round(box.height * factor))
        subject = _resize_rgba(subject, new_w, new_h)
        position = position or (0.5, 0.5)
    assert position is not None
    sub_h, sub_w = subject.shape[:2]
    left = round((width - sub_w) * position[0])
    top = round((height - sub_h) * position[1])
    canvas = np.zeros_like(rgba)
    _paste(canvas, subject, left, top)
    return canvas


def crop_to_subject(rgba: np.ndarray, margin: str | None = None) -> np.ndarray:
    """``rgba`` cut to its subject's box plus ``margin`` (transparent where the margin goes
    past the photo). A photo without a subject is returned as it is."""
    box = subject_box(rgba[..., 3])
    if box is None:
        return rgba
    top, right, bottom, left = parse_margin(margin, box) if margin else (0, 0, 0, 0)
    out = np.zeros((box.height + top + bottom, box.width + left + right, 4), rgba.dtype)
    out[top : top + box.height, left : left + box.width] = rgba[
        box.top : box.bottom, box.left : box.right
    ]
    return out


def _paste(canvas: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    """``patch`` into ``canvas`` at (left, top), clipped to the canvas."""
    height, width = canvas.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1 = min(width, left + patch.shape[1])
    y1 = min(height, top + patch.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]


def _resize_rgba(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize straight-alpha RGBA without dark fringes: colour is resized premultiplied."""
    from PIL import Image

    alpha = rgba[..., 3:4].astype(np.float32) / 255
    premultiplied = rgba[..., :3].astype(np.float32) * alpha
    planes = np.concatenate([premultiplied, alpha * 255], axis=2)
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(planes[..., c]).resize((width, height), Image.Resampling.LANCZOS)
            )
            for c in range(4)
        ],
        axis=2,
    )
    out_alpha = np.clip(resized[..., 3:4], 0, 255)
    safe = np.where(out_alpha > 0, out_alpha / 255, 1.0)
    colour = np.clip(resized[..., :3] / safe, 0, 255)
    return np.concatenate([colour, out_alpha], axis=2).round().astype(np.uint8)
