"""The loopback server for tests, with the fast fake model by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.server.loopback import LoopbackServer, free_port, serving
from tests.fakes import FakeSession

LiveServer = LoopbackServer
__all__ = ["LiveServer", "fake_matter", "free_port", "running"]


def fake_matter(_: Settings, __: str) -> Matter:
    return Matter(FakeSession(), ISNET, MattingConfig(max_side=256))  # type: ignore[arg-type]


@contextmanager
def running(
    settings: Settings, matter_factory: Callable[[Settings, str], Matter] | None = fake_matter
) -> Iterator[LoopbackServer]:
    with serving(settings, matter_factory) as server:
        yield server
