"""remove.bg's API over HTTP against the live server (SQLite, and PostgreSQL + Redis)."""

from __future__ import annotations

import base64
import io
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from tests.server.live import LiveServer

WIDTH, HEIGHT = 800, 600  # 0.48 MP: above preview's 0.25 MP


def photo(fmt: str = "PNG") -> bytes:
    """A white 200x100 block at x 300-500, y 250-350 on black: the fake model's subject."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[250:350, 300:500] = 255
    return image_bytes(Image.fromarray(rgb), fmt)


PHOTO = photo()


def post(live: LiveServer, key: str, files: dict | None = None, **kwargs: object) -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1.0/removebg",
        headers={"X-API-Key": key, **kwargs.pop("headers", {})},  # type: ignore[dict-item]
        files=files,
        timeout=60,
        **kwargs,  # type: ignore[arg-type]
    )


def upload(live: LiveServer, key: str, **fields: str) -> httpx.Response:
    return post(live, key, files={"image_file": ("photo.png", PHOTO, "image/png")}, data=fields)


def total(live: LiveServer, key: str) -> float:
    answer = httpx.get(f"{live.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    return float(answer.json()["data"]["attributes"]["credits"]["total"])


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def near(found: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 3) -> bool:
    """Within a few pixels: the model's matte is upscaled, so the block's edge is soft."""
    return all(abs(a - b) <= tolerance for a, b in zip(found, expected, strict=True))


def error_code(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert set(errors[0]) == {"title", "code", "detail"}
    return str(errors[0]["code"])


def test_an_upload_gets_a_full_size_cutout_and_is_charged_one_credit(live: LiveServer) -> None:
    key = live.new_key(credits=3)
    answer = upload(live, key)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    image = decode(answer.content)
    assert image.mode == "RGBA" and image.size == (WIDTH, HEIGHT)
    alpha = np.asarray(image)[..., 3]
    assert alpha[300, 400] == 255 and alpha[10, 10] == 0
    assert answer.headers["X-Credits-Charged"] == "1"
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == ("800", "600")
    sides = ("Top", "Left", "Width", "Height")
    foreground = tuple(int(answer.headers[f"X-Foreground-{s}"]) for s in sides)
    assert near(foreground, (250, 300, 200, 100))
    assert all(
        name in answer.headers
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
    )
    assert total(live, key) == 2


def test_preview_is_a_quarter_megapixel_for_a_quarter_credit(live: LiveServer) -> None:
    key = live.new_key(credits=1)
    answer = upload(live, key, size="preview")
    assert answer.status_code == 200, answer.text
    width, height = decode(answer.content).size
    assert width * height <= 250_000 and abs(width / height - WIDTH / HEIGHT) < 0.01
    assert answer.headers["X-Credits-Charged"] == "0.25"
    assert total(live, key) == 0.75
    # withoutbg's integer view: the whole credits left, so a 1-credit request is refused.
    left = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}, timeout=30)
    assert left.json()["credit"] == 0
    for _ in range(3):
        assert upload(live, key, size="small").status_code == 200
    assert total(live, key) == 0
    refused = upload(live, key, size="preview")
    assert refused.status_code == 402 and error_code(refused) == "insufficient_credits"


def test_json_in_json_out_with_base64(live: LiveServer) -> None:
    key = live.new_key(credits=2)
    body = {"image_file_b64": base64.b64encode(PHOTO).decode(), "size": "", "crop": True}
    answer = post(live, key, json=body, headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    cropped = decode(base64.b64decode(data["result_b64"]))
    assert near(cropped.size, (200, 100))
    assert (data["foreground_width"], data["foreground_height"]) == cropped.size
    assert (data["foreground_top"], data["foreground_left"]) == (0, 0)


def test_urlencoded_bodies_and_empty_fields_mean_absent(live: LiveServer) -> None:
    key = live.new_key(credits=2)
    form = {"image_file_b64": base64.b64encode(PHOTO).decode(), "roi": "", "bg_color": ""}
    answer = post(live, key, data=form)
    assert answer.status_code == 200, answer.text
    assert decode(answer.content).size == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("fields", "media", "mode", "size"),
    [
        ({"format": "jpg"}, "image/jpeg", "RGB", (WIDTH, HEIGHT)),
        ({"format": "webp"}, "image/webp", "RGBA", (WIDTH, HEIGHT)),
        ({"format": "auto", "bg_color": "00ff00"}, "image/jpeg", "RGB", (WIDTH, HEIGHT)),
        ({"channels": "alpha"}, "image/png", "L", (WIDTH, HEIGHT)),
        ({"crop": "true", "crop_margin": "10px"}, "image/png", "RGBA", (220, 120)),
        ({"scale": "50%", "position": "0%"}, "image/png", "RGBA", (WIDTH, HEIGHT)),
    ],
)
def test_formats_and_options(
    live: LiveServer, fields: dict[str, str], media: str, mode: str, size: tuple[int, int]
) -> None:
    key = live.new_key(credits=1)
    answer = upload(live, key, **fields)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == media
    image = decode(answer.content)
    assert image.mode == mode and near(image.size, size, 5)
    if "bg_color" in fields:
        assert near(tuple(np.asarray(image)[5, 5].tolist()), (0, 255, 0))  # JPEG
    if "scale" in fields:  # fitted into half the canvas, top-left
        assert answer.headers["X-Foreground-Left"] == "0"
        assert near((int(answer.headers["X-Foreground-Width"]),), (400,), 5)


def test_a_drop_shadow_falls_below_and_right_of_the_subject(live: LiveServer) -> None:
    key = live.new_key(credits=2)
    plain = np.asarray(decode(upload(live, key).content))[..., 3]
    shaded = np.asarray(decode(upload(live, key, shadow_type="drop").content))[..., 3]
    # just past the block's bottom-right corner: transparent without, shadow with
    assert plain[354, 505] == 0 and 0 < shaded[354, 505] < 255
    assert shaded[245, 295] == 0  # nothing up and left
    deprecated = upload(live, live.new_key(credits=1), add_shadow="true")
    assert np.asarray(decode(deprecated.content))[354, 505, 3] > 0
    # remove.bg's car and 3D shadows are accepted as it accepts them, and not drawn.
    car = upload(live, live.new_key(credits=1), shadow_type="car")
    assert car.status_code == 200 and np.asarray(decode(car.content))[354, 505, 3] == 0


def test_a_background_image_goes_under_the_subject(live: LiveServer) -> None:
    key = live.new_key(credits=2)
    blue = image_bytes(Image.new("RGB", (100, 50), (0, 0, 255)), "PNG")
    files = {
        "image_file": ("photo.png", PHOTO, "image/png"),
        "bg_image_file": ("bg.png", blue, "image/png"),
    }
    answer = post(live, key, files=files)
    assert answer.status_code == 200, answer.text
    image = decode(answer.content)  # auto: opaque, so JPEG
    assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT)
    assert near(tuple(np.asarray(image)[10, 10].tolist()), (0, 0, 255), 8)
    broken = {**files, "bg_image_file": ("bg.png", b"not an image", "image/png")}
    refused = post(live, key, files=broken)
    assert refused.status_code == 400 and error_code(refused) == "invalid_bg_image"
    both = post(live, key, files=files, data={"bg_color": "red"})
    assert both.status_code == 400 and error_code(both) == "multiple_backgrounds"
    assert total(live, key) == 1


def test_zip_holds_color_jpg_and_alpha_png_at_the_photo_size(live: LiveServer) -> None:
    key = live.new_key(credits=1)
    answer = upload(live, key, size="full", format="zip")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        colour = decode(archive.read("color.jpg"))
        alpha = decode(archive.read("alpha.png"))
    assert (colour.format, colour.mode, colour.size) == ("JPEG", "RGB", (WIDTH, HEIGHT))
    assert (alpha.format, alpha.mode, alpha.size) == ("PNG", "L", (WIDTH, HEIGHT))


def test_only_the_region_of_interest_can_be_foreground(live: LiveServer) -> None:
    key = live.new_key(credits=2)
    inside = upload(live, key, roi="350px 0 100% 100%")
    alpha = np.asarray(decode(inside.content))[..., 3]
    assert alpha[300, 320] == 0 and alpha[300, 400] == 255
    outside = upload(live, key, roi="0 0 10% 10%")
    assert outside.status_code == 200
    assert np.asarray(decode(outside.content))[..., 3].max() == 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": "huge"}, "invalid_size"),
        ({"format": "gif"}, "invalid_format"),
        ({"roi": "0 0 101% 100%"}, "roi_exceeds_bounds"),
        ({"roi": "0 0 10%"}, "invalid_roi"),
        ({"scale": "5%"}, "invalid_scale"),
        ({"crop_margin": "1 2 3"}, "invalid_crop_margin"),
        ({"channels": "rgb"}, "invalid_channels"),
        ({"image_url": "http://127.0.0.1/x.png"}, "multiple_sources"),
        ({"shadow_type": "sparkle"}, "invalid_shadow_type"),
        ({"shadow_type": "drop", "shadow_opacity": "150"}, "invalid_shadow_opacity"),
        ({"bg_color": "nope"}, "invalid_bg_color"),
    ],
)
def test_bad_parameters_are_400_with_a_code_and_cost_nothing(
    live: LiveServer, fields: dict[str, str], code: str
) -> None:
    key = live.new_key(credits=1)
    answer = upload(live, key, **fields)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == code
    assert total(live, key) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_source"),
        ({"image_url": "http://127.0.0.1/x.png"}, "url_fetch_disabled"),
        ({"image_file_b64": "not base64!"}, "invalid_image"),
        ({"image_file_b64": base64.b64encode(PHOTO[:300]).decode()}, "invalid_image"),
        ({"image_file_b64": base64.b64encode(b"plain text").decode()}, "invalid_file_type"),
    ],
)
def test_bad_sources_are_400_with_a_code(live: LiveServer, body: dict[str, str], code: str) -> None:
    key = live.new_key(credits=1)
    answer = post(live, key, json=body)
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == code
    assert total(live, key) == 1


def test_a_lying_file_name_and_content_type_are_sniffed(live: LiveServer) -> None:
    key = live.new_key(credits=1)
    jpeg = photo("JPEG")
    answer = post(live, key, files={"image_file": ("photo.gif", jpeg, "text/plain")})
    assert answer.status_code == 200, answer.text


def test_keys_and_the_dialects_stay_apart(live: LiveServer) -> None:
    refused = upload(live, "am_not_a_key")
    assert refused.status_code == 403 and error_code(refused) == "auth_failed"
    account = httpx.get(f"{live.url}/v1.0/account", headers={"X-API-Key": "nope"}, timeout=30)
    assert account.status_code == 403 and error_code(account) == "auth_failed"
    withoutbg = httpx.post(
        f"{live.url}/v1.0/alpha-channel",
        headers={"X-API-Key": "am_not_a_key"},
        files={"file": ("p.png", PHOTO, "image/png")},
        timeout=30,
    )
    assert withoutbg.status_code == 401 and set(withoutbg.json()) == {"detail"}
    # remove.bg's endpoints count megapixels (this photo: 0.48 MP, so 1), not requests.
    key = live.new_key(credits=1, rate_limit="1/minute", removebg_rate_limit="1/minute")
    assert upload(live, key).status_code == 200
    limited = upload(live, key)
    assert limited.status_code == 429 and error_code(limited) == "rate_limit_exceeded"
    assert int(limited.headers["Retry-After"]) >= 1


def test_the_openapi_schema_lists_the_endpoint_and_its_fields(live: LiveServer) -> None:
    schema = httpx.get(f"{live.url}/openapi.json", timeout=30).json()
    operation = schema["paths"]["/v1.0/removebg"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"image_file", "image_file_b64", "size", "format", "roi", "crop", "bg_color"} <= set(
        form
    )
    assert "/v1.0/account" in schema["paths"]
