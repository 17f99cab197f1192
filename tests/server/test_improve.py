"""remove.bg's ``POST /v1.0/improve``: images kept for the operator, capped per key per day, and
exported as a folder ``alphamatte eval`` reads once ground truth is added."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.cli.main import cli
from alphamatte.config import Settings
from alphamatte.eval.dataset import discover
from tests.server.live import LiveServer, running
from tests.server.test_removebg import PHOTO, error_code


@pytest.fixture(scope="module")
def improving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("improve")
    with running(Settings(home=home, improve_daily_cap=3)) as live:
        yield live


def submit(live: LiveServer, key: str, **kw: object) -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1.0/improve",
        headers={"X-API-Key": key},
        timeout=30,
        **kw,  # type: ignore[arg-type]
    )


def test_submissions_are_kept_capped_and_exported_for_eval(
    improving: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = improving.new_key(credits=1)  # submitting costs nothing, but needs valid credits
    first = submit(
        improving,
        key,
        files={"image_file": ("shoe.png", PHOTO)},
        data={"image_filename": "shoe.png", "tag": "shoelace missing"},
    )
    assert first.status_code == 200, first.text
    ident = first.json()["id"]
    encoded = base64.b64encode(PHOTO).decode().rstrip("=")
    second = submit(improving, key, json={"image_file_b64": encoded, "tag": "batch 7"})
    assert second.status_code == 200, second.text
    assert submit(improving, key, files={"image_file": ("x.png", PHOTO)}).status_code == 200
    capped = submit(improving, key, files={"image_file": ("x.png", PHOTO)})
    assert capped.status_code == 429 and error_code(capped) == "rate_limit_exceeded"
    # Another key has its own cap.
    other = improving.new_key(credits=1)
    assert submit(improving, other, files={"image_file": ("x.png", PHOTO)}).status_code == 200

    monkeypatch.setenv("ALPHAMATTE_HOME", str(improving.state.settings.home))
    listed = CliRunner().invoke(cli, ["improve", "list"])
    assert listed.exit_code == 0, listed.output
    assert ident in listed.output and "shoelace missing" in listed.output
    exported = CliRunner().invoke(cli, ["improve", "export", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    source = tmp_path / "out" / "improve"
    index = json.loads((source / "submissions.json").read_text())
    assert len(index) == 4 and index[0]["tag"] == "shoelace missing"
    assert (source / "images" / f"{ident}.png").read_bytes() == PHOTO
    assert list(discover(tmp_path / "out")) == []  # no ground truth yet
    alpha = np.zeros((600, 800), np.uint8)
    Image.fromarray(alpha).save(source / "alpha" / f"{ident}.png")
    assert [pair.name for pair in discover(tmp_path / "out")] == [ident]


def test_what_is_not_an_image_is_refused(improving: LiveServer) -> None:
    key = improving.new_key(credits=0)
    garbage = submit(improving, key, files={"image_file": ("x.png", b"not an image")})
    assert garbage.status_code == 400 and error_code(garbage) == "invalid_file_type"
    nothing = submit(improving, key, data={"tag": "x"})
    assert nothing.status_code == 400 and error_code(nothing) == "missing_source"
    wrong = submit(improving, "am_wrong", files={"image_file": ("x.png", PHOTO)})
    assert wrong.status_code == 403 and error_code(wrong) == "auth_failed"
