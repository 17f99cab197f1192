"""The NumPy/Pillow filters of the base install agree with OpenCV, which the full install uses."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from alphamatte.imaging import filters
from alphamatte.imaging.refine import upscale_matte
from tests.conftest import gradient_rgb

RNG = np.random.default_rng(7)
NOISE = RNG.random((120, 160, 3)).astype(np.float32)


@pytest.fixture
def without_opencv(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run a block as the base install does, where OpenCV is not installed."""
    monkeypatch.setattr(filters, "opencv", lambda: None)
    yield


def both(function: object, *args: object) -> tuple[np.ndarray, np.ndarray]:
    with_cv = function(*args)  # type: ignore[operator]
    patch = pytest.MonkeyPatch()
    patch.setattr(filters, "opencv", lambda: None)
    try:
        plain = function(*args)  # type: ignore[operator]
    finally:
        patch.undo()
    return np.asarray(with_cv), np.asarray(plain)


@pytest.mark.parametrize("radius", [1, 5, 30])
def test_box_mean_matches_opencv_to_rounding(radius: int) -> None:
    with_cv, plain = both(filters.box_mean, NOISE, radius)
    assert np.abs(with_cv - plain).max() < 1e-6


@pytest.mark.parametrize("sigma", [0.7, 2.5, 6.0, 25.0])
def test_gaussian_blur_stays_within_a_percent_of_opencv(sigma: float) -> None:
    with_cv, plain = both(filters.gaussian_blur, NOISE, sigma)
    assert np.abs(with_cv - plain).max() < 0.01
    assert abs(float(plain.mean()) - float(NOISE.mean())) < 1e-3  # nothing gained or lost


def test_erosion_and_dilation_grow_a_disc_like_opencv() -> None:
    dot = np.zeros((81, 81), np.float32)
    dot[40, 40] = 1.0
    with_cv, plain = both(filters.dilate, dot, 12)
    assert 0.9 < plain.sum() / with_cv.sum() < 1.15  # octagon vs ellipse, same size
    assert plain[40, 28] == 1.0 and plain[40, 27] == 0.0  # reaches exactly 12 px sideways
    square = np.ones((40, 40), np.float32)
    square[15:25, 15:25] = 0.0
    eroded_cv, eroded = both(filters.erode, square, 3)
    assert eroded[12:28, 15:25].max() == 0.0 and eroded[20, 12] == 0.0 and eroded[20, 11] == 1.0
    assert eroded[0:8].min() == 1.0
    assert np.abs(eroded_cv - eroded).sum() / square.size < 0.01


def test_shift_moves_whole_pixels_and_fills_behind() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    moved = filters.shift(values, 1, -1)
    assert moved.tolist() == [[0, 4, 5, 6], [0, 8, 9, 10], [0, 0, 0, 0]]
    assert not filters.shift(values, 9, 0).any()


def test_resizing_a_strip_is_the_same_as_cutting_it_from_the_whole() -> None:
    small = RNG.random((50, 70)).astype(np.float32)
    whole = filters.resize_float(small, 280, 200)
    strip = filters.resize_float(small, 280, 40, box=(0, 60 * 50 / 200, 70, 100 * 50 / 200))
    assert np.abs(strip - whole[60:100]).max() < 1e-6


def test_the_guided_upscale_is_the_same_with_or_without_opencv() -> None:
    rgb = gradient_rgb(640, 480)
    coarse = filters.resize_float(
        (rgb[:, :, 0] > 128).astype(np.float32) * 0.9 + 0.05, 160, 120, "box"
    )
    with_cv, plain = both(upscale_matte, coarse, rgb)
    assert with_cv.shape == plain.shape == (480, 640)
    # The guided half agrees to float rounding; the bicubic half differs only at steps, where
    # OpenCV's kernel (a = -0.75) overshoots a little more than Pillow's (a = -0.5).
    difference = np.abs(with_cv - plain)
    assert difference.max() < 0.05 and difference.mean() < 1e-3
