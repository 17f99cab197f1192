from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from tests.server.live import LiveServer, running
from tests.services import Postgres, Redis

SHARED_EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"


def image_bytes(image: Image.Image, fmt: str, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def gradient_rgb(width: int, height: int) -> np.ndarray:
    """A photo-like test card: a bright disc on a darker gradient."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), np.full_like(xx, 60)],
        axis=-1,
    ).astype(np.uint8)
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (min(width, height) / 3) ** 2
    base[disc] = (250, 240, 230)
    return base


@pytest.fixture(scope="session")
def models_dir() -> Path:
    home = Path(os.environ.get("ALPHAMATTE_HOME", Path.home() / ".cache" / "alphamatte"))
    return home / "models"


@pytest.fixture
def eval_dir() -> Path:
    if not SHARED_EVAL.is_dir():
        pytest.skip("../shared/eval is not present")
    return SHARED_EVAL


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server on loopback with the fast fake model, shared by one test module."""
    home: Path = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, max_pixels=4_000_000, queue_size=64)
    with running(settings) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
