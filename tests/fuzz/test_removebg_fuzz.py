"""Hypothesis over remove.bg's fields, bodies and image URLs, on a real server: never a 5xx,
every error in remove.bg's shape, nothing charged for any 4xx, the balance equal to the ledger.

``ALPHAMATTE_FUZZ_EXAMPLES`` sets how many requests (CI runs the default; the closing numbers
in docs/removebg.md come from a run of 10,000).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphamatte.server.accounting.amounts import to_milli
from tests.server.live import LiveServer
from tests.server.origin import Origin, fetching_server, origin_fixture
from tests.server.test_credit_ledger import assert_ledger_explains_every_balance
from tests.server.test_removebg import PHOTO

EXAMPLES = int(os.environ.get("ALPHAMATTE_FUZZ_EXAMPLES", "400"))
FIELDS = (
    "image_file_b64",
    "image_url",
    "size",
    "type",
    "type_level",
    "format",
    "roi",
    "crop",
    "crop_margin",
    "scale",
    "position",
    "channels",
    "bg_color",
    "bg_image_url",
    "add_shadow",
    "shadow_type",
    "shadow_opacity",
    "semitransparency",
    "model",
    "tag",
    "image_filename",
)
INTERESTING = (
    "auto",
    "preview",
    "full",
    "4k",
    "50MP",
    "png",
    "jpg",
    "webp",
    "zip",
    "true",
    "false",
    "0",
    "-1",
    "1e309",
    "NaN",
    "100%",
    "101%",
    "-5%",
    "10px 10px 20px 20px",
    "0 0 100% 100%",
    "1.5 1.5 2.4 2.4",
    "99999 0 100000 1",
    "5 5 5 5",
    "center",
    "original",
    "50% 50%",
    "fff",
    "#12345678",
    "red",
    "alpha",
    "rgba",
    "drop",
    "car",
    "\x00",
    "\ud800",
    "😀",
    "a" * 5000,
    "isnet-general-use",
    "u2netp",
    "birefnet-hr",
    "../isnet-general-use",
)


class Host(Origin):
    """The allow-listed host: a photo, garbage, redirects to odd places."""

    def get(self) -> None:
        if self.path.startswith("/photo"):
            self.send_body(PHOTO)
        elif self.path.startswith("/garbage"):
            self.send_body(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
        elif self.path.startswith("/hop"):
            self.redirect(self.path[4:] or "/photo")
        else:
            self.send_error(404)


origin = origin_fixture(Host)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with fetching_server(
        tmp_path_factory.mktemp("fuzz-removebg"),
        max_pixels=4_000_000,
        removebg_max_input_bytes=2_000_000,
        auth_failure_limit="1000000/minute",
        improve_daily_cap=1_000_000,
        improve_daily_mb=1_000,
    ) as server:
        yield server


def urls(origin: str) -> st.SearchStrategy[str]:
    paths = st.sampled_from(["/photo", "/garbage", "/hop/photo", "/hop/hop", "/missing", ""])
    odd = st.sampled_from(
        [
            "http://[::1/x.png",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:1:2/",
            "http://u:p@127.0.0.1/",
            "file:///etc/passwd",
            "http://169.254.169.254/latest",
            "http://0x7f.1/",
            "http://2130706433/",
            "gopher://127.0.0.1/",
            "//127.0.0.1/photo",
            "http://127.0.0.1/\r\nX: y",
        ]
    )
    return st.one_of(paths.map(lambda path: origin + path), odd, st.text(max_size=60))


def values(origin: str) -> st.SearchStrategy[Any]:
    text = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=40), urls(origin))
    nested = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )
    return st.one_of(text, text, nested)


IMAGES = st.sampled_from(
    [
        PHOTO,
        PHOTO[: len(PHOTO) // 2],
        b"",
        b"GIF89a" + b"\xff" * 50,
        b"\xff\xd8\xff\xe0" + b"\x00" * 200,
        b"not an image",
    ]
)


@st.composite
def requests(draw: st.DrawFn, origin: str) -> dict[str, Any]:
    fields = draw(
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), values(origin), max_size=6
        )
    )
    kind = draw(st.sampled_from(["multipart", "json", "form", "raw"]))
    image = draw(st.one_of(st.none(), IMAGES))
    if draw(st.booleans()) and image is not None:
        encoded = base64.b64encode(image).decode()
        fields["image_file_b64"] = draw(
            st.sampled_from([encoded, encoded.rstrip("="), encoded.replace("+", "-")])
        )
        image = None
    return {"fields": fields, "kind": kind, "image": image}


def _wire(text: str) -> str:
    """Form fields travel as UTF-8: a lone surrogate (which JSON bodies carry as an escape)
    arrives as the bytes a client would send for it, read back as replacement characters."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def send(client: httpx.Client, url: str, key: str, asked: dict[str, Any]) -> httpx.Response:
    fields: dict[str, Any] = asked["fields"]
    headers = {"X-API-Key": key}
    if asked["kind"] == "json":
        return client.post(url, headers=headers, content=json.dumps(fields).encode())
    flat = {
        _wire(str(k)): _wire(v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()
    }
    if asked["kind"] == "form":
        return client.post(url, headers=headers, data=flat)
    if asked["kind"] == "raw":
        body = json.dumps(fields).encode()[:200]
        return client.post(url, headers={**headers, "Content-Type": "text/plain"}, content=body)
    files = {"image_file": ("photo.png", asked["image"])} if asked["image"] is not None else {}
    return client.post(url, headers=headers, data=flat, files=files or {"x": ("x", b"")})


def test_no_remove_bg_request_makes_a_server_error_or_charges_for_an_error(
    fuzzed: LiveServer, origin: str
) -> None:
    key = fuzzed.new_key(credits=1_000_000, removebg_rate_limit="100000000/minute")
    url = f"{fuzzed.url}/v1.0/removebg"
    charged: list[int] = []
    statuses: dict[int, int] = {}

    with httpx.Client(timeout=60) as client:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(asked=requests(origin))
        def call(asked: dict[str, Any]) -> None:
            answer = send(client, url, key, asked)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert answer.status_code < 500, (asked, answer.status_code, answer.text[:300])
            if answer.status_code >= 400:
                (error,) = answer.json()["errors"]
                assert set(error) == {"title", "code", "detail"} and error["detail"]
                assert answer.headers.get("X-Credits-Charged", "0") == "0"
            else:
                charged.append(to_milli(answer.headers["X-Credits-Charged"]))

        call()
    print(f"statuses: {sorted(statuses.items())}")
    balance = httpx.get(f"{fuzzed.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    total = balance.json()["data"]["attributes"]["credits"]["total"]
    assert to_milli(str(total)) == to_milli(1_000_000) - sum(charged)
    assert_ledger_explains_every_balance(fuzzed)
    assert statuses.get(200, 0) > 0  # the strategy reaches the happy path too


def test_no_improve_submission_makes_a_server_error(fuzzed: LiveServer, origin: str) -> None:
    """The same fields, values and body kinds sent to ``POST /v1.0/improve``: every answer is
    a 200 with an id or a remove.bg-shaped 4xx; nothing is charged."""
    key = fuzzed.new_key(credits=5)
    url = f"{fuzzed.url}/v1.0/improve"
    statuses: dict[int, int] = {}

    with httpx.Client(timeout=60) as client:

        @settings(
            max_examples=max(50, EXAMPLES // 4),
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(asked=requests(origin))
        def call(asked: dict[str, Any]) -> None:
            answer = send(client, url, key, asked)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert answer.status_code < 500, (asked, answer.status_code, answer.text[:300])
            if answer.status_code >= 400:
                (error,) = answer.json()["errors"]
                assert set(error) == {"title", "code", "detail"} and error["detail"]
            else:
                assert answer.json()["id"]

        call()
    print(f"statuses: {sorted(statuses.items())}")
    balance = httpx.get(f"{fuzzed.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    assert balance.json()["data"]["attributes"]["credits"]["total"] == 5
    assert statuses.get(200, 0) > 0
