"""One engine error tree, mapped once: an engine failure during a request is a 503 with
Retry-After in the endpoint's dialect (never a bare 500); the CLI prints it and exits 3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alphamatte.cli.main import cli
from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.errors import EngineError, ModelUnavailableError
from alphamatte.engine.inference.matting import Matter, MattingConfig
from tests.conftest import gradient_rgb, image_bytes
from tests.fakes import FakeSession
from tests.server.live import LiveServer, running


class BreakingSession(FakeSession):
    """Answers until ``broken`` is set, then fails the way an engine does."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = threading.Event()

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.broken.is_set():
            raise ModelUnavailableError("model file /srv/models/x.onnx went away")
        return super().run(batch)


SESSION = BreakingSession()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    def factory(_: Settings, __: str) -> Matter:
        return Matter(SESSION, ISNET, MattingConfig(max_side=256))  # type: ignore[arg-type]

    home = tmp_path_factory.mktemp("engine")
    with running(Settings(home=home, result_cache_mb=0), factory) as live:
        yield live


def test_the_tree_has_one_root() -> None:
    from alphamatte.engine.errors import (
        BackendUnavailableError,
        ModelFetchError,
        ModelPathError,
    )

    for kind in (BackendUnavailableError, ModelFetchError, ModelPathError, ModelUnavailableError):
        assert issubclass(kind, EngineError)


def test_an_engine_failure_is_a_503_in_each_dialect_and_costs_nothing(server: LiveServer) -> None:
    key = server.new_key(credits=3)
    photo = image_bytes(Image.fromarray(gradient_rgb(64, 48)), "PNG")
    SESSION.broken.set()
    try:
        withoutbg = httpx.post(
            f"{server.url}/v1.0/alpha-channel",
            files={"file": ("a.png", photo)},
            headers={"X-API-Key": key},
            timeout=30,
        )
        removebg = httpx.post(
            f"{server.url}/v1.0/removebg",
            files={"image_file": ("a.png", photo)},
            headers={"X-API-Key": key},
            timeout=30,
        )
    finally:
        SESSION.broken.clear()
    assert withoutbg.status_code == 503 and withoutbg.headers["retry-after"] == "30"
    assert "detail" in withoutbg.json() and "/srv/models" not in withoutbg.text
    assert removebg.status_code == 503 and removebg.headers["retry-after"] == "30"
    assert removebg.json()["errors"][0]["code"] == "model_unavailable"
    balance = httpx.get(f"{server.url}/v1.0/account", headers={"X-API-Key": key})
    assert balance.json()["data"]["attributes"]["credits"]["total"] == 3
    again = httpx.post(
        f"{server.url}/v1.0/alpha-channel",
        files={"file": ("a.png", photo)},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert again.status_code == 200  # the same server serves once the engine does


def test_the_cli_exits_3_with_the_engines_message(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(image_bytes(Image.fromarray(gradient_rgb(64, 48)), "PNG"))
    ran = CliRunner().invoke(
        cli,
        ["matte", str(photo), "-o", str(tmp_path / "m.png"), "--model", "../../etc/x.onnx"],
        env={"ALPHAMATTE_HOME": str(tmp_path / "home")},
    )
    assert ran.exit_code == 3, ran.output
    assert "must be a file inside" in ran.output
