"""`model fetch` over HTTP(S) against a real server on loopback: a download cut off halfway
resumes with a range request, a wrong size or sha256 is never installed, a 404 and a stalled
server are clear errors, an unpinned model needs --sha256, and --url takes a mirror."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alphamatte.engine.acquisition.download import fetch
from alphamatte.engine.catalogue.spec import ModelSpec, UrlSource
from alphamatte.engine.errors import ModelFetchError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@dataclass
class Behaviour:
    cut_first: bool = False  # the first full request stops halfway, without an error status
    stall_s: float = 0.0
    missing: bool = False
    body: bytes = PAYLOAD
    ranges: list[str] = field(default_factory=list)
    cuts: int = 0


def handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/moved"):
                self.send_response(302)
                self.send_header("Location", "/model.onnx")
                self.end_headers()
                return
            if behaviour.missing:
                self.send_error(404)
                return
            body = behaviour.body
            start = 0
            asked = self.headers.get("Range")
            if asked:
                behaviour.ranges.append(asked)
                start = int(asked.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if behaviour.stall_s:
                time.sleep(behaviour.stall_s)
            if behaviour.cut_first and not asked and behaviour.cuts == 0:
                behaviour.cuts += 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.close()  # the client sees a short body
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def origin() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(behaviour))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    finally:
        server.shutdown()
        server.server_close()


def spec_for(url: str, *, sha256: str | None = None, size: int | None = len(PAYLOAD)) -> ModelSpec:
    return ModelSpec(
        name="tiny",
        filename="tiny.onnx",
        source=UrlSource(url + "/model.onnx"),
        size=size,
        sha256=sha256 if sha256 is not None else hashlib.sha256(PAYLOAD).hexdigest(),
    )


def test_a_download_lands_checked_and_noted(origin: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = origin
    seen: list[tuple[int, int | None]] = []
    path = fetch(spec_for(url), tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert (tmp_path / "tiny.onnx.origin.json").read_text().count(url) == 1
    assert not list(tmp_path.glob(".*download"))


def test_a_cut_download_resumes_where_it_stopped(
    origin: tuple[str, Behaviour], tmp_path: Path
) -> None:
    url, behaviour = origin
    behaviour.cut_first = True
    path = fetch(spec_for(url), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert behaviour.ranges == [f"bytes={len(PAYLOAD) // 2}-"]  # only the missing half again


def test_a_wrong_file_is_never_installed(origin: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, behaviour = origin
    behaviour.body = PAYLOAD[:-1] + b"x"  # same size, other bytes
    with pytest.raises(ModelFetchError, match="sha256"):
        fetch(spec_for(url), tmp_path)
    behaviour.body = PAYLOAD + b"more"
    with pytest.raises(ModelFetchError, match="bytes"):
        fetch(spec_for(url), tmp_path)
    assert not (tmp_path / "tiny.onnx").exists()
    assert not list(tmp_path.glob(".*download"))


def test_a_missing_file_is_a_clear_error(origin: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, behaviour = origin
    behaviour.missing = True
    with pytest.raises(ModelFetchError, match="404"):
        fetch(spec_for(url), tmp_path)


def test_a_stalled_server_times_out_and_keeps_nothing_wrong(
    origin: tuple[str, Behaviour], tmp_path: Path
) -> None:
    url, behaviour = origin
    behaviour.stall_s = 1.5
    started = time.perf_counter()
    with pytest.raises(ModelFetchError, match="kept failing"):
        fetch(spec_for(url), tmp_path, timeout_s=0.3)
    assert time.perf_counter() - started < 15
    assert not (tmp_path / "tiny.onnx").exists()


def test_an_unpinned_model_needs_a_digest(origin: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = origin
    unpinned = spec_for(url, sha256="", size=None)
    unpinned = ModelSpec(
        name="tiny", filename="tiny.onnx", source=unpinned.source, size=None, sha256=None
    )
    with pytest.raises(ModelFetchError, match="--sha256"):
        fetch(unpinned, tmp_path)
    path = fetch(unpinned, tmp_path, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert path.read_bytes() == PAYLOAD


def test_a_mirror_is_checked_against_the_same_pins(
    origin: tuple[str, Behaviour], tmp_path: Path
) -> None:
    url, _ = origin
    spec = ModelSpec(
        name="tiny",
        filename="tiny.onnx",
        source=UrlSource("https://unreachable.invalid/model.onnx"),
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    )
    path = fetch(spec, tmp_path, url=url + "/moved")  # redirects are followed
    assert path.read_bytes() == PAYLOAD
