"""A real uvicorn server on loopback, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from alphamatte.config import Settings
from alphamatte.engine.matting import Matter, MattingConfig
from alphamatte.engine.registry import ISNET
from alphamatte.server.accounting.keys import create_key
from alphamatte.server.app import create_app
from alphamatte.server.state import ServerState
from tests.fakes import FakeSession


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_matter(_: Settings) -> Matter:
    return Matter(FakeSession(), ISNET, MattingConfig(max_side=256))  # type: ignore[arg-type]


@dataclass
class LiveServer:
    url: str
    app: FastAPI

    @property
    def state(self) -> ServerState:
        state: ServerState = self.app.state.alphamatte
        return state

    def new_key(
        self, credits: int = 100, rate_limit: str | None = "1000/minute", **extra: object
    ) -> str:
        _, raw = create_key(self.state.db, credits=credits, rate_limit=rate_limit, **extra)  # type: ignore[arg-type]
        return raw


@contextmanager
def running(
    settings: Settings, matter_factory: Callable[[Settings], Matter] | None = fake_matter
) -> Iterator[LiveServer]:
    app = create_app(settings, matter_factory)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        server.should_exit = True
        raise RuntimeError("server did not become ready")
    try:
        yield LiveServer(url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
