"""remove.bg's ``image_url``: fetched only from listed hosts, within limits, tested against an
HTTP server on loopback (the only address these tests ever connect to)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest

from alphamatte.config import Settings
from alphamatte.server.errors import ApiError
from alphamatte.server.url_fetch import check_target
from tests.server.live import LiveServer, running
from tests.server.origin import Origin, fetching_server, origin_fixture
from tests.server.test_removebg import HEIGHT, PHOTO, WIDTH, decode, error_code

LIMIT = 200_000


class Photos(Origin):
    def get(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/photo.png":
            self.send_body(PHOTO)
        elif self.path == "/big":
            self.send_body(b"\x89PNG" + b"\0" * (LIMIT + 10))
        elif self.path == "/slow":
            time.sleep(3)
            self.send_body(PHOTO)
        elif self.path == "/hop":
            self.redirect("/photo.png")
        elif self.path == "/out":
            self.redirect(f"http://localhost:{port}/photo.png")
        elif self.path == "/loop":
            self.redirect("/loop")
        else:
            self.send_error(404)


photos = origin_fixture(Photos)


@pytest.fixture(scope="module")
def fetching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("urls")
    with fetching_server(
        home, removebg_url_timeout_s=1.0, removebg_max_input_bytes=LIMIT
    ) as server:
        yield server


def fetch(live: LiveServer, key: str, url: str) -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1.0/removebg",
        headers={"X-API-Key": key},
        data={"image_url": url, "size": "full"},
        timeout=30,
    )


def test_a_listed_host_is_fetched_and_redirects_within_it_followed(
    fetching: LiveServer, photos: str
) -> None:
    key = fetching.new_key(credits=2)
    for path in ("/photo.png", "/hop"):
        answer = fetch(fetching, key, f"{photos}{path}")
        assert answer.status_code == 200, answer.text
        image = decode(answer.content)
        assert image.size == (WIDTH, HEIGHT)
        assert np.asarray(image)[300, 400, 3] == 255


def test_a_background_image_url_is_fetched_the_same_way(fetching: LiveServer, photos: str) -> None:
    key = fetching.new_key(credits=2)
    answer = httpx.post(
        f"{fetching.url}/v1.0/removebg",
        headers={"X-API-Key": key},
        data={"image_url": f"{photos}/photo.png", "bg_image_url": f"{photos}/hop"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    image = decode(answer.content)  # the photo itself as background: opaque, so JPEG
    assert image.format == "JPEG" and image.size == (WIDTH, HEIGHT)
    refused = httpx.post(
        f"{fetching.url}/v1.0/removebg",
        headers={"X-API-Key": key},
        data={"image_url": f"{photos}/photo.png", "bg_image_url": f"{photos}/out"},
        timeout=30,
    )
    assert refused.status_code == 400 and error_code(refused) == "url_not_allowed"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/big", "file_too_large"),
        ("/slow", "url_timeout"),
        ("/out", "url_not_allowed"),  # a redirect to a host that is not listed
        ("/loop", "url_fetch_failed"),  # too many redirects
        ("/missing", "url_fetch_failed"),
    ],
)
def test_what_cannot_be_fetched_is_a_400_with_a_code_and_free(
    fetching: LiveServer, photos: str, path: str, code: str
) -> None:
    key = fetching.new_key(credits=1)
    started = time.monotonic()
    answer = fetch(fetching, key, f"{photos}{path}")
    assert answer.status_code == 400, answer.text
    assert error_code(answer) == code
    assert time.monotonic() - started < 3  # the slow server is not waited out
    account = httpx.get(f"{fetching.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    assert account.json()["data"]["attributes"]["credits"]["total"] == 1


def test_an_unlisted_host_is_refused_before_any_connection(fetching: LiveServer) -> None:
    key = fetching.new_key(credits=1)
    answer = fetch(fetching, key, "http://localhost:9/photo.png")
    assert answer.status_code == 400 and error_code(answer) == "url_not_allowed"


@pytest.mark.parametrize(
    ("url", "hosts", "code"),
    [
        ("ftp://127.0.0.1/photo.png", ["127.0.0.1"], "invalid_image_url"),
        ("http://169.254.169.254/latest/meta-data", ["*.example.com"], "url_not_allowed"),
        # a listed name that resolves inside the network: refused unless the address is listed
        ("http://localhost:9/photo.png", ["localhost"], "url_not_allowed"),
    ],
)
def test_targets_are_checked_by_scheme_name_and_address(
    url: str, hosts: list[str], code: str
) -> None:
    with pytest.raises(ApiError) as refused:
        anyio.run(check_target, url, hosts)
    assert refused.value.code == code


def test_a_listed_loopback_address_and_wildcards_pass() -> None:
    anyio.run(check_target, "http://127.0.0.1:9/x.png", ["127.0.0.1"])
    anyio.run(check_target, "http://localhost:9/x.png", ["localhost", "127.0.0.1", "::1"])


def test_urls_stay_off_by_default(tmp_path: Path, photos: str) -> None:
    with running(Settings(home=tmp_path)) as server:
        answer = fetch(server, server.new_key(credits=1), f"{photos}/photo.png")
    assert answer.status_code == 400 and error_code(answer) == "url_fetch_disabled"
