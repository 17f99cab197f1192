"""Compositing and effects, checked numerically on synthetic pictures."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging import effects


def flat(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (*size, 3)).copy()


def test_srgb_round_trip_is_lossless_for_every_8_bit_value() -> None:
    values = np.arange(256, dtype=np.uint8)
    assert np.array_equal(effects.linear_to_srgb(effects.srgb_to_linear(values)), values)


def test_half_white_over_black_is_188_in_linear_light() -> None:
    out = effects.composite(flat((255, 255, 255)), np.full((32, 32), 0.5), (0, 0, 0))
    assert np.all(np.abs(out.astype(int) - 188) <= 1)


def test_composite_onto_an_image_covers_the_frame() -> None:
    backdrop = flat((0, 0, 255), (10, 40))
    alpha = np.zeros((32, 32), np.float32)
    alpha[8:24, 8:24] = 1.0
    out = effects.composite(flat((255, 0, 0)), alpha, backdrop)
    assert out.shape == (32, 32, 3)
    assert tuple(out[16, 16]) == (255, 0, 0) and tuple(out[0, 0]) == (0, 0, 255)


def square(size: int = 64, side: int = 20) -> np.ndarray:
    alpha = np.zeros((size, size), np.float32)
    lo = (size - side) // 2
    alpha[lo : lo + side, lo : lo + side] = 1.0
    return alpha


def test_erode_and_dilate_move_the_edge_by_n_pixels() -> None:
    alpha = square()
    assert (effects.erode(alpha, 3) > 0.5).sum(axis=1).max() == 20 - 6
    assert (effects.dilate(alpha, 3) > 0.5).sum(axis=1).max() == 20 + 6
    assert np.array_equal(effects.erode(alpha, 0), alpha)


def test_feather_softens_the_edge_without_moving_it() -> None:
    soft = effects.feather(square(), 6)
    row = soft[32]
    partial = ((row > 0.02) & (row < 0.98)).sum()
    assert partial >= 8  # a hard edge has none
    assert abs(row[22] - 0.5) < 0.1  # the 50 % point stays on the old edge
    assert soft.min() >= 0 and soft.max() <= 1


def test_despill_recovers_the_foreground_colour_of_mixed_edge_pixels() -> None:
    fg, bg = np.array((200, 40, 40)), np.array((30, 200, 30))
    alpha = np.zeros((40, 60), np.float32)
    alpha[:, 30:] = 1.0
    alpha[:, 26:30] = [0.2, 0.4, 0.6, 0.8]
    a3 = alpha[:, :, None]
    photo = np.rint(fg * a3 + bg * (1 - a3)).astype(np.uint8)  # the compositing equation
    clean = effects.despill(photo, alpha)
    for x in range(26, 30):
        before = np.abs(photo[20, x].astype(int) - fg).max()
        after = np.abs(clean[20, x].astype(int) - fg).max()
        assert after <= before / 4, (x, photo[20, x], clean[20, x])
    assert np.array_equal(clean[:, 30:], photo[:, 30:])  # opaque pixels untouched


def test_background_blur_keeps_the_subject_and_blurs_the_rest() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha = square()
    out = effects.blur_background(photo, alpha, 6)
    inside = alpha == 1.0
    assert np.abs(out[inside].astype(int) - photo[inside]).max() <= 1
    assert out[~inside].std() < photo[~inside].std() / 3


def test_drop_shadow_darkens_below_right_and_keeps_the_subject() -> None:
    layer = effects.layer(flat((250, 250, 250), (64, 64)), square())
    out = effects.drop_shadow(layer, offset=(10, 10), blur=2, opacity=0.6)
    assert out[50, 50, 3] > 100 and tuple(out[50, 50, :3]) == (0, 0, 0)  # shadow only
    assert out[10, 10, 3] == 0  # the other side stays clear
    assert tuple(out[32, 32]) == (250, 250, 250, 255)


def test_outer_glow_surrounds_the_subject() -> None:
    layer = effects.layer(flat((0, 0, 0), (64, 64)), square())
    out = effects.outer_glow(layer, radius=6, colour=(255, 255, 0))
    ring = [out[32, 19], out[32, 44], out[19, 32], out[44, 32]]
    assert all(p[3] > 60 and p[0] > 200 and p[1] > 200 for p in ring)
    assert out[0, 0, 3] < 5 and tuple(out[32, 32]) == (0, 0, 0, 255)


def test_css_mask_png_carries_the_matte_in_its_alpha_channel() -> None:
    alpha = square().copy()
    alpha[0, 0] = 0.5
    mask = Image.open(io.BytesIO(effects.css_mask_png(alpha)))
    pixels = np.asarray(mask)
    assert mask.mode == "RGBA"
    assert np.all(pixels[:, :, :3] == 255)
    assert np.array_equal(pixels[:, :, 3], np.rint(alpha * 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("text", "rgb"), [("#ff8000", (255, 128, 0)), ("0f0", (0, 255, 0)), ("navy", (0, 0, 128))]
)
def test_colours_parse(text: str, rgb: tuple[int, int, int]) -> None:
    assert effects.parse_colour(text) == rgb


def test_unknown_colour_is_refused() -> None:
    with pytest.raises(ValueError):
        effects.parse_colour("not-a-colour")
