"""A refusal made before the body is read reaches every client, whatever its pace: the server
answers, ends its side, and drains what the client declared before closing (server/lingering.py).

Each row sends a multipart photo at a steady rate through a socket with a small send buffer and
reads only after sending, as python-requests does; before the drain read what was declared,
every row here got ``Broken pipe`` after ~1.2 MB instead of its answer."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import requests
from removebg import removebg as removebg_module
from removebg.removebg import RemoveBg

from alphamatte.config import Settings
from tests.server.live import LiveServer, running
from tests.server.test_removebg import PHOTO
from tests.server.test_removebg_node_client import MODULES, node_client
from tests.server.throttled import ThrottlingProxy, multipart, send_then_read

__all__ = ["node_client"]  # the fixture, shared with the npm client's own tests

MB = 1_000_000
REMOVEBG = "/v1.0/removebg"
ALPHA = "/v1.0/alpha-channel"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("early")
    with running(Settings(home=home, auth_failure_limit="10000/minute")) as live:
        yield live


def _spent_key(server: LiveServer, path: str) -> str:
    """A key whose rate limit the one request it made has used up."""
    if path == REMOVEBG:
        key = server.new_key(credits=5, removebg_rate_limit="1/minute")
        files = {"image_file": ("p.png", PHOTO)}
    else:
        key = server.new_key(credits=5, rate_limit="1/minute")
        files = {"file": ("p.png", PHOTO)}
    first = httpx.post(f"{server.url}{path}", headers={"X-API-Key": key}, files=files, timeout=30)
    assert first.status_code == 200
    return key


def _field(path: str) -> str:
    return "image_file" if path == REMOVEBG else "file"


def _code(path: str, body: bytes) -> str:
    found = json.loads(body)
    return found["errors"][0]["code"] if path == REMOVEBG else str(found["detail"])


# (path, refusal, body bytes, bytes/s): the rows at the same rates (a few scaled to keep
# the suite short), plus 413s for bodies declared over each endpoint's limit.
ROWS = [
    (REMOVEBG, "wrong_key", 3 * MB, 1 * MB),
    (REMOVEBG, "wrong_key", 6 * MB, 2 * MB),
    (REMOVEBG, "wrong_key", 10 * MB, 4 * MB),
    (ALPHA, "wrong_key", 5 * MB, 2 * MB),
    (ALPHA, "rate_limited", 4 * MB, 2 * MB),
    (REMOVEBG, "rate_limited", 4 * MB, 2 * MB),
    (ALPHA, "too_large", 12 * MB, 6 * MB),
    (REMOVEBG, "too_large", 34 * MB, 16 * MB),
]
EXPECTED = {
    (REMOVEBG, "wrong_key"): (403, "auth_failed"),
    (ALPHA, "wrong_key"): (401, None),
    (REMOVEBG, "rate_limited"): (429, "rate_limit_exceeded"),
    (ALPHA, "rate_limited"): (429, None),
    (REMOVEBG, "too_large"): (413, None),
    (ALPHA, "too_large"): (413, None),
}


@pytest.mark.parametrize(("path", "refusal", "size", "rate"), ROWS)
def test_a_client_that_reads_only_after_sending_reads_its_refusal(
    server: LiveServer, path: str, refusal: str, size: int, rate: int
) -> None:
    key = _spent_key(server, path) if refusal == "rate_limited" else "am_wrong_key_for_sure"
    if refusal == "too_large":
        key = server.new_key(credits=5)
    content_type, body = multipart(_field(path), size)
    outcome = send_then_read(
        server.url, path, {"X-API-Key": key, "Content-Type": content_type}, body, rate
    )
    status, code = EXPECTED[(path, refusal)]
    print(
        f"{path} {refusal} {size / MB:g} MB at {rate / MB:g} MB/s: {outcome.status}, "
        f"sent {outcome.sent:,} of {len(body):,}, {outcome.error or 'no error'}"
    )
    assert outcome.error is None, outcome
    assert outcome.sent == len(body)
    if path == REMOVEBG and status == 413:
        status = 400  # remove.bg's dialect answers a too-large body with 400 file_too_large
        code = "file_too_large"
    assert outcome.status == status
    if code is not None:
        assert _code(path, outcome.body) == code
    if refusal == "rate_limited":
        assert b"retry-after:" in outcome.answer.lower()


def test_a_client_that_sends_more_than_it_declared_is_cut_off(server: LiveServer) -> None:
    content_type, body = multipart("image_file", 4 * MB)
    outcome = send_then_read(
        server.url,
        REMOVEBG,
        {"X-API-Key": "am_wrong", "Content-Type": content_type},
        body,
        8 * MB,
        declared=1 * MB,
    )
    assert outcome.sent < len(body) and outcome.error is not None


def test_a_client_that_stalls_is_cut_off_after_the_idle_time(server: LiveServer) -> None:
    """Declares 8 MB and sends it with pauses: a pause longer than the short drain (2 s) is
    waited out; one longer than the idle time (5 s) gets the socket closed under it."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            f"POST {REMOVEBG} HTTP/1.1\r\nHost: x\r\nX-API-Key: am_wrong\r\n"
            "Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 8000000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"--xx\r\n" + b"a" * 100_000)
        answer = b""
        while chunk := sock.recv(65_536):  # the answer, then the end of the server's side
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 403")
        time.sleep(3.0)
        sock.sendall(b"a" * 16_384)  # still drained
        time.sleep(0.5)
        sock.sendall(b"a" * 16_384)
        time.sleep(8.0)
        with pytest.raises(OSError):  # closed: the first send draws a reset, the next fails
            for _ in range(20):
                sock.sendall(b"a" * 16_384)
                time.sleep(0.1)


