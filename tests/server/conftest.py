"""The contract suite runs against every storage backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alphamatte.config import Settings
from tests.server.live import LiveServer, running


@pytest.fixture(scope="module", params=["sqlite", "postgres+redis"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("home")
    extra: dict[str, str] = {}
    if request.param == "postgres+redis":
        postgres = request.getfixturevalue("postgres")
        redis_server = request.getfixturevalue("redis_server")
        redis_server.flush()
        extra = {"database_url": postgres.new_database(), "redis_url": redis_server.url}
    settings = Settings(home=home, max_pixels=4_000_000, queue_size=64, **extra)
    with running(settings) as server:
        yield server
