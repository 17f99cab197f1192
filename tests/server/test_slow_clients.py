"""A client that trickles its upload gets 408 and its connection back; others are served."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from alphamatte.config import Settings
from tests.server.live import running
from tests.server.test_money_and_admin import matte


def test_a_body_that_does_not_arrive_in_time_is_408_and_the_server_moves_on(
    tmp_path: Path,
) -> None:
    with running(Settings(home=tmp_path, body_timeout_s=1.0)) as live:
        key = live.new_key(credits=5)
        address = urlsplit(live.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as slow:
            slow.sendall(
                b"POST /v1.0/alpha-channel-base64 HTTP/1.1\r\n"
                + f"Host: {address.netloc}\r\nX-API-Key: {key}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                + b'{"image_base64": "iVBORw0KGgo'
            )
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                part = slow.recv(4096)
                if not part:
                    break
                answer += part
            waited = time.monotonic() - started
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in head.lower()
        assert b'"detail"' in body and b"did not arrive" in body
        assert 0.9 < waited < 8
        # Nothing was charged, and a normal client is served at once.
        assert matte(live, key).status_code == 200
        credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key})
        assert credit.json()["credit"] == 4
