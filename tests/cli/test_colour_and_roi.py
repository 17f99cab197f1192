"""The CLI and the SDK make the same products as the server: `roi` means one thing (the same
bytes through `alphamatte cutout` and `/v1.0/removebg`), and a Display P3 photo keeps its
colours on every path. Real model, ONNX Runtime pinned on both sides."""

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
from tests.colour_samples import display_p3, mean_delta_e, output_icc, saturated
from tests.conftest import SHARED_EVAL, image_bytes
from tests.server.live import LiveServer, running_real

pytestmark = pytest.mark.slow
P3 = display_p3()
ROI = "12% 5% 520 90%"


@pytest.fixture(scope="module")
def photo() -> bytes:
    path = SHARED_EVAL / "alphamatting_lowres" / "images" / "GT05.png"
    if not path.is_file():
        pytest.skip("../shared/eval is not present")
    return path.read_bytes()


@pytest.fixture(scope="module")
def p3_jpeg(photo: bytes) -> bytes:
    with Image.open(io.BytesIO(photo)) as image:
        pixels = saturated(np.asarray(image.convert("RGB")))
    return image_bytes(Image.fromarray(pixels), "JPEG", quality=95, icc_profile=P3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("roi")
    with running_real(home, models_dir, rate_limit="1000/minute") as live:
        yield live


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAMATTE_BACKEND", "onnxruntime")


def _cli_cutout(tmp_path: Path, data: bytes, *args: str) -> bytes:
    source, out = tmp_path / "photo.png", tmp_path / "out.png"
    source.write_bytes(data)
    result = CliRunner().invoke(cli, ["cutout", str(source), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.usefixtures("pinned")
def test_roi_gives_the_same_cutout_through_the_cli_and_remove_bg(
    tmp_path: Path, server: LiveServer, photo: bytes
) -> None:
    answer = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("GT05.png", photo)},
        data={"size": "full", "format": "png", "roi": ROI},
        headers={"X-API-Key": server.new_key(credits=5)},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    local = _cli_cutout(tmp_path, photo, "--roi", ROI, "--format", "png")
    assert local == answer.content
    with Image.open(io.BytesIO(local)) as image:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    assert alpha[:, 520:].max() == 0 and alpha[:, :96].max() == 0  # nothing outside the region
    assert alpha.max() == 255  # and the subject inside it


@pytest.mark.usefixtures("pinned")
def test_cli_cutout_keeps_a_display_p3_photos_colours(tmp_path: Path, p3_jpeg: bytes) -> None:
    with Image.open(io.BytesIO(p3_jpeg)) as image:
        original = np.asarray(image.convert("RGB"))
    kept = _cli_cutout(tmp_path, p3_jpeg)
    assert output_icc(kept) == P3
    shift, counted = mean_delta_e(original, P3, kept)
    assert counted > 1000 and shift <= 0.5
    on_red = _cli_cutout(tmp_path, p3_jpeg, "--bg", "red", "--format", "webp")
    assert output_icc(on_red) == P3
    in_srgb = _cli_cutout(tmp_path, p3_jpeg, "--color-profile", "srgb")
    assert output_icc(in_srgb) is None
    shift, _ = mean_delta_e(original, P3, in_srgb)
    assert shift > 0.5  # clipped into sRGB: the loss the option documents


def test_sdk_cutout_keeps_a_display_p3_photos_colours(server: LiveServer, p3_jpeg: bytes) -> None:
    with Image.open(io.BytesIO(p3_jpeg)) as image:
        original = np.asarray(image.convert("RGB"))
    with Client(api_key=server.new_key(credits=5), base_url=server.url) as client:
        matted = client.matte(p3_jpeg)
    buffer = io.BytesIO()
    matted.cutout_image().save(buffer, format="PNG")
    assert output_icc(buffer.getvalue()) == P3
    shift, counted = mean_delta_e(original, P3, buffer.getvalue())
    assert counted > 1000 and shift <= 0.5
    assert output_icc(matted.product_shot(bg_color="fff", format="jpg")) == P3
    assert output_icc(matted.product_shot(format="png", color_profile="srgb")) is None
