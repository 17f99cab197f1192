from __future__ import annotations

import numpy as np
import pytest

from alphamatte.eval.metrics import (
    all_metrics,
    connectivity_error,
    gradient_error,
    gradient_magnitude,
    mse,
    sad,
)


def test_sad_and_mse_on_a_hand_computed_case() -> None:
    gt = np.array([[0.0, 1.0], [0.5, 0.25]])
    pred = np.array([[0.5, 1.0], [0.0, 0.25]])
    # |diffs| = 0.5, 0, 0.5, 0 -> 1.0 in total, i.e. 0.001 thousands
    assert sad(pred, gt) == pytest.approx(0.001)
    # squares = 0.25 + 0.25 over 4 pixels
    assert mse(pred, gt) == pytest.approx(0.125)
    mask = np.array([[True, False], [False, False]])
    assert sad(pred, gt, mask) == pytest.approx(0.0005)
    assert mse(pred, gt, mask) == pytest.approx(0.25)


def test_all_metrics_accepts_uint8_and_scales_to_unit_range() -> None:
    gt = np.zeros((10, 10), np.uint8)
    pred = np.full((10, 10), 255, np.uint8)
    metrics = all_metrics(pred, gt)
    assert metrics["sad"] == pytest.approx(0.1)
    assert metrics["mse"] == pytest.approx(1.0)


def test_identical_mattes_score_zero_everywhere() -> None:
    rng = np.random.default_rng(1)
    alpha = rng.random((32, 48))
    assert all_metrics(alpha, alpha) == {"sad": 0, "mse": 0, "gradient": 0, "connectivity": 0}


def test_gradient_magnitude_of_a_unit_step_peaks_at_the_gaussian_height() -> None:
    step = np.zeros((41, 41))
    step[:, 20:] = 1.0
    magnitude = gradient_magnitude(step)
    # d/dx of (step * Gaussian) at the edge is the Gaussian's peak, 1 / (sqrt(2 pi) sigma).
    assert magnitude[20].max() == pytest.approx(1 / (np.sqrt(2 * np.pi) * 1.4), rel=0.05)


def test_gradient_error_ignores_constant_offsets_but_sees_edges() -> None:
    flat = np.full((20, 20), 0.2)
    assert gradient_error(flat + 0.5, flat) == pytest.approx(0.0)
    step = np.zeros((20, 20))
    step[:, 10:] = 1.0
    blurred = np.tile(np.clip((np.arange(20) - 5) / 10, 0, 1), (20, 1))
    sharp_vs_sharp = gradient_error(step, step)
    blurred_vs_sharp = gradient_error(blurred, step)
    assert sharp_vs_sharp == 0
    assert blurred_vs_sharp > 0


def test_connectivity_error_on_a_hand_computed_case() -> None:
    # gt: one connected foreground pixel block; pred adds a floating island of 1.0 that is not
    # connected to the main blob. The island pixel's level is 0 (cut at the first threshold),
    # so pred_phi = 1 - 1.0 = 0 there while gt_phi = 1 - 0 = 1: an error of exactly 1 pixel.
    gt = np.zeros((5, 5))
    gt[0:2, 0:2] = 1.0
    pred = gt.copy()
    pred[4, 4] = 1.0
    assert connectivity_error(pred, gt) == pytest.approx(0.001)
    # A value below theta (0.15) above its level does not count as disconnected.
    pred2 = gt.copy()
    pred2[4, 4] = 0.1
    assert connectivity_error(pred2, gt) == pytest.approx(0.0)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        sad(np.zeros((2, 2)), np.zeros((2, 3)))
