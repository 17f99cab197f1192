from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.decode import decode, to_stored, to_upright
from alphamatte.imaging.errors import (
    CorruptImageError,
    InputTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from tests.conftest import gradient_rgb, image_bytes

RGB = gradient_rgb(64, 40)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_every_supported_format_decodes_to_rgb_of_the_same_size(fmt: str) -> None:
    decoded = decode(image_bytes(Image.fromarray(RGB), fmt))
    assert decoded.rgb.shape == (40, 64, 3)
    assert decoded.rgb.dtype == np.uint8
    assert decoded.format == fmt


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "LA", "RGBA", "I;16", "1"])
def test_modes_are_converted_to_rgb(mode: str) -> None:
    source = Image.fromarray(RGB)
    if mode == "I;16":
        wide = np.asarray(source.convert("L")).astype(np.uint16) * 257
        image = Image.fromarray(wide)
    else:
        image = source.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode(image_bytes(image, fmt))
    assert decoded.rgb.shape == (40, 64, 3)
    if mode == "I;16":
        assert image.mode.startswith("I;16")
    if mode == "I;16":
        gray = np.asarray(source.convert("L"))
        assert np.abs(decoded.rgb[:, :, 0].astype(int) - gray).max() <= 1  # not clipped to white


def test_alpha_channel_is_ignored_for_inference() -> None:
    rgba = np.dstack([RGB, np.zeros(RGB.shape[:2], np.uint8)])
    decoded = decode(image_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert np.array_equal(decoded.rgb, RGB)


def test_gif_first_frame_only() -> None:
    frames = [Image.fromarray(np.full((20, 30, 3), value, np.uint8)) for value in (10, 200)]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode(data)
    assert decoded.rgb.shape == (20, 30, 3)
    assert decoded.rgb.mean() < 50


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_round_trips_to_the_stored_grid(orientation: int) -> None:
    image = Image.fromarray(RGB)
    exif = image.getexif()
    exif[0x0112] = orientation
    decoded = decode(image_bytes(image, "JPEG", exif=exif, quality=95))
    assert decoded.orientation == orientation
    assert decoded.rgb.shape == (40, 64, 3)  # stored grid, as in the file
    upright = decoded.upright()
    if orientation >= 5:
        assert upright.shape == (64, 40, 3)
    assert np.array_equal(to_stored(upright, orientation), decoded.rgb)
    marker = np.zeros((40, 64), np.uint8)
    marker[0, 0] = 255
    assert np.array_equal(to_stored(to_upright(marker, orientation), orientation), marker)


def test_upright_matches_pillow_exif_transpose() -> None:
    from PIL import ImageOps

    image = Image.fromarray(RGB)
    exif = image.getexif()
    exif[0x0112] = 6
    data = image_bytes(image, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(decode(data).upright(), expected)


def test_too_many_bytes_is_refused_before_parsing() -> None:
    with pytest.raises(InputTooLargeError):
        decode(b"\xff" * 101, max_bytes=100)


def test_pixel_limit_is_checked_from_the_header() -> None:
    data = image_bytes(Image.fromarray(RGB), "PNG")
    with pytest.raises(TooManyPixelsError):
        decode(data, max_pixels=64 * 40 - 1)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_without_decoding() -> None:
    with pytest.raises(TooManyPixelsError):
        decode(_png_header_only(100_000, 100_000))


def test_real_zlib_bomb_is_refused() -> None:
    # 10,000 x 10,000 black pixels compress to a few tens of kB.
    bomb = Image.new("L", (10_000, 10_000))
    data = image_bytes(bomb, "PNG", optimize=False, compress_level=9)
    assert len(data) < 1_000_000
    with pytest.raises(TooManyPixelsError):
        decode(data, max_pixels=50_000_000 // 2 - 1)


@pytest.mark.parametrize("data", [b"not an image at all", b"%PDF-1.4\n", b"GIF87"])
def test_unsupported_bytes_are_415(data: bytes) -> None:
    with pytest.raises((UnsupportedFormatError, CorruptImageError)):
        decode(data)


def test_other_real_formats_are_unsupported() -> None:
    ico = image_bytes(Image.fromarray(RGB), "ICO")
    with pytest.raises(UnsupportedFormatError):
        decode(ico)


def test_truncated_jpeg_is_corrupt() -> None:
    data = image_bytes(Image.fromarray(gradient_rgb(256, 256)), "JPEG", quality=90)
    with pytest.raises(CorruptImageError):
        decode(data[: len(data) // 2])


def test_truncated_png_is_corrupt() -> None:
    data = image_bytes(Image.fromarray(gradient_rgb(256, 256)), "PNG")
    with pytest.raises(CorruptImageError):
        decode(data[: len(data) - 200])


def test_empty_input_is_corrupt() -> None:
    with pytest.raises(CorruptImageError):
        decode(b"")
