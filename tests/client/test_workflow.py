"""The SDK workflow against a mock transport: proxy, upscale, orientation, errors, cache."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.client import (
    AlphamatteError,
    AsyncClient,
    AuthenticationError,
    Client,
    CreditsExpiredError,
    InsufficientCreditError,
    InvalidImageError,
    MatteCache,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    TransportError,
    UnsupportedMediaTypeError,
)
from alphamatte.imaging.errors import ImageError
from tests.client.mock_server import MockApi
from tests.conftest import gradient_rgb, image_bytes


def make_client(api: MockApi, **kwargs: object) -> Client:
    return Client(
        api_key="am_test",
        base_url="http://api.test",
        transport=httpx.MockTransport(api),
        retries=0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_large_photo_sends_a_1024_jpeg_proxy_and_gets_a_full_size_matte() -> None:
    api = MockApi()
    photo = gradient_rgb(3000, 2000)
    matte = make_client(api).alpha_matte(photo)
    assert matte.mode == "L" and matte.size == (3000, 2000)
    upload = api.uploads[0]
    assert upload.format == "JPEG" and upload.size == (1024, 683)
    assert api.requests[0].headers["X-API-Key"] == "am_test"
    assert len(api.requests[0].headers["Idempotency-Key"]) == 32
    values = np.asarray(matte)
    assert values[1000, 1500] == 255 and values[50, 50] == 0  # disc centre vs dark corner


def test_small_photos_are_never_blown_up_and_png_is_available() -> None:
    api = MockApi()
    make_client(api, proxy_format="png").alpha_matte(gradient_rgb(300, 200))
    assert api.uploads[0].format == "PNG" and api.uploads[0].size == (300, 200)


def test_every_input_type_gives_the_same_matte(tmp_path: Path) -> None:
    api = MockApi()
    client = make_client(api)
    rgb = gradient_rgb(640, 480)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    results = [
        np.asarray(client.alpha_matte(item))
        for item in (path, str(path), path.read_bytes(), Image.fromarray(rgb), rgb)
    ]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


def test_exif_rotated_photo_matte_matches_the_stored_grid_and_cutout_is_upright() -> None:
    api = MockApi()
    rgb = gradient_rgb(400, 300)
    rgb[:, :40] = 255  # a bright band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate 90° clockwise
    data = image_bytes(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes())
    client = make_client(api)
    matte = np.asarray(client.alpha_matte(data))
    cutout = client.cutout(data)
    assert matte.shape == (300, 400)
    assert matte[150, :30].mean() > 250  # the band, where it is stored
    assert api.uploads[0].size == (300, 400)  # the proxy went up upright
    assert cutout.size == (300, 400) and cutout.mode == "RGBA"
    assert np.asarray(cutout)[:30, 150, 3].mean() > 250  # the band is now on top


def test_cutout_keeps_the_original_pixels_at_full_resolution() -> None:
    api = MockApi()
    rgb = gradient_rgb(2048, 1536)
    cut = np.asarray(make_client(api).cutout(rgb))
    assert cut.shape == (1536, 2048, 4)
    assert np.array_equal(cut[:, :, :3][cut[:, :, 3] == 255], rgb[cut[:, :, 3] == 255])


def test_a_product_shot_is_cropped_on_its_colour_in_one_call() -> None:
    """``product_shot``: the imaging layer's crop, margin, background and format, applied to
    the full-resolution cutout after one upload of a proxy."""
    import io

    api = MockApi()
    client = make_client(api)
    photo = np.zeros((2000, 3000, 3), np.uint8)
    photo[700:1200, 1000:2000] = (250, 240, 230)  # a 1000 x 500 subject on black
    data = client.product_shot(photo, crop=True, crop_margin="10%", bg_color="fff", format="jpg")
    shot = Image.open(io.BytesIO(data))
    assert shot.format == "JPEG" and shot.mode == "RGB"
    # The subject plus 10 % of its width and height on each side, on white.
    assert abs(shot.width - 1200) < 12 and abs(shot.height - 600) < 12
    assert np.asarray(shot)[3, 3].min() > 245
    assert len(api.uploads) == 1
    with pytest.raises(ValueError, match="scale"):
        client.product_shot(gradient_rgb(300, 200), scale="200%")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidImageError),
        (401, AuthenticationError),
        (402, InsufficientCreditError),
        (403, CreditsExpiredError),
        (413, PayloadTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, InvalidImageError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_statuses_become_typed_errors_with_detail(status: int, error: type[Exception]) -> None:
    api = MockApi(statuses=[status])
    with pytest.raises(error) as caught:
        make_client(api).alpha_matte(gradient_rgb(64, 64))
    assert isinstance(caught.value, AlphamatteError)
    assert caught.value.status == status
    assert caught.value.detail == f"status {status}"
    if status == 429:
        assert caught.value.retry_after == 3.0  # type: ignore[attr-defined]


def test_unreachable_server_is_a_transport_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = Client("k", "http://api.test", transport=httpx.MockTransport(refuse), retries=0)
    with pytest.raises(TransportError):
        client.available_credit()


def test_a_broken_answer_is_a_server_error_not_a_crash() -> None:
    def nonsense(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"alpha_base64": "!!!not base64"})

    client = Client("k", "http://api.test", transport=httpx.MockTransport(nonsense), retries=0)
    with pytest.raises(ServerError):
        client.alpha_matte(gradient_rgb(64, 64))


def test_available_credit() -> None:
    credit = make_client(MockApi()).available_credit()
    assert credit.credit == 41 and credit.expiration_date is not None
    assert credit.expiration_date.year == 2027


def test_bad_inputs_are_refused_before_any_upload() -> None:
    api = MockApi()
    client = make_client(api)
    with pytest.raises(TypeError):
        client.alpha_matte(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.alpha_matte(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(InvalidImageError) as caught:
        client.alpha_matte(b"not an image")
    assert caught.value.status is None  # found locally, nothing was sent
    assert isinstance(caught.value.__cause__, ImageError)
    assert api.requests == []


def test_timeouts_are_never_unbounded() -> None:
    with pytest.raises(ValueError):
        Client("k", timeout=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Client("k", timeout=httpx.Timeout(None))


def test_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAMATTE_API_KEY", "am_env")
    monkeypatch.setenv("ALPHAMATTE_API_URL", "http://env.test/")
    client = Client()
    assert client.api_key == "am_env" and client.base_url == "http://env.test"


def test_cache_makes_one_call_for_many_outputs(tmp_path: Path) -> None:
    api = MockApi()
    client = make_client(api, cache=MatteCache(tmp_path / "cache"))
    rgb = gradient_rgb(800, 600)
    first = np.asarray(client.alpha_matte(rgb))
    client.cutout(rgb)
    again = np.asarray(client.alpha_matte(rgb))
    assert api.matte_calls == 1
    assert np.array_equal(first, again)
    client.alpha_matte(gradient_rgb(801, 600))
    assert api.matte_calls == 2


def test_cache_stays_within_its_size_bound(tmp_path: Path) -> None:
    cache = MatteCache(tmp_path, max_bytes=10_000)
    for i in range(10):
        cache.put(f"{i:064x}", bytes(3_000))
    assert len(cache) == 3
    assert cache.get(f"{9:064x}") is not None and cache.get(f"{0:064x}") is None
    assert not list(tmp_path.glob("*.tmp"))


async def test_async_client_does_the_same_workflow() -> None:
    api = MockApi()
    async with AsyncClient(
        "am_test", "http://api.test", transport=httpx.MockTransport(api), retries=0
    ) as client:
        matte = await client.alpha_matte(gradient_rgb(2000, 1000))
        cut = await client.cutout(gradient_rgb(2000, 1000))
        credit = await client.available_credit()
    assert matte.size == (2000, 1000) and cut.mode == "RGBA" and credit.credit == 41
    assert api.uploads[0].size == (1024, 512)
