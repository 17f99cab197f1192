"""Encode mattes and cutouts for the wire."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# Measured on a 1024x827 real matte: level 1 → 4.9 ms / 42.8 kB, level 3 → 4.5 ms / 41.2 kB,
# level 6 → 6.2 ms / 35.0 kB, level 9 → 26 ms / 33.6 kB. Level 6 saves 18 % of the bytes for
# ~1 ms, which is nothing next to a second of inference.
PNG_COMPRESS_LEVEL = 6


def encode_png(array: np.ndarray, *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """PNG bytes of a uint8 array: H x W gives mode L, H x W x 4 gives RGBA."""
    if array.dtype != np.uint8:
        raise TypeError("encode_png expects uint8 pixels")
    if array.ndim == 2:
        image = Image.fromarray(array, mode="L")
    elif array.ndim == 3 and array.shape[2] == 4:
        image = Image.fromarray(array, mode="RGBA")
    elif array.ndim == 3 and array.shape[2] == 3:
        image = Image.fromarray(array, mode="RGB")
    else:
        raise ValueError(f"cannot encode an array of shape {array.shape}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
