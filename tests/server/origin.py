"""A plain HTTP server on loopback that plays the host of a client's ``image_url``."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from alphamatte.config import Settings
from tests.server.live import LiveServer, running


class Origin(BaseHTTPRequestHandler):
    """Answers a GET as a subclass's :meth:`get` says, with helpers for a body and a redirect."""

    def do_GET(self) -> None:
        self.get()

    def get(self) -> None:
        self.send_error(404)

    def send_body(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the client may have given up, as it should when slow

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[Origin]) -> Iterator[str]:
    """``handler`` on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def origin_fixture(handler: type[Origin]) -> Any:
    """A module-scoped fixture: ``handler`` served on loopback, its base URL."""

    @pytest.fixture(scope="module")
    def origin() -> Iterator[str]:
        with serving(handler) as url:
            yield url

    return origin


def fetching_server(home: Path, **settings: Any) -> contextlib.AbstractContextManager[LiveServer]:
    """A live server that fetches image URLs from loopback (where :class:`Origin` serves)."""
    options = {"removebg_url_hosts": "127.0.0.1", "removebg_url_timeout_s": 2.0, **settings}
    return running(Settings(home=home, **options))
