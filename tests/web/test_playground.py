"""The playground at `/` in headless Chromium (Debian's, driven by Playwright), real model."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.server.loopback import LoopbackServer, serving

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[LoopbackServer]:
    home = tmp_path_factory.mktemp("web")
    (home / "models").symlink_to(models_dir)
    models = "isnet-general-use,u2netp" if (models_dir / "u2netp.onnx").is_file() else None
    with serving(Settings(home=home, rate_limit="100/minute", models=models)) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    context.close()


def _upload(page: object, server: LoopbackServer, photo: Path) -> str:
    """Open the page with a new key of 5 credits, drop ``photo`` on it and wait for the
    downloads; the key."""
    key = server.new_key(credits=5)
    page.goto(server.url + "/")  # type: ignore[attr-defined]
    page.fill("#api-key", key)  # type: ignore[attr-defined]
    page.dispatch_event("#api-key", "change")  # type: ignore[attr-defined]
    page.wait_for_selector("text=5 credits left")  # type: ignore[attr-defined]
    page.set_input_files("#file", str(photo))  # type: ignore[attr-defined]
    page.wait_for_selector("#downloads:not([hidden])", timeout=120_000)  # type: ignore[attr-defined]
    return key


def test_upload_gives_a_full_size_cutout(
    page: object, server: LoopbackServer, eval_dir: Path, tmp_path: Path
) -> None:
    # A real photo, enlarged so that the page has to send a smaller proxy.
    real = Image.open(eval_dir / "alphamatting_lowres" / "images" / "GT18.png").convert("RGB")
    original = real.resize((real.width * 2, real.height * 2), Image.Resampling.LANCZOS)
    photo = tmp_path / "GT18-large.jpg"
    original.save(photo, quality=92)
    uploads: list[bytes] = []
    page.on(  # type: ignore[attr-defined]
        "request",
        lambda r: (
            uploads.append(base64.b64decode(json.loads(r.post_data)["image_base64"]))
            if "/v1.0/alpha-channel-base64" in r.url
            else None
        ),
    )
    key = _upload(page, server, photo)
    page.wait_for_selector("text=4 credits left")  # type: ignore[attr-defined]

    with page.expect_download() as download_info:  # type: ignore[attr-defined]
        page.click("#download-cutout")  # type: ignore[attr-defined]
    cutout = Image.open(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert cutout.mode == "RGBA" and cutout.size == original.size
    alpha = np.asarray(cutout)[:, :, 3]
    assert (alpha < 10).mean() > 0.05 and (alpha > 245).mean() > 0.05  # subject and background
    with page.expect_download() as matte_info:  # type: ignore[attr-defined]
        page.click("#download-matte")  # type: ignore[attr-defined]
    assert Image.open(matte_info.value.path()).size == original.size
    (upload,) = uploads
    proxy = Image.open(io.BytesIO(upload))
    assert proxy.format == "JPEG" and max(proxy.size) == 1024  # the proxy, not the original

    # The product shot: the server crops the original to the subject on white, as JPEG.
    with page.expect_download() as product_info:  # type: ignore[attr-defined]
        page.click("#product-make")  # type: ignore[attr-defined]
        page.wait_for_selector("#download-product:not([hidden])")  # type: ignore[attr-defined]
        page.click("#download-product")  # type: ignore[attr-defined]
    shot = Image.open(io.BytesIO(Path(product_info.value.path()).read_bytes()))
    assert shot.format == "JPEG" and shot.mode == "RGB"
    assert shot.width < original.width or shot.height < original.height  # cropped
    assert np.asarray(shot)[2, 2].min() > 240  # the margin is white
    page.wait_for_selector("text=3 credits left")  # type: ignore[attr-defined]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)  # type: ignore[attr-defined]
    assert page.errors == []  # type: ignore[attr-defined]
    assert page.evaluate("sessionStorage.getItem('alphamatte.apiKey')") == key  # type: ignore[attr-defined]
    assert page.evaluate("localStorage.length") == 0  # type: ignore[attr-defined]


def test_a_bad_key_shows_the_401_message(
    page: object, server: LoopbackServer, tmp_path: Path
) -> None:
    photo = tmp_path / "small.png"
    Image.fromarray(np.full((64, 80, 3), 200, np.uint8)).save(photo)
    page.goto(server.url + "/")  # type: ignore[attr-defined]
    page.fill("#api-key", "am_not_a_real_key")  # type: ignore[attr-defined]
    page.set_input_files("#file", str(photo))  # type: ignore[attr-defined]
    error = page.wait_for_selector("#error:not([hidden])")  # type: ignore[attr-defined]
    assert "API key was not accepted" in error.inner_text()
    assert "401" in error.inner_text()
    assert page.is_hidden("#downloads")  # type: ignore[attr-defined]


def test_an_empty_balance_shows_the_402_message(
    page: object, server: LoopbackServer, tmp_path: Path
) -> None:
    photo = tmp_path / "small.jpg"
    Image.fromarray(np.full((64, 80, 3), 120, np.uint8)).save(photo)
    page.goto(server.url + "/")  # type: ignore[attr-defined]
    page.fill("#api-key", server.new_key(credits=0))  # type: ignore[attr-defined]
    page.set_input_files("#file", str(photo))  # type: ignore[attr-defined]
    error = page.wait_for_selector("#error:not([hidden])")  # type: ignore[attr-defined]
    assert "no credit left" in error.inner_text() and "402" in error.inner_text()


def test_the_model_menu_chooses_the_servers_model(
    page: object, server: LoopbackServer, eval_dir: Path
) -> None:
    state = server.state.models
    if state is None or "u2netp" not in state.names:
        pytest.skip("u2netp is not fetched")
    asked: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "response",
        lambda r: asked.append(r.headers.get("x-model", "")) if "alpha-channel" in r.url else None,
    )
    key = server.new_key(credits=5)
    page.goto(server.url + "/")  # type: ignore[attr-defined]
    page.wait_for_selector("#model option[value=u2netp]", state="attached")  # type: ignore[attr-defined]
    labels = page.eval_on_selector_all("#model option", "os => os.map(o => o.value)")  # type: ignore[attr-defined]
    assert labels == ["isnet-general-use", "u2netp"]  # the server's default first
    page.select_option("#model", "u2netp")  # type: ignore[attr-defined]
    page.fill("#api-key", key)  # type: ignore[attr-defined]
    page.dispatch_event("#api-key", "change")  # type: ignore[attr-defined]
    photo = eval_dir / "alphamatting_lowres" / "images" / "GT18.png"
    page.set_input_files("#file", str(photo))  # type: ignore[attr-defined]
    page.wait_for_selector("#downloads:not([hidden])", timeout=120_000)  # type: ignore[attr-defined]
    assert asked == ["u2netp"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_heic_the_browser_cannot_open_is_previewed_by_the_server(
    page: object, server: LoopbackServer, eval_dir: Path, tmp_path: Path
) -> None:
    """Chromium reads no HEIC: the page asks /v1.0/preview for the photo (free), then works as
    with any photo, at the upright size a phone shows."""
    import pillow_heif

    real = Image.open(eval_dir / "alphamatting_lowres" / "images" / "GT18.png").convert("RGB")
    heif = pillow_heif.from_pillow(real.transpose(Image.Transpose.ROTATE_90))
    photo = tmp_path / "IMG_0001.HEIC"
    heif.save(photo, quality=90)
    previews: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "request", lambda r: previews.append(r.url) if "/v1.0/preview" in r.url else None
    )
    _upload(page, server, photo)
    page.wait_for_selector("text=4 credits left")  # type: ignore[attr-defined]  # preview free
    with page.expect_download() as download_info:  # type: ignore[attr-defined]
        page.click("#download-cutout")  # type: ignore[attr-defined]
    cutout = Image.open(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert cutout.mode == "RGBA" and cutout.size == (real.height, real.width)
    assert len(previews) == 1
    assert page.errors == []  # type: ignore[attr-defined]
