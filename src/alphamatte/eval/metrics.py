"""Matting error measures as defined by Rhemann et al. (CVPR 2009) and used by the
Deep Image Matting evaluation code: alphas in 0..1, errors summed over the evaluated region
and divided by 1000 (SAD, gradient, connectivity); MSE is a per-pixel mean.

Without a trimap the region is the whole image; pass ``mask`` to restrict it.
"""

from __future__ import annotations

import cv2
import numpy as np

GRADIENT_SIGMA = 1.4
CONNECTIVITY_STEP = 0.1
CONNECTIVITY_THETA = 0.15


def _region(shape: tuple[int, ...], mask: np.ndarray | None) -> np.ndarray:
    return np.ones(shape, dtype=bool) if mask is None else mask.astype(bool)


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must be equal 2-D shapes")
    return pred.astype(np.float64), gt.astype(np.float64)


def sad(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sum of absolute differences, in thousands."""
    p, g = _check(pred, gt)
    return float(np.abs(p - g)[_region(p.shape, mask)].sum() / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error per evaluated pixel."""
    p, g = _check(pred, gt)
    region = _region(p.shape, mask)
    count = int(region.sum())
    return float(((p - g) ** 2)[region].sum() / count) if count else 0.0


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRADIENT_SIGMA) -> np.ndarray:
    """Magnitude of the first derivative of a Gaussian (sigma 1.4) applied to the matte.

    The derivative filters are SciPy's (unit-area Gaussian), the convention of the Python ports
    of the reference evaluation that published numbers use; the original MATLAB code scales its
    kernels to unit energy instead, which multiplies this error by roughly 100.
    """
    src = alpha.astype(np.float64)
    from scipy import ndimage  # the local extra; the base install has no scipy

    gx = ndimage.gaussian_filter(src, sigma, order=(0, 1))
    gy = ndimage.gaussian_filter(src, sigma, order=(1, 0))
    return np.asarray(np.sqrt(gx * gx + gy * gy))


def gradient_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Squared difference of Gaussian-gradient magnitudes, summed, in thousands."""
    p, g = _check(pred, gt)
    diff = (gradient_magnitude(p) - gradient_magnitude(g)) ** 2
    return float(diff[_region(p.shape, mask)].sum() / 1000.0)


def _largest_component(binary: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        binary.astype(np.uint8), connectivity=4
    )
    if count <= 1:
        return np.zeros(binary.shape, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.asarray(labels == biggest)


def connectivity_error(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    step: float = CONNECTIVITY_STEP,
) -> float:
    """How much each pixel's connection to the main foreground blob differs, in thousands."""
    p, g = _check(pred, gt)
    thresholds = np.arange(0.0, 1.0 + step / 2, step)
    level = np.full(p.shape, -1.0)
    for index in range(1, len(thresholds)):
        omega = _largest_component((p >= thresholds[index]) & (g >= thresholds[index]))
        newly_cut = (level == -1) & ~omega
        level[newly_cut] = thresholds[index - 1]
    level[level == -1] = 1.0
    pred_d = p - level
    gt_d = g - level
    pred_phi = 1 - pred_d * (pred_d >= CONNECTIVITY_THETA)
    gt_phi = 1 - gt_d * (gt_d >= CONNECTIVITY_THETA)
    return float(np.abs(pred_phi - gt_phi)[_region(p.shape, mask)].sum() / 1000.0)


def all_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every measure for uint8 (0..255) or float (0..1) mattes of equal shape."""
    p = pred.astype(np.float64) / 255.0 if pred.dtype == np.uint8 else pred.astype(np.float64)
    g = gt.astype(np.float64) / 255.0 if gt.dtype == np.uint8 else gt.astype(np.float64)
    return {
        "sad": sad(p, g),
        "mse": mse(p, g),
        "gradient": gradient_error(p, g),
        "connectivity": connectivity_error(p, g),
    }


def background_leak(
    cutout_rgb: np.ndarray, alpha: np.ndarray, photo: np.ndarray, gt: np.ndarray
) -> float:
    """How much of the old background a cutout carries into a new composite (0 = none).

    Halos are the old background showing through semi-transparent edges. Near every edge pixel
    the true foreground colour F and the old background colour B are estimated from the
    photo's nearby pixels that the ground truth marks as solid foreground or background
    (Gaussian-weighted, sigma 8 px). A cutout colour C is then split along B - F: the share
    ``t`` in 0..1 is how far C sits towards the old background. Composited with its alpha onto
    anything new, ``alpha * t`` of the old background stays visible; the metric is its mean
    over the edge band (ground truth strictly between 2 % and 98 %), as a percentage.

    A raw cutout (C = photo) leaks about ``alpha * (1 - alpha)``; perfect colours leak 0.
    Pixels where F and B look alike are skipped: there no halo can be seen.
    """
    from alphamatte.imaging.effects import srgb_to_linear

    light = srgb_to_linear(photo)
    g = gt.astype(np.float32)

    def local_mean(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = cv2.GaussianBlur(weight, (0, 0), sigmaX=8.0)
        num = cv2.GaussianBlur(light * weight[:, :, None], (0, 0), sigmaX=8.0)
        return num / np.maximum(w, 1e-6)[:, :, None], w

    fore, fore_w = local_mean((g >= 0.98).astype(np.float32))
    back, back_w = local_mean((g <= 0.02).astype(np.float32))
    axis = back - fore
    length2 = (axis**2).sum(axis=2)
    band = (g > 0.02) & (g < 0.98) & (fore_w > 0.01) & (back_w > 0.01) & (length2 > 0.01)
    if not band.any():
        return 0.0
    colour = srgb_to_linear(cutout_rgb)
    share = ((colour - fore) * axis).sum(axis=2) / np.maximum(length2, 1e-6)
    visible = alpha.astype(np.float32) * np.clip(share, 0.0, 1.0)
    return float(100.0 * visible[band].mean())
