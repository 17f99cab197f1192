"""A real remove.bg client from PyPI (``removebg``), unchanged but for its endpoint constant,
against the live server."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import numpy as np
import pytest
import requests
from PIL import Image
from removebg import removebg as client_module
from removebg.removebg import RemoveBg

from tests.server.live import LiveServer
from tests.server.test_removebg import HEIGHT, PHOTO, WIDTH


@pytest.fixture
def pointed_at(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """The client has no endpoint setting: its module constant is the one thing changed."""
    monkeypatch.setattr(client_module, "API_ENDPOINT", f"{live.url}/v1.0/removebg")
    return live


def total(live: LiveServer, key: str) -> float:
    answer = httpx.get(f"{live.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    return float(answer.json()["data"]["attributes"]["credits"]["total"])


def test_the_client_uploads_a_file_and_saves_the_cutout(
    pointed_at: LiveServer, tmp_path: Path
) -> None:
    key = pointed_at.new_key(credits=2)
    source = tmp_path / "shoe.png"
    source.write_bytes(PHOTO)
    RemoveBg(key, str(tmp_path / "errors.log")).remove_background_from_img_file(str(source))
    saved = Image.open(f"{source}_no_bg.png")
    # Its default size is "regular": 0.25 MP, for 0.25 credits.
    assert saved.mode == "RGBA" and saved.width * saved.height <= 250_000
    assert abs(saved.width / saved.height - WIDTH / HEIGHT) < 0.01
    alpha = np.asarray(saved)[..., 3]
    assert alpha.max() == 255 and alpha[0, 0] == 0
    assert total(pointed_at, key) == 1.75


def test_the_client_sends_base64_with_a_background_colour(
    pointed_at: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = pointed_at.new_key(credits=1)
    monkeypatch.chdir(tmp_path)
    encoded = base64.b64encode(PHOTO).decode()
    RemoveBg(key, "errors.log").remove_background_from_base64_img(
        encoded, size="full", new_file_name="out.png", bg_color="ff0000"
    )
    saved = Image.open(tmp_path / "out.png")  # auto format: opaque on a colour, so JPEG
    assert saved.format == "JPEG" and saved.size == (WIDTH, HEIGHT)
    corner = np.asarray(saved)[3, 3].astype(int)
    assert corner[0] > 240 and corner[1] < 15 and corner[2] < 15
    assert total(pointed_at, key) == 0


def test_the_client_sees_remove_bg_shaped_errors(pointed_at: LiveServer, tmp_path: Path) -> None:
    source = tmp_path / "shoe.png"
    source.write_bytes(PHOTO)
    with pytest.raises(requests.HTTPError) as bad_key:
        RemoveBg("am_wrong", str(tmp_path / "e.log")).remove_background_from_img_file(str(source))
    assert bad_key.value.response.status_code == 403
    assert bad_key.value.response.json()["errors"][0]["code"] == "auth_failed"
    broke = pointed_at.new_key(credits=0)
    with pytest.raises(requests.HTTPError) as no_credit:
        RemoveBg(broke, str(tmp_path / "e.log")).remove_background_from_img_file(str(source))
    assert no_credit.value.response.status_code == 402
    assert no_credit.value.response.json()["errors"][0]["title"] == "Insufficient credits"
    with pytest.raises(requests.HTTPError) as url:
        RemoveBg(broke, str(tmp_path / "e.log")).remove_background_from_img_url(
            "http://127.0.0.1:9/photo.jpg"
        )
    assert url.value.response.status_code == 400
