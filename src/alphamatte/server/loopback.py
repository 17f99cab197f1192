"""A real uvicorn server on a free loopback port, in a background thread.

For contract tests and benchmarks: the same app, HTTP stack and lifespan as `alphamatte serve`,
without a subprocess to manage.
"""

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
from alphamatte.engine.inference.matting import Matter
from alphamatte.server.accounting.keys import create_key
from alphamatte.server.app import create_app
from alphamatte.server.lingering import lingering_protocol
from alphamatte.server.state import ServerState


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LoopbackServer:
    url: str
    app: FastAPI

    @property
    def state(self) -> ServerState:
        state: ServerState = self.app.state.alphamatte
        return state

    def new_key(
        self, credits: int = 100, rate_limit: str | None = "1000/minute", **extra: object
    ) -> str:
        """A fresh API key (generous rate limit unless told otherwise); returns the raw key."""
        _, raw = create_key(self.state.db, credits=credits, rate_limit=rate_limit, **extra)  # type: ignore[arg-type]
        return raw


def wait_ready(url: str, timeout: float = 120.0, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url``/ready until it answers 200; RuntimeError after ``timeout`` seconds, or at
    once when ``alive`` (the server's process, say) reports it gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"{url} exited before it was ready")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready within {timeout:.0f} s")


@contextmanager
def serving(
    settings: Settings,
    matter_factory: Callable[[Settings, str], Matter] | None = None,
    *,
    ready_timeout: float = 120.0,
) -> Iterator[LoopbackServer]:
    """Start the app, wait until /ready answers 200, stop it on exit."""
    app = create_app(settings, matter_factory)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            http=lingering_protocol(settings),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, ready_timeout)
    except RuntimeError:
        server.should_exit = True
        raise
    try:
        yield LoopbackServer(url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
