"""Photos in every mode people send: greys, palettes, 1-bit, with transparency, animated. Each
gets its matte; a pixel the photo had transparent never comes back opaque; an animated file
uses its first frame (docs/api.md)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.server.live import LiveServer

# The fast fake model calls bright pixels subject: the whole card is bright, and its left half
# is transparent in the file.
WIDTH, HEIGHT = 96, 64


def _card() -> Image.Image:
    rgba = np.full((HEIGHT, WIDTH, 4), 250, np.uint8)
    rgba[..., 3] = 255
    rgba[:, : WIDTH // 2, 3] = 0
    return Image.fromarray(rgba, "RGBA")


def _transparent(fmt: str) -> bytes:
    card = _card()
    if fmt == "GIF":  # a palette with one transparent entry
        return image_bytes(card, "GIF")
    if fmt == "LA":
        return image_bytes(card.convert("LA"), "PNG")
    return image_bytes(card, fmt, **({"lossless": True} if fmt == "WEBP" else {}))


def _alpha(data: bytes) -> np.ndarray:
    """A matte's values, or a cutout's alpha channel."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "L":
            return np.asarray(image)
        return np.asarray(image.convert("RGBA"))[..., 3]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "LA", "TIFF"])
def test_transparent_pixels_stay_transparent_in_both_dialects(live: LiveServer, fmt: str) -> None:
    photo = _transparent(fmt)
    key = live.new_key(credits=10)
    matte = httpx.post(
        f"{live.url}/v1.0/alpha-channel",
        files={"file": ("card", photo)},
        headers={"X-API-Key": key},
        timeout=60,
    )
    cutout = httpx.post(
        f"{live.url}/v1.0/removebg",
        files={"image_file": ("card", photo)},
        data={"format": "png", "size": "full"},
        headers={"X-API-Key": key},
        timeout=60,
    )
    for answer in (matte, cutout):
        assert answer.status_code == 200, answer.text
        alpha = _alpha(answer.content)
        assert alpha[:, : WIDTH // 2 - 2].max() == 0  # transparent in the photo: still
        assert alpha[:, WIDTH // 2 + 2 :].min() == 255  # the bright subject: opaque


@pytest.mark.parametrize("mode", ["L", "P", "1", "I;16"])
def test_grey_palette_and_bilevel_photos_get_a_matte(live: LiveServer, mode: str) -> None:
    card = Image.fromarray(np.full((HEIGHT, WIDTH, 3), 250, np.uint8)).convert(mode)
    answer = httpx.post(
        f"{live.url}/v1.0/alpha-channel",
        files={"file": ("card.png", image_bytes(card, "PNG"))},
        headers={"X-API-Key": live.new_key(credits=2)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert _alpha(answer.content).shape == (HEIGHT, WIDTH)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animated_photo_uses_its_first_frame(live: LiveServer, fmt: str) -> None:
    bright = Image.new("RGB", (WIDTH, HEIGHT), (250, 250, 250))
    dark = Image.new("RGB", (WIDTH, HEIGHT), (5, 5, 5))
    buffer = io.BytesIO()
    bright.save(buffer, format=fmt, save_all=True, append_images=[dark, dark], duration=100)
    answer = httpx.post(
        f"{live.url}/v1.0/alpha-channel",
        files={"file": ("anim", buffer.getvalue())},
        headers={"X-API-Key": live.new_key(credits=2)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert _alpha(answer.content).min() == 255  # the bright first frame, not the dark rest
