"""16-bit photos: the cutout of a 16-bit PNG keeps its 16 bits (and its profile); the rest of
a product is 8-bit as before."""

from __future__ import annotations

import io

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.decode import decode, to_upright
from alphamatte.imaging.deep import encode_png16, is_deep_png
from tests.colour_samples import display_p3
from tests.server.live import LiveServer

WIDTH, HEIGHT = 72, 48


def deep_card() -> np.ndarray:
    """A bright 16-bit card (the fake model's subject) with fine gradations 8 bits cannot hold."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    red = 60000 + xx * 7  # steps of 7/65535: all one 8-bit value
    green = 61000 + yy * 5
    blue = np.full_like(xx, 59001)
    return np.dstack([red, green, blue]).astype(np.uint16)


def png16(rgb: np.ndarray, icc: bytes | None = None) -> bytes:
    opaque = np.full((*rgb.shape[:2], 1), 65535, np.uint16)
    return encode_png16(np.dstack([rgb, opaque]), icc_profile=icc)


def read16(data: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint16
    return pixels[:, :, [2, 1, 0, 3]]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_pixels_turn_like_eight_bit_ones(orientation: int) -> None:
    eight = (np.arange(5 * 7 * 3) % 251).astype(np.uint8).reshape(5, 7, 3)
    turned = to_upright(eight.astype(np.uint16), orientation)
    assert np.array_equal(turned, to_upright(eight, orientation))


def test_a_sixteen_bit_png_is_read_at_sixteen_bits_too() -> None:
    card = deep_card()
    data = png16(card, display_p3())
    assert is_deep_png(data) and not is_deep_png(png16(card)[:20])
    decoded = decode(data)
    assert decoded.deep is not None and np.array_equal(decoded.deep, card)
    assert decoded.icc_profile == display_p3()
    assert decoded.rgb.dtype == np.uint8  # the model still reads 8 bits


@pytest.mark.parametrize(
    ("path", "field", "data"),
    [
        ("/v1.0/image-without-background", "file", {}),
        ("/v1.0/removebg", "image_file", {"size": "full", "format": "png"}),
    ],
)
def test_a_sixteen_bit_photos_cutout_keeps_sixteen_bits(
    live: LiveServer, path: str, field: str, data: dict[str, str]
) -> None:
    card = deep_card()
    answer = httpx.post(
        f"{live.url}{path}",
        files={field: ("master.png", png16(card, display_p3()))},
        data=data,
        headers={"X-API-Key": live.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    cutout = read16(answer.content)
    opaque = cutout[..., 3] == 65535
    assert opaque.mean() > 0.5
    assert np.array_equal(cutout[..., :3][opaque], card[opaque])  # every gradation kept
    with Image.open(io.BytesIO(answer.content)) as image:
        assert image.info.get("icc_profile") == display_p3()


def test_a_laid_out_product_of_a_sixteen_bit_photo_is_eight_bit(live: LiveServer) -> None:
    answer = httpx.post(
        f"{live.url}/v1.0/removebg",
        files={"image_file": ("master.png", png16(deep_card()))},
        data={"size": "full", "format": "png", "bg_color": "00f"},
        headers={"X-API-Key": live.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    with Image.open(io.BytesIO(answer.content)) as image:
        assert image.mode == "RGB"
