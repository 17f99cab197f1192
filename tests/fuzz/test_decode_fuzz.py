"""Hypothesis on the decode path: any bytes either decode into sane pixels or raise ImageError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from alphamatte.imaging.decode import decode
from alphamatte.imaging.errors import ImageError, TooManyPixelsError
from tests.conftest import gradient_rgb, image_bytes

SEEDS = {
    fmt: image_bytes(Image.fromarray(gradient_rgb(40, 30)), fmt)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
}


def check(data: bytes) -> None:
    try:
        image = decode(data, max_pixels=4_000_000)
    except ImageError:
        return
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    assert image.rgb.shape[0] * image.rgb.shape[1] <= 4_000_000
    assert 1 <= image.orientation <= 8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_truncated_and_corrupted_real_images(
    fmt: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(SEEDS[fmt])
    for where, value in flips:
        data[min(len(data) - 1, int(where * len(data)))] = value
    check(bytes(data[: max(1, int(cut * len(data)))]))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its tiny compressed body does not have."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_headers_claiming_huge_sizes_never_allocate(width: int, height: int) -> None:
    data = png_claiming(width, height)
    if width * height > 4_000_000:
        with pytest.raises(TooManyPixelsError):
            decode(data, max_pixels=4_000_000)
    else:
        check(data)
