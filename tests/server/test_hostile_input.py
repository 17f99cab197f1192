"""Hostile and sloppy requests on both dialects, against a real server on loopback: each gets a
4xx in its dialect, nothing is charged for it, and no client is left hanging."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.server.accounting.amounts import from_milli
from tests.conftest import image_bytes
from tests.server.live import LiveServer, running
from tests.server.origin import Origin, fetching_server, origin_fixture
from tests.server.test_credit_ledger import assert_ledger_explains_every_balance
from tests.server.test_removebg import PHOTO, error_code

REMOVEBG = "/v1.0/removebg"


class Redirects(Origin):
    """An allow-listed host whose answers point at malformed URLs."""

    def get(self) -> None:
        if self.path == "/photo.png":
            self.send_body(PHOTO)
            return
        targets = {
            "/bad-ipv6": "http://[::1/x.png",
            "/big-port": "http://127.0.0.1:99999/x.png",
            "/two-ports": "http://127.0.0.1:80:90/x.png",
            "/creds": "http://user:pass@127.0.0.1/photo.png",
        }
        self.redirect(targets.get(self.path, "/photo.png"))


origin = origin_fixture(Redirects)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("hostile")
    with fetching_server(home, max_pixels=8_000_000, auth_failure_limit="10000/minute") as live:
        yield live


def removebg(
    live: LiveServer, key: str, data: dict | None = None, files: dict | None = None, **kw: object
) -> httpx.Response:
    return httpx.post(
        f"{live.url}{REMOVEBG}",
        headers={"X-API-Key": key, **kw.pop("headers", {})},  # type: ignore[dict-item]
        data=data,
        files=files,
        timeout=60,
        **kw,  # type: ignore[arg-type]
    )


def balance(live: LiveServer, key: str) -> float:
    found = httpx.get(f"{live.url}/v1.0/account", headers={"X-API-Key": key}, timeout=30)
    return float(found.json()["data"]["attributes"]["credits"]["total"])


def png(width: int, height: int) -> bytes:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = 255
    return image_bytes(Image.fromarray(rgb), "PNG")


# 1. A client that stops uploading once it has an answer is not left waiting.


def _early_answer(url: str, path: str, key: str, declared: int) -> tuple[int, bytes, float]:
    """Send headers declaring ``declared`` bytes and only the first 64 KB of them; return the
    status, the response bytes, and how long the server took to close after answering."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
            f"Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"--xx\r\n" + b"a" * 65_536)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65_536)
        answered = time.monotonic()
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65_536):
                received += chunk
        except TimeoutError:
            return int(received.split()[1]), received, float("inf")
        return int(received.split()[1]), received, time.monotonic() - answered


@pytest.mark.parametrize("path", [REMOVEBG, "/v1.0/alpha-channel"])
def test_an_early_refusal_closes_the_connection_of_a_client_that_stopped_uploading(
    server: LiveServer, path: str
) -> None:
    status, raw, closed_after = _early_answer(server.url, path, "am_wrong_key", 8_000_000)
    assert status in (401, 403)
    assert b"connection: close" in raw.lower()
    assert closed_after < 1.0


def test_a_rate_limited_upload_is_answered_and_closed_early(server: LiveServer) -> None:
    key = server.new_key(credits=5, removebg_rate_limit="1/minute")
    assert removebg(server, key, files={"image_file": ("p.png", PHOTO)}).status_code == 200
    status, raw, closed_after = _early_answer(server.url, REMOVEBG, key, 8_000_000)
    assert status == 429 and b"retry-after" in raw.lower()
    assert closed_after < 1.0


def test_an_error_after_the_whole_body_keeps_the_connection(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            f"{server.url}{REMOVEBG}", headers={"X-API-Key": key}, data={"size": "huge"}
        )
        assert answer.status_code == 400 and error_code(answer) == "missing_source"
        assert answer.headers.get("connection", "").lower() != "close"


# 2. What used to be 500s.


