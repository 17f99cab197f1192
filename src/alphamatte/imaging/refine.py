"""Bringing a low-resolution matte back to full size using the full-resolution photo."""

from __future__ import annotations

import numpy as np

from alphamatte.imaging.resize import resize_matte


def upscale_matte(alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Upscale ``alpha`` (0..1 float) to the size of ``rgb``."""
    height, width = rgb.shape[:2]
    return resize_matte(alpha, width, height)
