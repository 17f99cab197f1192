from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alphamatte.config import Settings
from tests.server.live import LiveServer, running


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, max_pixels=4_000_000, queue_size=64)
    with running(settings) as server:
        yield server
