"""Applying a matte: straight-alpha cutouts."""

from __future__ import annotations

import numpy as np

from alphamatte.imaging.decontaminate import foreground_colours
from alphamatte.imaging.filters import opencv
from alphamatte.imaging.resize import to_uint8


def apply_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGBA uint8 with straight (not premultiplied) alpha; colours are left untouched."""
    if rgb.shape[:2] != alpha.shape:
        raise ValueError("image and matte sizes differ")
    a8 = alpha if alpha.dtype == np.uint8 else to_uint8(alpha)
    cv2 = opencv()
    if cv2 is not None and rgb.dtype == np.uint8:
        # One interleaving pass: 0.04 s for 18 MP against NumPy's 0.15 s.
        return np.asarray(cv2.merge([rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2], a8]))
    return np.dstack([rgb, a8])


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The cutout we ship: straight alpha, edges decontaminated, opaque pixels untouched.

    Semi-transparent pixels get their estimated foreground colour instead of the photo's mix
    of subject and old background, so the cutout shows no halo on a new background. Fully
    transparent pixels are (0, 0, 0, 0): see :func:`clear_transparent`.
    """
    return clear_transparent(apply_alpha(foreground_colours(rgb, alpha), alpha))


def clear_transparent(rgba: np.ndarray) -> np.ndarray:
    """Zero the colour of every pixel whose alpha is 0; return the result (``rgba`` itself,
    changed in place, when it is contiguous, as :func:`apply_alpha`'s output is).

    With straight alpha those colours are never seen, but the old background's noise is what
    deflate compresses worst. Measured on the 21 large photos of ../shared/eval (PNG level 1):
    cutout files 147 MB → 74 MB in all, encoding 12.3 s → 7.9 s. Anyone who wants the photo
    under the matte has both: the matte and the untouched original.
    """
    rgba = np.ascontiguousarray(rgba)
    # One multiply over whole pixels (4 bytes as one uint32) by "alpha is not 0".
    pixels = rgba.view(np.uint32).reshape(rgba.shape[:2])
    np.multiply(pixels, rgba[:, :, 3] != 0, out=pixels)
    return rgba


def within_opacity(alpha: np.ndarray, opacity: np.ndarray | None) -> np.ndarray:
    """The matte (float 0..1) never more opaque than the photo was (``opacity``: its own alpha,
    uint8, same grid; None: an opaque photo)."""
    if opacity is None:
        return alpha
    kept: np.ndarray = np.minimum(alpha, opacity.astype(np.float32) / 255.0)
    return kept
