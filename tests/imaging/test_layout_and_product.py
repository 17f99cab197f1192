"""Product options on a cutout: roi, crop and margin, scale and position, background, formats."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.layout import (
    Box,
    LayoutError,
    apply_roi,
    crop_to_subject,
    parse_margin,
    parse_position,
    parse_roi,
    parse_scale,
    place,
    subject_box,
)
from alphamatte.imaging.product_shot import ProductOptions, encode_product, render_product


def cutout_with_square(width: int = 200, height: int = 100) -> np.ndarray:
    """A red 40x20 opaque subject at x 50-90, y 30-50 on a transparent canvas, with faint
    matte noise (alpha 2) everywhere else, as a model's matte has."""
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 3] = 2
    rgba[30:50, 50:90] = (220, 20, 20, 255)
    return rgba


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_roi_reads_pixels_percent_and_unitless_zero() -> None:
    assert parse_roi("0 0 100% 100%", 200, 100) == Box(0, 0, 200, 100)
    assert parse_roi("10px 5px 50% 80%", 200, 100) == Box(10, 5, 100, 80)
    assert parse_roi("10 5 100 80", 200, 100) == Box(10, 5, 100, 80)


@pytest.mark.parametrize(
    ("roi", "code"),
    [
        ("0 0 100%", "invalid_roi"),
        ("a b c d", "invalid_roi"),
        ("50% 0 10% 100%", "invalid_roi"),
        ("0 0 201px 100px", "roi_exceeds_bounds"),
        ("-5 0 100% 100%", "roi_exceeds_bounds"),
    ],
)
def test_bad_rois_are_refused_with_their_code(roi: str, code: str) -> None:
    with pytest.raises(LayoutError) as caught:
        parse_roi(roi, 200, 100)
    assert caught.value.code == code


def test_outside_the_roi_nothing_is_foreground() -> None:
    alpha = np.ones((100, 200), np.float32)
    kept = apply_roi(alpha, Box(10, 5, 100, 80))
    assert kept.sum() == 90 * 75 and kept[5, 10] == 1 and kept[4, 10] == 0 and kept[5, 100] == 0


def test_the_subject_box_ignores_faint_matte_noise() -> None:
    rgba = cutout_with_square()
    assert subject_box(rgba[..., 3]) == Box(50, 30, 90, 50)
    assert subject_box(rgba[..., 3].astype(np.float32) / 255) == Box(50, 30, 90, 50)
    assert subject_box(np.full((10, 10), 2, np.uint8)) is None


def test_margins_take_one_two_or_four_values_and_are_capped() -> None:
    subject = Box(0, 0, 40, 20)  # 40 wide, 20 high
    assert parse_margin("4px", subject) == (4, 4, 4, 4)
    assert parse_margin("2 6", subject) == (2, 6, 2, 6)
    assert parse_margin("1 2 3 4", subject) == (1, 2, 3, 4)
    assert parse_margin("10%", subject) == (2, 4, 2, 4)  # of the height, of the width
    assert parse_margin("300px", subject) == (10, 20, 10, 20)  # at most half the subject
    big = Box(0, 0, 4000, 3000)
    assert parse_margin("40%", big) == (500, 500, 500, 500)  # and at most 500 px
    with pytest.raises(LayoutError, match="1, 2 or 4"):
        parse_margin("1 2 3", subject)


def test_crop_keeps_the_subject_and_its_margin_transparent_past_the_photo() -> None:
    rgba = cutout_with_square()
    cropped = crop_to_subject(rgba)
    assert cropped.shape == (20, 40, 4) and cropped[..., 3].min() == 255
    framed = crop_to_subject(rgba, "10px 15px")
    assert framed.shape == (40, 70, 4)
    assert framed[10:30, 15:55, 3].min() == 255
    assert framed[:10, :, 3].max() == 0 and framed[:, :15, 3].max() == 0
    assert crop_to_subject(rgba, "60px").shape == (40, 80, 4)  # capped at half the subject


