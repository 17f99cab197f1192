"""Photos as phones and web pipelines store them: HEIC/HEIF (libheif, through pillow-heif) and
AVIF (Pillow's own), read on every path through ``imaging.decode``: upright, within the limits
read from the header, and refused in one typed error when broken."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.decode import decode, decode_local, open_checked
from alphamatte.imaging.errors import CorruptImageError, TooManyPixelsError
from tests.conftest import gradient_rgb, image_bytes

# Landscape as stored; a camera held upright writes EXIF orientation 6 (turn 90° clockwise).
STORED = gradient_rgb(160, 96)


def _rotated(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes(Image.fromarray(STORED), fmt, exif=exif.tobytes(), quality=92)


def _close(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < tolerance


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_phone_format_decodes_to_the_photo(fmt: str) -> None:
    decoded = decode(image_bytes(Image.fromarray(STORED), fmt, quality=92))
    assert decoded.format == fmt
    assert _close(decoded.upright(), STORED, 4.0)  # lossy, but the same picture


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "JPEG"])
def test_a_rotated_photo_comes_out_upright_once_whatever_its_format(fmt: str) -> None:
    """HEIF carries the turn as irot (libheif applies it), AVIF and JPEG as the EXIF tag: all
    three give the same upright picture, turned exactly once."""
    upright = decode(_rotated(fmt)).upright()
    expected = np.rot90(STORED, k=-1)  # 90° clockwise: 96 wide, 160 high
    assert upright.shape == expected.shape
    assert _close(upright, expected, 6.0)


def test_a_heic_with_alpha_is_read_as_its_colours() -> None:
    rgba = np.dstack([STORED, np.full(STORED.shape[:2], 128, np.uint8)])
    decoded = decode(image_bytes(Image.fromarray(rgba, "RGBA"), "HEIF", quality=92))
    assert decoded.rgb.shape == STORED.shape


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_the_pixel_limit_is_checked_from_the_header(fmt: str) -> None:
    data = image_bytes(Image.fromarray(gradient_rgb(400, 300)), fmt, quality=50)
    opened = open_checked(data, max_pixels=200_000)  # the header alone
    assert opened.size == (400, 300)
    opened.close()
    with pytest.raises(TooManyPixelsError):
        open_checked(data, max_pixels=100_000)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("cut", [0.5, 0.9, 24])
def test_a_truncated_or_empty_file_is_a_corrupt_image(fmt: str, cut: float) -> None:
    data = image_bytes(Image.fromarray(gradient_rgb(320, 240)), fmt, quality=80)
    kept = data[: int(len(data) * cut)] if cut < 1 else data[: int(cut)]
    with pytest.raises((CorruptImageError, TooManyPixelsError)) as refused:
        decode_local(kept)
    assert not isinstance(refused.value, TooManyPixelsError)


def test_the_local_limits_read_a_phone_photo() -> None:
    decoded = decode_local(_rotated("HEIF"))
    assert decoded.upright().shape == (160, 96, 3)
