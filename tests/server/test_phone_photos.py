"""A phone's photo on every path: HEIC and AVIF through both HTTP dialects, the SDK's proxy
workflow and the CLI (the same decode serves batch, local and on Ray). Each answer is upright,
at the size a viewer shows; a broken file is a 4xx in its dialect and costs nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.cli.main import cli
from alphamatte.client import Client
from alphamatte.config import Settings
from tests.colour_samples import display_p3
from tests.conftest import gradient_rgb, image_bytes
from tests.server.live import LiveServer, running
from tests.server.origin import Origin, fetching_server, origin_fixture

STORED = gradient_rgb(240, 160)  # landscape as stored; EXIF/irot turn it to 160 x 240


def phone_photo(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes(Image.fromarray(STORED), fmt, exif=exif.tobytes(), quality=90)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running(Settings(home=tmp_path_factory.mktemp("phone"), rate_limit="1000/minute")) as live:
        yield live


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_withoutbg_answers_a_phone_photo_in_its_decoded_grid(server: LiveServer, fmt: str) -> None:
    key = server.new_key(credits=5)
    answer = httpx.post(
        f"{server.url}/v1.0/alpha-channel",
        files={"file": ("IMG_1234.HEIC", phone_photo(fmt), "image/heic")},
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    # A matte is in the grid the file decodes to (docs/architecture.md), so that it lines up
    # with the pixels a client's decoder gives it: libheif turns a HEIC upright itself (irot),
    # an AVIF keeps its stored grid and an EXIF tag, as a JPEG does.
    assert _size(answer.content) == _size(phone_photo(fmt))
    assert _size(answer.content) == ((160, 240) if fmt == "HEIF" else (240, 160))


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_remove_bg_cuts_out_a_phone_photo(server: LiveServer, fmt: str) -> None:
    key = server.new_key(credits=5)
    answer = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("IMG_1234.heic", phone_photo(fmt))},
        data={"size": "full", "format": "png"},
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert _size(answer.content) == (160, 240)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_broken_phone_photo_is_a_4xx_and_costs_nothing(server: LiveServer, fmt: str) -> None:
    key = server.new_key(credits=2)
    broken = phone_photo(fmt)[:300]
    withoutbg = httpx.post(
        f"{server.url}/v1.0/alpha-channel",
        files={"file": ("x.heic", broken)},
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert withoutbg.status_code == 422
    removebg = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("x.heic", broken)},
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert removebg.status_code == 400
    assert removebg.json()["errors"][0]["code"] == "invalid_image"
    account = httpx.get(f"{server.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    assert account.json()["data"]["attributes"]["credits"]["total"] == 2


def test_the_sdk_makes_its_proxy_from_a_heic(server: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "IMG_1234.HEIC"
    path.write_bytes(phone_photo("HEIF"))
    with Client(api_key=server.new_key(credits=5), base_url=server.url) as client:
        cutout = client.cutout(path)
    assert cutout.size == (160, 240) and cutout.mode == "RGBA"


def test_the_cli_cuts_out_a_heic_through_the_api(server: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "IMG_1234.HEIC"
    source.write_bytes(phone_photo("HEIF"))
    out = tmp_path / "cut.png"
    ran = CliRunner().invoke(
        cli,
        ["cutout", str(source), "-o", str(out), "--api", server.url],
        env={"ALPHAMATTE_API_KEY": server.new_key(credits=5)},
    )
    assert ran.exit_code == 0, ran.output
    with Image.open(out) as cut:
        assert cut.size == (160, 240) and cut.mode == "RGBA"
        assert np.asarray(cut).shape == (240, 160, 4)


def _gps_tagged_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    return image_bytes(Image.fromarray(STORED), "JPEG", exif=exif.tobytes(), quality=92)


@pytest.mark.parametrize(
    ("path", "field", "data"),
    [
        ("/v1.0/image-without-background", "file", {}),
        ("/v1.0/removebg", "image_file", {"size": "full", "format": "png"}),
        ("/v1.0/removebg", "image_file", {"size": "full", "format": "jpg", "bg_color": "fff"}),
        ("/v1.0/removebg", "image_file", {"size": "full", "format": "webp"}),
    ],
)
def test_no_output_carries_the_photos_location(
    server: LiveServer, path: str, field: str, data: dict[str, str]
) -> None:
    """People's photos carry where they were taken: no answer passes EXIF on (GPS or any)."""
    photo = _gps_tagged_jpeg()
    with Image.open(io.BytesIO(photo)) as source:
        assert source.getexif().get_ifd(0x8825)  # the test photo does carry a location
    answer = httpx.post(
        f"{server.url}{path}",
        files={field: ("gps.jpg", photo, "image/jpeg")},
        data=data,
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert b"Exif" not in answer.content and b"PhoneMaker" not in answer.content
    with Image.open(io.BytesIO(answer.content)) as result:
        assert not result.getexif().get_ifd(0x8825) and "exif" not in result.info


class PhonePhotos(Origin):
    def get(self) -> None:
        if self.path == "/IMG_1234.HEIC":
            self.send_body(phone_photo("HEIF"))
        else:
            self.send_error(404)


phone_origin = origin_fixture(PhonePhotos)


def test_remove_bg_fetches_a_heic_by_url_and_takes_one_as_background(
    tmp_path: Path, phone_origin: str
) -> None:
    with fetching_server(tmp_path) as fetching:
        key = fetching.new_key(credits=5)
        by_url = httpx.post(
            f"{fetching.url}/v1.0/removebg",
            data={"image_url": f"{phone_origin}/IMG_1234.HEIC", "size": "full", "format": "png"},
            headers={"X-API-Key": key},
            timeout=60,
        )
        under = httpx.post(
            f"{fetching.url}/v1.0/removebg",
            files={
                "image_file": ("a.png", image_bytes(Image.fromarray(STORED), "PNG")),
                "bg_image_file": ("IMG_1234.HEIC", phone_photo("HEIF")),
            },
            data={"size": "full", "format": "png"},
            headers={"X-API-Key": key},
            timeout=60,
        )
    assert by_url.status_code == 200, by_url.text
    assert _size(by_url.content) == (160, 240)
    assert under.status_code == 200, under.text
    with Image.open(io.BytesIO(under.content)) as result:
        assert result.size == (240, 160) and result.mode == "RGB"  # opaque on the HEIC


def test_batch_through_the_api_reads_a_folder_of_heics(server: LiveServer, tmp_path: Path) -> None:
    source, out = tmp_path / "phone", tmp_path / "out"
    (source / "2026").mkdir(parents=True)
    (source / "2026" / "IMG_1.HEIC").write_bytes(phone_photo("HEIF"))
    (source / "IMG_2.avif").write_bytes(phone_photo("AVIF"))
    ran = CliRunner().invoke(
        cli,
        ["batch", str(source), str(out), "--kind", "cutout", "--api", server.url],
        env={"ALPHAMATTE_API_KEY": server.new_key(credits=5)},
    )
    assert ran.exit_code == 0, ran.output
    for written in (out / "2026" / "IMG_1.png", out / "IMG_2.png"):
        with Image.open(written) as cut:
            assert cut.size == (160, 240) and cut.mode == "RGBA"


def test_preview_shows_a_heic_as_a_jpeg_for_free(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    icc = display_p3()
    photo = image_bytes(Image.fromarray(STORED), "HEIF", quality=90, icc_profile=icc)
    answers = [
        httpx.post(
            f"{server.url}/v1.0/preview",
            files={"file": ("IMG_1234.HEIC", data)},
            headers={"X-API-Key": key},
            timeout=60,
        )
        for data in (photo, photo[:200], b"not an image at all")
    ]
    shown, corrupt, unknown = answers
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(shown.content)) as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (240, 160)
        assert jpeg.info.get("icc_profile") == icc
    assert (corrupt.status_code, unknown.status_code) == (422, 415)
    assert "detail" in corrupt.json()
    balance = httpx.get(f"{server.url}/v1.0/account", headers={"X-API-Key": key})
    assert balance.json()["data"]["attributes"]["credits"]["total"] == 1  # nothing charged
    refused = httpx.post(
        f"{server.url}/v1.0/preview",
        files={"file": ("a.heic", photo)},
        headers={"X-API-Key": "wrong"},
        timeout=60,
    )
    assert refused.status_code == 401