def test_deeply_nested_json_is_a_400_in_both_dialects(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    nested = b"[" * 100_000 + b"]" * 100_000
    for path, body in ((REMOVEBG, nested), ("/v1.0/alpha-channel-base64", nested)):
        answer = httpx.post(
            f"{server.url}{path}",
            headers={"X-API-Key": key, "Content-Type": "application/json"},
            content=body,
            timeout=30,
        )
        assert answer.status_code == 400, (path, answer.text)
    deep_field = json.dumps({"image_file_b64": "x", "size": {"a": [[[]]]}}).encode()
    answer = httpx.post(
        f"{server.url}{REMOVEBG}",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        content=deep_field,
        timeout=30,
    )
    assert answer.status_code == 400 and error_code(answer) == "invalid_request"
    assert balance(server, key) == 1


def test_a_roi_smaller_than_a_pixel_still_covers_one(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    answer = removebg(server, key, {"roi": "1.5 1.5 2.4 2.4"}, {"image_file": ("p.png", PHOTO)})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("size", "fields"),
    [
        ((17_000, 300), {"format": "webp"}),
        ((70_000, 2), {"format": "jpg"}),
        ((70_000, 2), {"format": "zip"}),
        ((70_000, 2), {"format": "jpg", "channels": "alpha"}),
    ],
)
def test_a_result_no_encoder_can_write_is_refused_before_the_model_runs(
    server: LiveServer, size: tuple[int, int], fields: dict[str, str]
) -> None:
    key = server.new_key(credits=1)
    calls = len(server.state.matter.session.calls)  # type: ignore[union-attr]
    answer = removebg(server, key, fields, {"image_file": ("wide.png", png(*size))})
    assert answer.status_code == 400 and error_code(answer) == "output_too_large", answer.text
    assert len(server.state.matter.session.calls) == calls  # type: ignore[union-attr]
    assert balance(server, key) == 1


def test_auto_writes_png_when_jpeg_cannot_hold_an_opaque_result(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    answer = removebg(
        server, key, {"bg_color": "336699"}, {"image_file": ("w.png", png(70_000, 2))}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(answer.content)).size == (70_000, 2)


def test_a_crop_too_wide_for_webp_is_refused_and_refunded(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    fields = {"format": "webp", "crop": "true"}
    white = image_bytes(Image.new("RGB", (17_000, 300), (255, 255, 255)), "PNG")  # all subject
    answer = removebg(server, key, fields, {"image_file": ("w.png", white)})
    assert answer.status_code == 400 and error_code(answer) == "output_too_large"
    assert balance(server, key) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/x.png",
        "http://127.0.0.1:99999/x.png",
        "http://127.0.0.1:80:90/x.png",
        "http://127.0.0.1/a\x01b.png",
        "http://user:pass@127.0.0.1/photo.png",
        "http://user@127.0.0.1/photo.png",
    ],
)
def test_malformed_or_credentialed_urls_are_a_400(server: LiveServer, url: str) -> None:
    key = server.new_key(credits=1)
    for field in ("image_url", "bg_image_url"):
        data = {field: url}
        files = {"image_file": ("p.png", PHOTO)} if field == "bg_image_url" else None
        answer = removebg(server, key, data, files)
        assert answer.status_code == 400, (field, url, answer.text)
        assert error_code(answer) in ("invalid_image_url", "url_fetch_failed")
    assert balance(server, key) == 1


@pytest.mark.parametrize("hop", ["/bad-ipv6", "/big-port", "/two-ports", "/creds"])
def test_an_allowed_host_cannot_redirect_into_a_500(
    server: LiveServer, origin: str, hop: str
) -> None:
    key = server.new_key(credits=1)
    answer = removebg(server, key, {"image_url": f"{origin}{hop}"})
    assert answer.status_code == 400, answer.text
    assert balance(server, key) == 1


# 3. Memory: a background image is admitted with the photo.


def test_a_background_image_counts_against_the_memory_budget(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    side = 2_000  # 4 MP: the photo alone needs ~120 MB, its background ~72 MB more
    photo = png(side, side)
    backdrop = image_bytes(Image.new("RGB", (side, side), (20, 90, 200)), "PNG")
    settings = Settings(home=tmp_path_factory.mktemp("budget"), memory_budget_mb=150)
    with running(settings) as live:
        key = live.new_key(credits=2)
        alone = removebg(live, key, {"size": "full"}, {"image_file": ("p.png", photo)})
        assert alone.status_code == 200, alone.text
        files = {"image_file": ("p.png", photo), "bg_image_file": ("b.png", backdrop)}
        both = removebg(live, key, {"size": "full"}, files)
        assert both.status_code == 400 and error_code(both) == "resolution_too_high"
        assert balance(live, key) == 1


# 4. Truncated data is refused and not charged.


def test_a_jpeg_declaring_far_more_pixels_than_it_holds_is_refused(server: LiveServer) -> None:
    small = bytearray(image_bytes(Image.new("RGB", (16, 16), (200, 10, 10)), "JPEG"))
    sof = small.index(b"\xff\xc0")
    small[sof + 5 : sof + 9] = (2000).to_bytes(2, "big") * 2  # height, width: 2000 x 2000
    key = server.new_key(credits=1)
    answer = removebg(server, key, files={"image_file": ("p.jpg", bytes(small))})
    assert answer.status_code == 400 and error_code(answer) == "invalid_image", answer.text
    withoutbg = httpx.post(
        f"{server.url}/v1.0/alpha-channel",
        headers={"X-API-Key": key},
        files={"file": ("p.jpg", bytes(small))},
        timeout=30,
    )
    assert withoutbg.status_code == 422
    assert balance(server, key) == 1


# 6. Failed authentications lock out the key tried, not the address.


def test_guessing_keys_does_not_lock_out_the_good_ones(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(home=tmp_path_factory.mktemp("guess"), auth_failure_limit="5/minute")
    files = {"image_file": ("p.png", PHOTO)}
    with running(settings) as live:
        good = live.new_key(credits=1)
        for _ in range(6):
            answer = removebg(live, "am_guessedXXXXXXXX", files=files)
        assert answer.status_code == 429 and error_code(answer) == "rate_limit_exceeded"
        # Other keys guessed from the same address: refused with 429 too.
        assert removebg(live, "am_another_guess", files=files).status_code == 429
        # The same address with a good key: served.
        assert removebg(live, good, files=files).status_code == 200
        # A forged X-Forwarded-For from loopback is not believed by default.
        forged = removebg(
            live, "am_guessedXXXXXXXX", files=files, headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert forged.status_code == 429


# 8. What remove.bg's clients send.


@pytest.mark.parametrize("kind", ["other", "graphics", "car_interior", "car_part", "graphic"])
def test_every_type_remove_bg_clients_send_is_accepted(server: LiveServer, kind: str) -> None:
    key = server.new_key(credits=1)
    answer = removebg(server, key, {"type": kind}, {"image_file": ("p.png", PHOTO)})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(PHOTO).decode().rstrip("="),
        base64.urlsafe_b64encode(PHOTO).decode(),
        "data:image/png;base64," + base64.b64encode(PHOTO).decode(),
    ],
)
def test_image_file_b64_reads_what_the_withoutbg_side_reads(
    server: LiveServer, encoded: str
) -> None:
    key = server.new_key(credits=1)
    answer = httpx.post(
        f"{server.url}{REMOVEBG}",
        headers={"X-API-Key": key},
        json={"image_file_b64": encoded},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def test_two_image_files_are_refused_rather_than_the_last_winning(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    files = [("image_file", ("a.png", PHOTO)), ("image_file", ("b.png", png(40, 40)))]
    answer = removebg(server, key, files=files)  # type: ignore[arg-type]
    assert answer.status_code == 400 and error_code(answer) == "multiple_sources"
    assert balance(server, key) == 1


def test_error_titles_follow_their_codes(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    answer = removebg(server, key, {"size": "huge"}, {"image_file": ("p.png", PHOTO)})
    (error,) = answer.json()["errors"]
    assert (error["code"], error["title"]) == ("invalid_size", "Invalid size")


def test_a_trailing_slash_is_served_not_redirected(server: LiveServer) -> None:
    key = server.new_key(credits=1)
    answer = httpx.post(
        f"{server.url}{REMOVEBG}/",
        headers={"X-API-Key": key},
        files={"image_file": ("p.png", PHOTO)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    refused = httpx.post(f"{server.url}{REMOVEBG}/", headers={"X-API-Key": "x"}, timeout=30)
    assert refused.status_code == 403 and error_code(refused) == "auth_failed"


# remove.bg's rate limit: megapixels, not requests.


def test_a_default_key_gets_60_previews_a_minute_counted_in_megapixels(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(home=tmp_path_factory.mktemp("mp"))
    with running(settings) as live:
        key = live.new_key(credits=100, rate_limit=None)  # the default: 7 requests a minute
        seen = []
        with httpx.Client(timeout=30) as client:
            for _ in range(60):
                answer = client.post(
                    f"{live.url}{REMOVEBG}",
                    headers={"X-API-Key": key},
                    data={"size": "preview"},
                    files={"image_file": ("p.png", PHOTO)},
                )
                assert answer.status_code == 200, answer.text
                seen.append(int(answer.headers["X-RateLimit-Remaining"]))
            assert answer.headers["X-RateLimit-Limit"] == "500"
            assert seen == list(range(499, 439, -1))  # one unit per image of up to 1 MP
            big = client.post(
                f"{live.url}{REMOVEBG}",
                headers={"X-API-Key": key},
                files={"image_file": ("big.png", png(1_500, 1_500))},  # 2.25 MP: 3 units
            )
            assert int(big.headers["X-RateLimit-Remaining"]) == 437
        assert_ledger_explains_every_balance(live)
        assert from_milli(60 * 250 + 1000) == 100 - balance(live, key)
