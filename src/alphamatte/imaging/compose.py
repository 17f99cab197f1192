"""Applying a matte: straight-alpha cutouts."""

from __future__ import annotations

import numpy as np

from alphamatte.imaging.decontaminate import foreground_colours
from alphamatte.imaging.resize import to_uint8


def apply_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA uint8 with straight (not premultiplied) alpha; colours are left untouched."""
    if rgb.shape[:2] != alpha.shape:
        raise ValueError("image and matte sizes differ")
    a8 = alpha if alpha.dtype == np.uint8 else to_uint8(alpha)
    return np.dstack([rgb, a8])


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The cutout we ship: straight alpha, edges decontaminated, opaque pixels untouched.

    Semi-transparent pixels get their estimated foreground colour instead of the photo's mix
    of subject and old background, so the cutout shows no halo on a new background.
    """
    return apply_alpha(foreground_colours(rgb, alpha), alpha)
