"""The loopback server for tests, with the fast fake model by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.server.loopback import LoopbackServer, free_port, serving
from tests.fakes import FakeSession

LiveServer = LoopbackServer
__all__ = ["LiveServer", "fake_matter", "free_port", "running", "running_real"]


def fake_matter(_: Settings, __: str) -> Matter:
    return Matter(FakeSession(), ISNET, MattingConfig(max_side=256))  # type: ignore[arg-type]


@contextmanager
def running(
    settings: Settings, matter_factory: Callable[[Settings, str], Matter] | None = fake_matter
) -> Iterator[LoopbackServer]:
    with serving(settings, matter_factory) as server:
        yield server


@contextmanager
def running_real(home: Path, models_dir: Path, **settings: Any) -> Iterator[LoopbackServer]:
    """A server on the real models this machine has (linked into ``home``), ONNX Runtime
    pinned: what a test of real mattes compares must not depend on what ``auto`` measured."""
    (home / "models").symlink_to(models_dir)
    pinned = Settings(home=home, backend="onnxruntime", **settings)
    with running(pinned, matter_factory=None) as server:
        yield server
