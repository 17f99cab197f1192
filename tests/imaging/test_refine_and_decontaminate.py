"""Edge-aware upscaling and edge colour decontamination."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from alphamatte.eval.dataset import discover, load_pair
from alphamatte.eval.metrics import background_leak, gradient_error
from alphamatte.imaging.compose import cutout
from alphamatte.imaging.decontaminate import foreground_colours
from alphamatte.imaging.effects import composite
from alphamatte.imaging.encode import encode_png
from alphamatte.imaging.refine import STRIP_ROWS, upscale_matte
from alphamatte.imaging.resize import resize_image, resize_matte


def hard_edge_photo(width: int = 400, height: int = 300, edge: int = 213) -> np.ndarray:
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:, :edge] = (230, 60, 50)
    photo[:, edge:] = (40, 90, 200)
    return photo


def test_guided_upscale_puts_the_edge_where_the_photo_has_it() -> None:
    photo = hard_edge_photo()
    truth = np.zeros((300, 400), np.float32)
    truth[:, :213] = 1.0
    small = resize_matte(truth, 100, 75)  # what the model would see: 4x smaller, blurred edge
    plain = cv2.resize(small, (400, 300), interpolation=cv2.INTER_CUBIC)
    guided = upscale_matte(small, photo)
    assert guided.shape == (300, 400) and guided.dtype == np.float32
    assert guided.min() >= 0.0 and guided.max() <= 1.0
    # The band takes half of the guided estimate (GUIDE_WEIGHT), so half of the way from the
    # interpolated edge to the photo's: measured 0.76x the SAD and 0.61x the gradient error.
    assert np.abs(guided - truth).sum() < 0.85 * np.abs(np.clip(plain, 0, 1) - truth).sum()
    assert gradient_error(guided, truth) < 0.7 * gradient_error(np.clip(plain, 0, 1), truth)


def test_guided_upscale_in_strips_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from alphamatte.imaging import refine

    rng = np.random.default_rng(3)
    photo = cv2.resize(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), (300, STRIP_ROWS * 3))
    small = rng.random((STRIP_ROWS * 3 // 4, 75), dtype=np.float32)
    small[small > 0.7] = 1.0  # solid, empty and uncertain pixels, so both branches run
    small[small < 0.3] = 0.0
    in_strips = upscale_matte(small, photo)
    monkeypatch.setattr(refine, "STRIP_ROWS", STRIP_ROWS * 4)
    whole = upscale_matte(small, photo)
    assert np.abs(in_strips - whole).max() < 1e-4  # no seam at the strip joints


def test_guided_upscale_skips_only_blocks_it_would_not_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alphamatte.imaging import refine

    photo = hard_edge_photo(width=1200, height=300, edge=702)
    truth = np.zeros((300, 1200), np.float32)
    truth[:, :702] = 1.0
    small = resize_matte(truth, 300, 75)  # uncertain only around the edge: one or two blocks
    in_blocks = upscale_matte(small, photo)
    monkeypatch.setattr(refine, "BLOCK_COLUMNS", 10**6)
    whole = upscale_matte(small, photo)
    assert np.abs(in_blocks - whole).max() < 1e-4
    plain = resize_matte(small, 1200, 300, cubic=True)
    assert np.abs(whole - plain)[:, 690:710].max() > 0.05  # the guided edge is there


def test_the_photo_already_shrunk_for_the_model_guides_the_same_upscale() -> None:
    rng = np.random.default_rng(5)
    photo = cv2.resize(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), (400, 300))
    small = rng.random((75, 100), dtype=np.float32)
    small[small > 0.7], small[small < 0.3] = 1.0, 0.0
    shrunk = resize_image(photo, 100, 75)
    same = upscale_matte(small, photo, small_rgb=shrunk)
    assert np.array_equal(same, upscale_matte(small, photo))
    # It is what guides the edges: another small photo gives another matte.
    other = upscale_matte(small, photo, small_rgb=np.ascontiguousarray(shrunk[:, ::-1]))
    assert np.abs(other - upscale_matte(small, photo)).max() > 0.05
    with pytest.raises(ValueError, match="matte's size"):
        upscale_matte(small, photo, small_rgb=resize_image(photo, 50, 75))


def test_shrinking_or_equal_sizes_fall_back_to_a_plain_resize() -> None:
    alpha = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    assert upscale_matte(alpha, np.zeros((64, 64, 3), np.uint8)) is alpha
    assert upscale_matte(alpha, np.zeros((32, 32, 3), np.uint8)).shape == (32, 32)
    assert upscale_matte(np.ones((1, 4), np.float32), np.zeros((8, 8, 3), np.uint8)).shape == (8, 8)


def soft_disc(size: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = np.clip((40 - np.hypot(yy - size / 2, xx - size / 2)) / 8 + 0.5, 0, 1)
    fg, bg = np.array((230, 200, 40)), np.array((20, 160, 30))
    photo = np.rint(fg * alpha[:, :, None] + bg * (1 - alpha[:, :, None])).astype(np.uint8)
    return photo, alpha.astype(np.float32), fg


def test_cutout_on_a_new_background_shows_no_halo_of_the_old_one() -> None:
    photo, alpha, fg = soft_disc()
    rgba = cutout(photo, alpha)
    new_bg = (0, 0, 255)
    ours = composite(rgba[:, :, :3], alpha, new_bg).astype(int)
    truth = composite(np.broadcast_to(fg.astype(np.uint8), photo.shape).copy(), alpha, new_bg)
    raw = composite(photo, alpha, new_bg).astype(int)
    edge = (alpha > 0.05) & (alpha < 0.95)
    green_ours = np.abs(ours[:, :, 1] - truth[:, :, 1])[edge].mean()
    green_raw = np.abs(raw[:, :, 1] - truth[:, :, 1])[edge].mean()
    assert green_raw > 10  # the raw photo drags the old green into the new composite
    assert green_ours < green_raw / 4


def test_decontamination_only_touches_semi_transparent_pixels() -> None:
    photo, alpha, _ = soft_disc()
    out = foreground_colours(photo, alpha)
    solid = (alpha <= 0) | (alpha >= 1)
    assert np.array_equal(out[solid], photo[solid])
    assert not np.array_equal(out[~solid], photo[~solid])
    assert foreground_colours(photo, (alpha > 0.5).astype(np.float32)) is photo  # hard matte


def test_tiles_agree_with_one_pass_on_a_large_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from alphamatte.imaging import decontaminate

    photo, alpha, _ = soft_disc(240)
    whole = foreground_colours(photo, alpha)
    monkeypatch.setattr(decontaminate, "TILE", 100)
    tiled = foreground_colours(photo, alpha)
    assert np.abs(whole.astype(int) - tiled.astype(int)).mean() < 1.0


def test_a_thin_edge_is_estimated_in_small_boxes_and_a_wide_one_in_one() -> None:
    from alphamatte.imaging import decontaminate

    size = decontaminate.TILE
    thin = np.zeros((size, size), bool)
    thin[np.arange(size), np.arange(size)] = True  # a one-pixel edge corner to corner
    boxes = decontaminate._boxes(thin)
    covered = np.zeros_like(thin)
    for y0, y1, x0, x1 in boxes:
        covered[y0:y1, x0:x1] = True
    assert covered[thin].all()
    seen = sum(decontaminate._with_context(box, thin.shape) for box in boxes)
    assert len(boxes) > 1 and seen < 0.5 * size * size
    wide = np.ones((size, size), bool)  # soft all over (fur, smoke): quarters would only add
    assert decontaminate._boxes(wide) == [(0, size, 0, size)]


def test_leak_metric_drops_on_real_photos(eval_dir: Path) -> None:
    """With the true alpha, the old background left in edges: the mean over all real photos."""
    raw, clean = [], []
    for pair in discover(eval_dir):
        if pair.composite:
            continue
        photo, gt = load_pair(pair)
        alpha = gt.astype(np.float32) / 255.0
        raw.append(background_leak(photo, alpha, photo, alpha))
        clean.append(background_leak(cutout(photo, alpha)[:, :, :3], alpha, photo, alpha))
    assert len(raw) >= 10
    assert np.mean(raw) > 10.0
    assert np.mean(clean) < 0.5 * np.mean(raw)
    assert sum(c < r for c, r in zip(clean, raw, strict=True)) == len(raw)  # every photo


def test_cutout_clears_only_fully_transparent_pixels() -> None:
    photo, alpha, _ = soft_disc()
    rgba = cutout(photo, alpha)
    clear = rgba[:, :, 3] == 0
    assert clear.any() and (rgba[:, :, 3] == 255).any()
    assert not rgba[clear].any()  # (0, 0, 0, 0): nothing of the old background stays
    opaque = rgba[:, :, 3] == 255
    assert np.array_equal(rgba[:, :, :3][opaque], photo[opaque])
    partial = ~clear & ~opaque
    assert rgba[:, :, :3][partial].min(axis=1).max() > 0  # edge colours are kept


def test_clearing_transparent_pixels_halves_a_noisy_cutout_png() -> None:
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)  # camera-like noise
    alpha = np.zeros((300, 400), np.float32)
    alpha[100:200, 150:250] = 1.0
    kept = encode_png(np.dstack([photo, (alpha * 255).astype(np.uint8)]))
    cleared = encode_png(cutout(photo, alpha))
    assert len(cleared) < len(kept) / 2
