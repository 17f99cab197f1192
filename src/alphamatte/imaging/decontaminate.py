"""Foreground colours for semi-transparent edges, so a cutout carries no old background.

An edge pixel of a photo mixes the subject with what was behind it: ``I = a F + (1 - a) B``.
A cutout that keeps ``I`` as its colour shows a fringe of the old background on any new one.
pymatting's multilevel foreground estimation (Germer et al., 2020) recovers ``F``; measured on
the 19 real photos of ../shared/eval with the ground-truth alpha it cuts the visible old
background in the edge band from 17.6 % to 6.0 % (our local-background subtraction reached
9.1 %), at ~50 ms per 0.4 MP. See ``eval.metrics.background_leak``.

Only pixels with 0 < alpha < 1 change: opaque pixels keep their exact colours, and the
estimate runs box by box around such pixels (a tile's, or its quarters' where that gives it
fewer pixels to work on), which bounds time and memory on large photos. Splitting tiles took
the 21 large eval photos from 21.8 to 15.6 s (2-core AMD EPYC) with the model's mattes, and
left the old background in their edges at 7.53 % instead of 7.64 % (median 3.57 % instead of
3.60 %; 11 photos better, 8 worse, none by more than 0.31 points but sheep_00, 1.26 better).

pymatting (with numba) is the optional ``edges`` extra, part of ``local`` and ``server``. Without
it, :func:`foreground_colours` leaves the photo's colours as they are: the cutout is still a
correct straight-alpha image, only its soft edges keep a trace of the old background.
"""

from __future__ import annotations

from functools import cache
from importlib.util import find_spec

import numpy as np

from alphamatte.imaging.resize import to_uint8, to_unit_float

TILE = 1024  # core tile side, in pixels
MIN_TILE = 256  # tiles split in four while that gives the estimate fewer pixels, down to this
MARGIN = 48  # context around each tile so that the estimate sees both sides of an edge


def _estimate(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting import estimate_foreground_ml  # numba: imported only when needed

    foreground = estimate_foreground_ml(rgb.astype(np.float32) / 255.0, alpha.astype(np.float32))
    return to_uint8(np.asarray(foreground))


@cache
def available() -> bool:
    """True when pymatting (the ``edges`` extra) is installed."""
    return find_spec("pymatting") is not None


def foreground_colours(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``rgb`` with each semi-transparent pixel's colour replaced by its foreground estimate.

    ``alpha`` is float 0..1 or uint8 at the same size as ``rgb``. Without the ``edges`` extra,
    ``rgb`` itself (see the module's docstring).
    """
    if not available():
        return rgb
    a = to_unit_float(alpha)
    partial = (a > 0.5 / 255.0) & (a < 254.5 / 255.0)
    if not partial.any():
        return rgb
    out = rgb.copy()
    height, width = a.shape
    for y0, y1, x0, x1 in _boxes(partial):
        cy0, cx0 = max(0, y0 - MARGIN), max(0, x0 - MARGIN)
        cy1, cx1 = min(height, y1 + MARGIN), min(width, x1 + MARGIN)
        estimate = _estimate(rgb[cy0:cy1, cx0:cx1], a[cy0:cy1, cx0:cx1])
        mask = partial[y0:y1, x0:x1]
        box = estimate[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
        out[y0:y1, x0:x1][mask] = box[mask]
    return out


Box = tuple[int, int, int, int]  # top, bottom, left, right (exclusive)


def _boxes(partial: np.ndarray) -> list[Box]:
    """Boxes that cover every ``True`` of ``partial``, to be estimated one by one."""
    return [
        box
        for top in range(0, partial.shape[0], TILE)
        for left in range(0, partial.shape[1], TILE)
        for box in _tile_boxes(partial, top, left, TILE)
    ]


def _tile_boxes(partial: np.ndarray, top: int, left: int, size: int) -> list[Box]:
    """The box around one tile's ``True`` pixels, or its quarters' boxes where those hold
    fewer pixels with their context: a thin edge across a tile then costs a strip along the
    edge rather than the whole tile. The estimate's cost follows the pixels it is given."""
    tile = partial[top : top + size, left : left + size]
    rows, cols = np.flatnonzero(tile.any(axis=1)), np.flatnonzero(tile.any(axis=0))
    if rows.size == 0:
        return []
    whole = (
        top + int(rows[0]),
        top + int(rows[-1]) + 1,
        left + int(cols[0]),
        left + int(cols[-1]) + 1,
    )
    half = size // 2
    if half < MIN_TILE:
        return [whole]
    quarters = [
        box
        for dy in (0, half)
        for dx in (0, half)
        for box in _tile_boxes(partial, top + dy, left + dx, half)
    ]
    shape = partial.shape
    if sum(_with_context(box, shape) for box in quarters) < _with_context(whole, shape):
        return quarters
    return [whole]


def _with_context(box: Box, shape: tuple[int, ...]) -> int:
    """Pixels the estimate sees for ``box``: the box and its margin, inside the image."""
    y0, y1, x0, x1 = box
    height = min(shape[0], y1 + MARGIN) - max(0, y0 - MARGIN)
    width = min(shape[1], x1 + MARGIN) - max(0, x0 - MARGIN)
    return height * width


def warm_up() -> None:
    """Compile the numba kernels now rather than in the first user's request."""
    rgb = np.zeros((8, 8, 3), np.uint8)
    alpha = np.full((8, 8), 0.5, np.float32)
    _estimate(rgb, alpha)
