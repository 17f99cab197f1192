"""Resizing of photos and mattes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from alphamatte.imaging.filters import resize_float


def fit_long_side(width: int, height: int, max_side: int, *, multiple: int = 1) -> tuple[int, int]:
    """The size with the same aspect whose long side is at most ``max_side``.

    Never enlarges. With ``multiple`` > 1 both sides are rounded to a multiple of it (at least
    one multiple), which the model's down-sampling stages need.
    """
    scale = min(1.0, max_side / max(width, height))
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    if multiple > 1:
        new_w = max(multiple, round(new_w / multiple) * multiple)
        new_h = max(multiple, round(new_h / multiple) * multiple)
    return new_w, new_h


def resize_image(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a uint8 photo with Lanczos (anti-aliased when shrinking, unlike OpenCV's)."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    resized = Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def resize_matte(alpha: np.ndarray, width: int, height: int, *, cubic: bool = False) -> np.ndarray:
    """Resize a float32 matte in 0..1, clipped back into range.

    Enlarging interpolates (bilinear, or bicubic); shrinking averages the covered area.
    """
    if alpha.shape[1] == width and alpha.shape[0] == height:
        return alpha
    method = "bicubic" if cubic else "bilinear"
    if width * height < alpha.shape[0] * alpha.shape[1]:
        method = "box"
    return np.asarray(np.clip(resize_float(alpha, width, height, method), 0.0, 1.0))


def to_unit_float(alpha: np.ndarray) -> np.ndarray:
    """A matte as float32 in 0..1, from uint8 (0..255) or any float array (clipped)."""
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) / np.float32(255.0)
    return np.clip(alpha.astype(np.float32), 0.0, 1.0)


def to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Quantise a 0..1 matte to 8 bits with rounding.

    One scaled copy, rounded and clipped in place: 0.27x the time of a new array per step
    (18 MP float32: 0.034 s against 0.124 s), the same bytes.
    """
    scaled = np.multiply(alpha, np.float32(255.0), dtype=np.result_type(alpha, np.float32))
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    quantised: np.ndarray = scaled.astype(np.uint8)
    return quantised
