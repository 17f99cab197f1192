"""Colour spaces on the way in and out: profiles read, kept and written; CMYK, greys and broken
profiles; user colours and background images rendered into the output's space."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.colour import colour_in, convert, is_srgb, srgb_profile_bytes, to_srgb
from alphamatte.imaging.decode import decode
from alphamatte.imaging.encode import encode_gray, encode_output, encode_png
from alphamatte.imaging.product_shot import ProductOptions, encode_product
from tests.colour_samples import delta_e, display_p3, output_icc, saturated, to_lab
from tests.conftest import gradient_rgb, image_bytes

P3 = display_p3()
PIXELS = saturated(gradient_rgb(64, 48))


def test_a_photo_keeps_its_pixels_and_profile_and_the_model_gets_srgb() -> None:
    decoded = decode(image_bytes(Image.fromarray(PIXELS), "PNG", icc_profile=P3))
    assert decoded.icc_profile == P3
    assert np.array_equal(decoded.rgb, PIXELS)  # untouched
    seen = decoded.upright_srgb()
    assert not np.array_equal(seen, PIXELS)
    # The same colours as far as sRGB holds them: muted pixels (inside sRGB) agree closely.
    muted = (PIXELS // 4 + 96).astype(np.uint8)
    seen_muted = decode(image_bytes(Image.fromarray(muted), "PNG", icc_profile=P3)).upright_srgb()
    assert delta_e(to_lab(muted, P3), to_lab(seen_muted, None)).mean() < 1.0
    assert delta_e(to_lab(muted, None), to_lab(seen_muted, None)).mean() > 1.0


def test_an_srgb_profile_costs_nothing() -> None:
    decoded = decode(image_bytes(Image.fromarray(PIXELS), "JPEG", icc_profile=srgb_profile_bytes()))
    assert is_srgb(decoded.icc_profile)
    assert decoded.upright_srgb() is not None
    upright = decoded.upright()
    assert to_srgb(upright, decoded.icc_profile) is upright  # no conversion at all


def test_an_unreadable_profile_is_ignored_not_refused() -> None:
    decoded = decode(image_bytes(Image.fromarray(PIXELS), "PNG", icc_profile=b"not a profile"))
    assert decoded.icc_profile is None
    assert np.array_equal(decoded.rgb, PIXELS)


def test_an_rgb_profile_on_a_grey_photo_is_not_kept() -> None:
    """Only an RGB profile can describe the RGB values a grey photo becomes."""
    grey = Image.fromarray(PIXELS).convert("L")
    decoded = decode(image_bytes(grey, "PNG"))
    assert decoded.icc_profile is None and decoded.rgb.shape == (48, 64, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_photos_come_in_as_rgb(fmt: str) -> None:
    """Pillow stores and reads JPEG CMYK in Adobe's inverted form; without a profile the plain
    conversion is used (what browsers show for an untagged CMYK JPEG)."""
    cmyk = Image.fromarray(PIXELS).convert("CMYK")
    decoded = decode(image_bytes(cmyk, fmt, **({"quality": 100} if fmt == "JPEG" else {})))
    assert decoded.icc_profile is None
    expected = np.asarray(cmyk.convert("RGB")).astype(int)
    assert np.abs(decoded.rgb.astype(int) - expected).mean() < 3.0


def test_colour_profile_rides_on_every_colour_output_and_never_on_a_matte() -> None:
    rgba = np.dstack([PIXELS, np.full(PIXELS.shape[:2], 200, np.uint8)])
    for fmt in ("png", "webp", "jpg"):
        assert output_icc(encode_output(rgba, fmt, icc_profile=P3)) == P3
        assert output_icc(encode_output(rgba, fmt)) is None
    archive = encode_output(rgba, "zip", icc_profile=P3)
    import zipfile

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert output_icc(opened.read("color.jpg")) == P3
        assert output_icc(opened.read("alpha.png")) is None
    matte = PIXELS[..., 0]
    assert output_icc(encode_png(matte, icc_profile=P3)) is None
    assert output_icc(encode_gray(matte, "webp")) is None


def test_a_named_colour_is_that_colour_in_the_outputs_space() -> None:
    assert colour_in((255, 0, 0), None) == (255, 0, 0)
    in_p3 = colour_in((255, 0, 0), P3)
    assert in_p3 == pytest.approx((234, 51, 35), abs=1)  # sRGB red inside Display P3
    rgba = np.dstack([PIXELS, np.zeros(PIXELS.shape[:2], np.uint8)])  # all background
    data = encode_product(rgba, ProductOptions(bg_color="#ff0000"), icc_profile=P3)
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
        icc = image.info.get("icc_profile")
    red = np.broadcast_to(np.array([255, 0, 0], np.uint8), rgb.shape).copy()
    assert delta_e(to_lab(rgb, icc), to_lab(red, None)).max() <= 1.0


def test_a_background_image_is_rendered_into_the_photos_space() -> None:
    """A P3 background under an sRGB photo: its colours are converted, not reinterpreted."""
    muted = (PIXELS // 4 + 96).astype(np.uint8)  # inside sRGB
    converted = convert(muted, P3, None)
    assert delta_e(to_lab(muted, P3), to_lab(converted, None)).mean() < 1.0
    back = convert(converted, None, P3)
    assert np.abs(back.astype(int) - muted).max() <= 2
    assert convert(PIXELS, None, None) is PIXELS
    assert convert(PIXELS, P3, P3) is PIXELS