@pytest.mark.parametrize("path", [REMOVEBG, ALPHA])
def test_expect_100_continue_gets_the_refusal_without_the_100(
    server: LiveServer, path: str
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: am_wrong\r\nExpect: 100-continue\r\n"
            "Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 5000000\r\n\r\n"
        )
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
    assert answer.split()[1] in (b"401", b"403")
    assert b"100 Continue" not in answer


# Real clients, slowed by a relay to an uplink's pace.


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.jpg"
    path.write_bytes(os.urandom(4 * MB))  # refused before a byte of it is looked at
    return path


def test_python_requests_reads_its_403_at_an_uplinks_pace(
    server: LiveServer, photo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PyPI ``removebg`` client (python-requests: sends everything, then reads)."""
    with ThrottlingProxy(server.url, 2 * MB, discard_on_reset=True) as proxy:
        monkeypatch.setattr(removebg_module, "API_ENDPOINT", f"{proxy.url}{REMOVEBG}")
        client = RemoveBg("am_wrong_key", str(tmp_path / "errors.log"))
        with pytest.raises(requests.HTTPError) as refused:
            client.remove_background_from_img_file(str(photo_file))
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["errors"][0]["code"] == "auth_failed"


@pytest.mark.parametrize("path", [REMOVEBG, ALPHA])
def test_httpx_reads_its_429_at_an_uplinks_pace(
    server: LiveServer, photo_file: Path, path: str
) -> None:
    """httpx, the SDK's transport, also sends the whole body before reading."""
    key = _spent_key(server, path)
    with ThrottlingProxy(server.url, 2 * MB, discard_on_reset=True) as proxy:
        answer = httpx.post(
            f"{proxy.url}{path}",
            headers={"X-API-Key": key},
            files={_field(path): ("big.jpg", photo_file.read_bytes())},
            timeout=30,
        )
    assert answer.status_code == 429 and "retry-after" in answer.headers


STREAMING = """
const client = require(process.env.CLIENT);
client.removeBackgroundFromImageFile({path: process.env.PHOTO, apiKey: process.env.KEY})
  .then(() => console.log(JSON.stringify({ok: true})))
  .catch((e) => console.log(JSON.stringify({error: e})));
"""


def test_the_npm_client_streaming_at_an_uplinks_pace_reads_its_403(
    server: LiveServer, node_client: Path, photo_file: Path
) -> None:
    """npm ``remove.bg`` pipes the file and reads while it sends."""
    with ThrottlingProxy(server.url, 2 * MB) as proxy:
        env = {
            **os.environ,
            "NODE_PATH": str(MODULES),
            "CLIENT": str(node_client),
            "REMOVEBG_ENDPOINT": f"{proxy.url}{REMOVEBG}",
            "KEY": "am_wrong_key",
            "PHOTO": str(photo_file),
        }
        ran = subprocess.run(
            ["node", "-e", STREAMING], env=env, capture_output=True, text=True, timeout=60
        )
    assert json.loads(ran.stdout)["error"][0]["code"] == "auth_failed"


def _busy(stop: float) -> None:
    while time.monotonic() < stop:
        pass


def test_on_a_loaded_machine_every_held_back_client_reads_its_own_error(
    server: LiveServer, photo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both cores busy, five python-requests clients with wrong keys at once, each at an
    uplink's pace: all five get their 403, none a dead connection."""
    context = multiprocessing.get_context("spawn")
    stop = time.monotonic() + 60
    burners = [context.Process(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    for burner in burners:
        burner.start()
    try:
        with ThrottlingProxy(server.url, 2 * MB, discard_on_reset=True) as proxy:
            monkeypatch.setattr(removebg_module, "API_ENDPOINT", f"{proxy.url}{REMOVEBG}")

            def attempt(index: int) -> int | str:
                client = RemoveBg(f"am_wrong_{index}", str(tmp_path / "errors.log"))
                try:
                    client.remove_background_from_img_file(str(photo_file))
                except requests.HTTPError as refused:
                    return refused.response.status_code
                except requests.RequestException as broken:
                    return type(broken).__name__
                return 200

            with ThreadPoolExecutor(5) as pool:
                seen = list(pool.map(attempt, range(5)))
    finally:
        for burner in burners:
            burner.kill()
            burner.join()
    assert seen == [403] * 5