def test_scale_fits_the_subject_into_that_share_of_the_canvas_centred() -> None:
    rgba = cutout_with_square()
    placed = place(rgba, scale=0.5, position=None)
    box = subject_box(placed[..., 3])
    assert box is not None
    # the 40x20 box grows to fit 50 % of 200x100: 100x50, centred
    assert (box.width, box.height) == (100, 50)
    assert (box.left, box.top) == (50, 25)
    assert placed[50, 100, :3].tolist() == [220, 20, 20]  # colours survive the resize


def test_position_moves_the_subject_without_scaling_it() -> None:
    rgba = cutout_with_square()
    corner = subject_box(place(rgba, scale=None, position=(0.0, 1.0))[..., 3])
    assert corner == Box(0, 80, 40, 100)
    assert parse_position("center") == (0.5, 0.5)
    assert parse_position("25%") == (0.25, 0.25)
    assert parse_position("0% 100%") == (0.0, 1.0)
    assert parse_position("original") is None and parse_scale("original") is None
    assert parse_scale("50%") == 0.5
    for bad in ("5%", "120%", "big"):
        with pytest.raises(LayoutError):
            parse_scale(bad)
    with pytest.raises(LayoutError):
        parse_position("101%")


def test_a_background_colour_makes_the_result_opaque() -> None:
    rgba = cutout_with_square()
    out = render_product(rgba, ProductOptions(bg_color="00f"))
    assert out[..., 3].min() == 255
    assert out[0, 0, :3].tolist() == [0, 0, 254]  # alpha 2 of the black noise over blue
    assert out[40, 70, :3].tolist() == [220, 20, 20]


def test_the_region_of_interest_and_a_shadow_are_options_too() -> None:
    rgba = cutout_with_square()
    outside = render_product(rgba, ProductOptions(roi="0 0 40px 100%"))
    assert outside[..., 3].max() == 2  # only the matte's faint noise was in that strip
    shaded = render_product(rgba, ProductOptions(shadow="drop"))
    assert shaded[52, 92, 3] > 0 and rgba[52, 92, 3] == 2  # below-right of the subject


@pytest.mark.parametrize(("fmt", "mode"), [("png", "RGBA"), ("webp", "RGBA"), ("jpg", "RGB")])
def test_each_format_decodes_to_the_photo_size(fmt: str, mode: str) -> None:
    rgba = cutout_with_square()
    image = decode(encode_product(rgba, ProductOptions(format=fmt)))
    assert image.format == {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}[fmt]
    assert image.mode == mode and image.size == (200, 100)
    if fmt == "jpg":  # no alpha: the transparent parts come out white
        assert np.asarray(image)[0, 0].min() > 240


def test_zip_holds_an_opaque_jpeg_and_its_matte_at_one_size() -> None:
    rgba = cutout_with_square()
    data = encode_product(rgba, ProductOptions(format="zip", crop=True))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = decode(archive.read("color.jpg"))
        alpha = decode(archive.read("alpha.png"))
    assert (colour.format, colour.mode, colour.size) == ("JPEG", "RGB", (40, 20))
    assert (alpha.format, alpha.mode, alpha.size) == ("PNG", "L", (40, 20))
    assert np.asarray(alpha).min() == 255


def test_the_alpha_channel_is_the_matte_even_on_a_background() -> None:
    rgba = cutout_with_square()
    matte = decode(encode_product(rgba, ProductOptions(channels="alpha", bg_color="white")))
    assert matte.mode == "L" and matte.size == (200, 100)
    values = np.asarray(matte)
    assert values[40, 70] == 255 and values[0, 0] == 2


@pytest.mark.parametrize(
    ("options", "code"),
    [
        (ProductOptions(format="gif"), "invalid_format"),
        (ProductOptions(channels="rgb"), "invalid_channels"),
        (ProductOptions(scale="0%"), "invalid_scale"),
        (ProductOptions(position="left"), "invalid_position"),
        (ProductOptions(bg_color="not-a-colour"), "invalid_bg_color"),
    ],
)
def test_options_are_checked_before_any_work(options: ProductOptions, code: str) -> None:
    with pytest.raises(LayoutError) as caught:
        options.check()
    assert caught.value.code == code
