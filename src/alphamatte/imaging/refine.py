"""Bringing a low-resolution matte back to full size using the full-resolution photo."""

from __future__ import annotations

import numpy as np

from alphamatte.imaging.resize import resize_matte


def upscale_matte(alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Upscale ``alpha`` (0..1 float) to the size of ``rgb``.

    Bilinear for now. A colour guided filter (radius 4, eps 1e-3) on the full-size photo was
    measured at max side 400 on the eval photos: gradient error 0.88x of bicubic, SAD 1.00x,
    but it needs ~40 floats per pixel, too much memory for 50 MP inputs without tiling.
    """
    height, width = rgb.shape[:2]
    return resize_matte(alpha, width, height)
