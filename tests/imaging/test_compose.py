"""Quantising mattes and attaching them to photos."""

from __future__ import annotations

import numpy as np
import pytest

from alphamatte.imaging import compose
from alphamatte.imaging.compose import apply_alpha
from alphamatte.imaging.resize import to_uint8


def test_mattes_round_to_the_nearest_level_and_clip() -> None:
    alpha = np.array([[-0.3, 0.0, 0.49 / 255, 0.51 / 255, 127.6 / 255, 1.0, 1.7]], np.float32)
    kept = alpha.copy()
    assert to_uint8(alpha).tolist() == [[0, 0, 0, 1, 128, 255, 255]]
    assert np.array_equal(alpha, kept)  # the caller's matte is not scaled in place
    assert to_uint8(alpha.astype(np.float64)).tolist() == [[0, 0, 0, 1, 128, 255, 255]]


@pytest.mark.parametrize("with_opencv", [True, False])
def test_straight_alpha_keeps_every_colour(
    with_opencv: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not with_opencv:
        monkeypatch.setattr(compose, "opencv", lambda: None)  # the SDK's install has no OpenCV
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    alpha = rng.random((7, 5), dtype=np.float32)
    rgba = apply_alpha(rgb, alpha)
    assert rgba.shape == (7, 5, 4) and rgba.dtype == np.uint8 and rgba.flags.c_contiguous
    assert np.array_equal(rgba[:, :, :3], rgb)
    assert np.array_equal(rgba[:, :, 3], to_uint8(alpha))
    with pytest.raises(ValueError, match="sizes differ"):
        apply_alpha(rgb, alpha[:6])
