"""Float image filters for the SDK and the model-free CLI: box mean, Gaussian blur, erosion.

OpenCV would add ~150 MB to the base install, three times everything else it needs, so these
work on NumPy and Pillow alone; when OpenCV is installed (the ``local`` and ``server`` extras)
the same operations run through it, several times faster. Box means and resizing agree with
OpenCV to float rounding (tested), the Gaussian to within a percent of the signal. Without
OpenCV each costs O(1) per pixel whatever the radius: running sums for box means, three boxes
for a wide Gaussian, Pillow's C resampler for resizing.
"""

from __future__ import annotations

import math
import threading
from functools import cache
from importlib import import_module
from types import ModuleType

import numpy as np
from PIL import Image

_opencv_lock = threading.Lock()


@cache
def _import_opencv() -> ModuleType | None:
    try:
        return import_module("cv2")
    except ImportError:
        return None


def opencv() -> ModuleType | None:
    """OpenCV when installed, imported on first use (it costs ~0.1 s to import). Concurrent first
    calls wait for one import: asking ``find_spec`` while another thread is inside cv2's
    bootstrap raised "cv2.__spec__ is None" under concurrent first requests."""
    with _opencv_lock:
        return _import_opencv()


_RESAMPLE = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def _along(ndim: int, axis: int, part: slice) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)² window around each pixel, borders mirrored (``fedcba|abcdef``).

    Works on H x W or H x W x C float arrays; sums run in float64 so that differences of
    large running sums keep float32 precision. Returns float32.
    """
    if radius <= 0:
        return values.astype(np.float32)
    size = 2 * radius + 1
    cv2 = opencv()
    if cv2 is not None:
        return np.asarray(
            cv2.boxFilter(
                values.astype(np.float32),
                -1,
                (size, size),
                normalize=True,
                borderType=cv2.BORDER_REFLECT,
            )
        )
    out = values.astype(np.float64)
    for axis in (0, 1):
        length = out.shape[axis]
        widths = [(0, 0)] * out.ndim
        widths[axis] = (radius + 1, radius)
        running = np.cumsum(np.pad(out, widths, mode="symmetric"), axis=axis)
        upper = running[_along(out.ndim, axis, slice(size, size + length))]
        lower = running[_along(out.ndim, axis, slice(0, length))]
        out = (upper - lower) / size
    return out.astype(np.float32)


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` px, borders mirrored.

    OpenCV's when installed. Otherwise exact taps below sigma 4, and above it three successive
    box means of the right widths, which match a Gaussian's variance exactly and its shape to
    within a few percent (Wells, 1986), at a cost that does not grow with ``sigma``.
    """
    if sigma <= 0:
        return values.astype(np.float32)
    cv2 = opencv()
    if cv2 is not None:
        return np.asarray(
            cv2.GaussianBlur(
                values.astype(np.float32), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT
            )
        )
    if sigma < 4.0:
        return _gaussian_taps(values.astype(np.float32), sigma)
    passes = 3
    ideal = math.sqrt(12.0 * sigma * sigma / passes + 1.0)
    lower = int(ideal) - (1 if int(ideal) % 2 == 0 else 0)  # the odd width just below
    upper = lower + 2
    # How many passes use the smaller width so that the variances add up to sigma².
    small = round(
        (12 * sigma * sigma - passes * lower * lower - 4 * passes * lower - 3 * passes)
        / (-4 * lower - 4)
    )
    out = values.astype(np.float32)
    for index in range(passes):
        width = lower if index < small else upper
        out = box_mean(out, (width - 1) // 2)
    return out


def _gaussian_taps(values: np.ndarray, sigma: float) -> np.ndarray:
    """An exact sampled Gaussian, separably, for small ``sigma`` where boxes are too coarse."""
    radius = math.ceil(3 * sigma)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = values
    for axis in (0, 1):
        widths = [(0, 0)] * out.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(out, widths, mode="symmetric")
        length = out.shape[axis]
        total = np.zeros_like(out)
        for offset, weight in enumerate(taps):
            total += weight * padded[_along(out.ndim, axis, slice(offset, offset + length))]
        out = total
    return out


def _extreme_3x3(values: np.ndarray, pick: np.ufunc, square: bool) -> np.ndarray:
    """Min or max over each pixel's 3x3 neighbourhood (``square``) or its 4-neighbour cross;
    edges replicated, so pixels outside the image never win."""
    padded = np.pad(values, 1, mode="edge")
    height, width = values.shape
    centre = padded[1:-1, 1:-1]
    if square:
        rows = pick(pick(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
        return np.asarray(pick(pick(rows[:-2], rows[1:-1]), rows[2:]))
    out = pick(centre, padded[:-2, 1:-1])
    out = pick(out, padded[2:, 1 : width + 1])
    out = pick(out, padded[1 : height + 1, :-2])
    return np.asarray(pick(out, padded[1 : height + 1, 2:]))


def _morphology(values: np.ndarray, px: int, pick: np.ufunc) -> np.ndarray:
    cv2 = opencv()
    if cv2 is not None and px > 0:
        element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
        operation = cv2.erode if pick is np.minimum else cv2.dilate
        return np.asarray(operation(values.astype(np.float32), element))
    # Alternating square and cross steps grow an octagon, the usual discrete stand-in for a
    # disc of radius px: the result does not depend on the direction of an edge the way a
    # square structuring element would.
    out = values.astype(np.float32)
    for step in range(px):
        out = _extreme_3x3(out, pick, square=step % 2 == 1)
    return out


def erode(values: np.ndarray, px: int) -> np.ndarray:
    """Grey-level erosion by a disc-like element of radius ``px`` (soft edges stay soft)."""
    return _morphology(values, px, np.minimum)


def dilate(values: np.ndarray, px: int) -> np.ndarray:
    """Grey-level dilation by a disc-like element of radius ``px``."""
    return _morphology(values, px, np.maximum)


def shift(values: np.ndarray, dx: int, dy: int, fill: float = 0.0) -> np.ndarray:
    """``values`` moved by whole pixels (right and down are positive), ``fill`` behind."""
    height, width = values.shape[:2]
    out = np.full_like(values, fill)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    src_y, dst_y = slice(max(0, -dy), height - max(0, dy)), slice(max(0, dy), height - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), width - max(0, dx)), slice(max(0, dx), width - max(0, -dx))
    out[dst_y, dst_x] = values[src_y, src_x]
    return out


def resize_float(
    values: np.ndarray,
    width: int,
    height: int,
    method: str = "bilinear",
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Resize an H x W (x C) float array, Pillow's resampler channel by channel or OpenCV's.

    Pixel centres follow the usual convention (source x = (x + 0.5) · scale − 0.5) and edges are
    clamped. ``box`` (left, top, right, bottom, in source pixels) resizes only that region,
    with the same mapping as resizing the whole. With OpenCV installed it does the work: the
    engine's mattes stay exactly what they were when it was the only resizer. Enlarging gives
    the same values either way (to float rounding); shrinking is area averaging in OpenCV and
    Pillow's box filter without it, which differ by a few levels at edges.
    """
    cv2 = opencv()
    if cv2 is not None and (values.ndim == 2 or values.shape[2] <= 4):
        resized = _resize_opencv(cv2, values, width, height, method, box)
        if resized is not None:
            return resized
    resample = _RESAMPLE[method]
    planes = values[:, :, None] if values.ndim == 2 else values
    out = np.empty((height, width, planes.shape[2]), np.float32)
    for channel in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, channel], np.float32))
        out[:, :, channel] = np.asarray(plane.resize((width, height), resample, box=box))
    return out[:, :, 0] if values.ndim == 2 else out


_OPENCV_METHOD = {"box": "INTER_AREA", "bilinear": "INTER_LINEAR", "bicubic": "INTER_CUBIC"}


def _resize_opencv(
    cv2: ModuleType,
    values: np.ndarray,
    width: int,
    height: int,
    method: str,
    box: tuple[float, float, float, float] | None,
) -> np.ndarray | None:
    """OpenCV's resize, or None where it would not match the mapping described above."""
    src = np.ascontiguousarray(values, np.float32)
    if box is None:
        if method not in _OPENCV_METHOD:
            return None
        flag = getattr(cv2, _OPENCV_METHOD[method])
        return np.asarray(cv2.resize(src, (width, height), interpolation=flag))
    left, top, right, bottom = box
    scale_x, scale_y = (right - left) / width, (bottom - top) / height
    if method not in ("bilinear", "bicubic") or scale_x > 1 or scale_y > 1:
        return None  # OpenCV's interpolation does not anti-alias a shrink; Pillow's does
    flag = cv2.INTER_LINEAR if method == "bilinear" else cv2.INTER_CUBIC
    # Output pixel centre x + 0.5 maps to left + (x + 0.5) · scale in source coordinates.
    mapping = np.array(
        [
            [scale_x, 0.0, left + 0.5 * scale_x - 0.5],
            [0.0, scale_y, top + 0.5 * scale_y - 0.5],
        ],
        np.float64,
    )
    return np.asarray(
        cv2.warpAffine(
            src,
            mapping,
            (width, height),
            flags=flag | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    )
