"""A saturated Display P3 photo through both dialects: what a viewer shows of the output matches
what it showed of the photo (CIEDE2000 over the opaque pixels, each read through its own
profile), colours a user names come out as those colours, and the model reads sRGB."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.imaging.colour import to_srgb
from tests.colour_samples import delta_e as ciede2000
from tests.colour_samples import display_p3, mean_delta_e, output_icc, saturated, to_lab
from tests.conftest import SHARED_EVAL, gradient_rgb, image_bytes
from tests.server.live import LiveServer, running_real


def _photo_pixels() -> np.ndarray:
    eval_photo = SHARED_EVAL / "alphamatting_lowres" / "images" / "GT05.png"
    if eval_photo.is_file():
        with Image.open(eval_photo) as image:
            return saturated(np.asarray(image.convert("RGB").resize((400, 276))))
    return saturated(gradient_rgb(400, 276))


PIXELS = _photo_pixels()
P3 = display_p3()


def p3_photo(fmt: str) -> bytes:
    save: dict[str, object] = {"icc_profile": P3}
    if fmt in ("JPEG", "HEIF", "WEBP"):
        save["quality"] = 100 if fmt != "JPEG" else 98
    if fmt == "HEIF":
        save["quality"] = -1  # lossless
    return image_bytes(Image.fromarray(PIXELS), fmt, **save)


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LiveServer]:
    """The real model (a subject with opaque pixels to compare), on a pinned runtime."""
    home = tmp_path_factory.mktemp("colour")
    with running_real(home, models_dir, rate_limit="1000/minute") as live:
        yield live


def _removebg(server: LiveServer, photo: bytes, **fields: str) -> httpx.Response:
    answer = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("p3.png", photo)},
        data={"size": "full", **fields},
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer


def test_the_photos_are_saturated_beyond_srgb() -> None:
    # What makes a dropped profile visible: read as sRGB, these pixels are far off.
    shift = ciede2000(to_lab(PIXELS, P3), to_lab(PIXELS, None)).mean()
    assert shift > 3.0


def _codec_floor(fmt: str, pixels: np.ndarray, where: np.ndarray) -> float:
    """What the lossy writer alone costs these pixels (no colour management involved): the
    same values written and read back, both taken as sRGB."""
    pil_format, quality = {"jpg": ("JPEG", 90), "webp": ("WEBP", 90)}[fmt]
    data = image_bytes(Image.fromarray(pixels), pil_format, quality=quality)
    with Image.open(io.BytesIO(data)) as image:
        back = np.asarray(image.convert("RGB"))
    return float(
        ciede2000(to_lab(pixels[where][None], None), to_lab(back[where][None], None)).mean()
    )


@pytest.mark.parametrize("fmt", ["png", "webp", "jpg"])
def test_remove_bg_output_keeps_the_photos_colours(server: LiveServer, fmt: str) -> None:
    """PNG: within 0.5 (mean CIEDE2000). JPEG and lossy WebP cost ~1.1 of their own on
    saturated photos at quality 90 (4:2:0 chroma; measured over 11 eval photos, 1.9 worst), with
    or without a profile: within 0.5 of what the same writer costs untagged pixels."""
    png = _removebg(server, p3_photo("PNG"), format="png").content
    with Image.open(io.BytesIO(png)) as image:
        opaque = np.asarray(image.convert("RGBA"))[..., 3] == 255
    answer = png if fmt == "png" else _removebg(server, p3_photo("PNG"), format=fmt).content
    assert output_icc(answer) == P3
    with Image.open(io.BytesIO(answer)) as image:
        rgb = np.asarray(image.convert("RGB"))
    assert opaque.sum() > 1000
    shift = ciede2000(to_lab(PIXELS[opaque][None], P3), to_lab(rgb[opaque][None], P3)).mean()
    limit = 0.5 if fmt == "png" else _codec_floor(fmt, PIXELS, opaque) + 0.5
    assert shift <= limit
    # The same bytes without their profile (what every viewer showed before): units off.
    dropped = ciede2000(to_lab(PIXELS[opaque][None], P3), to_lab(rgb[opaque][None], None))
    assert dropped.mean() > 2.0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "HEIF", "WEBP", "AVIF"])
def test_withoutbg_cutout_keeps_the_photos_colours(server: LiveServer, fmt: str) -> None:
    answer = httpx.post(
        f"{server.url}/v1.0/image-without-background",
        files={"file": ("p3", p3_photo(fmt))},
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert output_icc(answer.content) == P3
    with Image.open(io.BytesIO(p3_photo(fmt))) as image:  # what the user's decoder shows
        original = np.asarray(image.convert("RGB"))
    shift, counted = mean_delta_e(original, P3, answer.content)
    assert counted > 1000
    assert shift <= 0.5


def test_bg_color_is_the_colour_named_whatever_the_profile(server: LiveServer) -> None:
    answer = _removebg(server, p3_photo("PNG"), format="png", bg_color="ff0000")
    with Image.open(io.BytesIO(answer.content)) as image:
        icc = image.info.get("icc_profile")
        rgb = np.asarray(image.convert("RGB"))
    corner = np.ascontiguousarray(rgb[:4, :4])  # the photo's corner is background here
    red = np.broadcast_to(np.array([255, 0, 0], np.uint8), corner.shape).copy()
    assert icc == P3
    assert ciede2000(to_lab(corner, icc), to_lab(red, None)).max() <= 1.0


def test_a_background_image_keeps_its_own_colours(server: LiveServer) -> None:
    """A Display P3 background under an untagged (sRGB) photo: converted, not reinterpreted."""
    colour = np.array([200, 120, 60], np.uint8)  # inside sRGB once converted
    under = image_bytes(
        Image.new("RGB", (64, 64), tuple(int(v) for v in colour)), "PNG", icc_profile=P3
    )
    photo = image_bytes(Image.fromarray(to_srgb(PIXELS, P3)), "PNG")
    answer = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("p.png", photo), "bg_image_file": ("bg.png", under)},
        data={"size": "full", "format": "png"},
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert output_icc(answer.content) is None
    with Image.open(io.BytesIO(answer.content)) as image:
        corner = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:4, :4])
    seen = np.broadcast_to(colour, corner.shape).copy()
    assert ciede2000(to_lab(corner, None), to_lab(seen, P3)).max() <= 1.0


def test_color_profile_srgb_renders_the_output_to_srgb(server: LiveServer) -> None:
    answer = _removebg(server, p3_photo("PNG"), format="png", color_profile="srgb")
    assert output_icc(answer.content) is None
    with Image.open(io.BytesIO(answer.content)) as image:
        rgba = np.asarray(image.convert("RGBA"))
    opaque = rgba[..., 3] == 255
    expected = to_srgb(PIXELS, P3)
    assert np.abs(rgba[..., :3][opaque].astype(int) - expected[opaque]).max() <= 1


def test_a_bad_color_profile_is_a_400(server: LiveServer) -> None:
    answer = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("p3.png", p3_photo("PNG"))},
        data={"color_profile": "cmyk"},
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "invalid_color_profile"


def test_the_model_reads_the_photo_in_srgb(server: LiveServer) -> None:
    """The matte of the Display P3 photo is the matte of the same picture already in sRGB."""

    def matte(photo: bytes) -> bytes:
        answer = httpx.post(
            f"{server.url}/v1.0/alpha-channel-base64",
            json={"image_base64": base64.b64encode(photo).decode()},
            headers={"X-API-Key": server.new_key(credits=5)},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return base64.b64decode(answer.json()["alpha_base64"])

    in_srgb = image_bytes(Image.fromarray(to_srgb(PIXELS, P3)), "PNG")
    as_if_srgb = image_bytes(Image.fromarray(PIXELS), "PNG")  # the same values, untagged
    assert matte(p3_photo("PNG")) == matte(in_srgb)
    assert matte(p3_photo("PNG")) != matte(as_if_srgb)
