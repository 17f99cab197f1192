"""The withoutbg-compatible contract, through a real server and real HTTP."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from alphamatte.server.accounting.amounts import MILLI
from alphamatte.server.storage.schema import api_keys, usage
from tests.conftest import gradient_rgb, image_bytes
from tests.server.live import LiveServer

PNG = image_bytes(Image.fromarray(gradient_rgb(120, 80)), "PNG")
B64 = base64.b64encode(PNG).decode()


def post_json(
    live: LiveServer, key: str | None, payload: object, path: str = "alpha-channel-base64"
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{live.url}/v1.0/{path}", json=payload, headers=headers, timeout=60)


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_alpha_base64_returns_a_grayscale_png_of_the_input_size(live: LiveServer) -> None:
    key = live.new_key()
    response = post_json(live, key, {"image_base64": B64})
    assert response.status_code == 200, response.text
    matte = decode_png(base64.b64decode(response.json()["alpha_base64"]))
    assert matte.mode == "L" and matte.size == (120, 80)
    assert response.headers["X-Credits-Charged"] == "1"
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert header in response.headers


def test_multipart_alpha_and_cutouts(live: LiveServer) -> None:
    key = live.new_key()
    headers = {"X-API-Key": key}
    files = {"file": ("photo.png", PNG, "image/png")}
    alpha = httpx.post(f"{live.url}/v1.0/alpha-channel", files=files, headers=headers, timeout=60)
    assert alpha.status_code == 200 and alpha.headers["content-type"] == "image/png"
    assert decode_png(alpha.content).mode == "L"
    cut = httpx.post(
        f"{live.url}/v1.0/image-without-background", files=files, headers=headers, timeout=60
    )
    rgba = decode_png(cut.content)
    assert rgba.mode == "RGBA" and rgba.size == (120, 80)
    cut64 = post_json(live, key, {"image_base64": B64}, "image-without-background-base64")
    rgba64 = decode_png(base64.b64decode(cut64.json()["img_without_background_base64"]))
    assert rgba64.mode == "RGBA" and rgba64.size == (120, 80)
    credit = httpx.get(f"{live.url}/available-credit", headers=headers).json()
    assert credit == {"credit": 97, "expiration_date": None}


def test_data_url_prefix_and_legacy_field_name_are_accepted(live: LiveServer) -> None:
    key = live.new_key()
    assert post_json(live, key, {"image_base64": "data:image/png;base64," + B64}).status_code == 200
    assert post_json(live, key, {"image": B64}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "am_not_a_real_key"}, {"X-API-Key": ""}])
def test_missing_or_unknown_key_is_401(live: LiveServer, headers: dict[str, str]) -> None:
    response = httpx.post(
        f"{live.url}/v1.0/alpha-channel-base64", json={"image_base64": B64}, headers=headers
    )
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert httpx.get(f"{live.url}/available-credit", headers=headers).status_code == 401


def test_revoked_key_is_401(live: LiveServer) -> None:
    from alphamatte.server.accounting.keys import authenticate, revoke

    key = live.new_key()
    key_id = authenticate(live.state.db, key).id  # type: ignore[union-attr]
    revoke(live.state.db, key_id)
    assert post_json(live, key, {"image_base64": B64}).status_code == 401


def test_a_key_revoked_elsewhere_stops_spending_at_once(live: LiveServer) -> None:
    """The image endpoints trust a key that authenticated seconds ago; a revocation by another
    process (the CLI, another replica) must still stop it before its next credit is spent."""
    from alphamatte.server.accounting.keys import authenticate, revoke

    key = live.new_key(credits=5)
    assert post_json(live, key, {"image_base64": B64}).status_code == 200  # now trusted
    key_id = authenticate(live.state.db, key).id  # type: ignore[union-attr]
    ledger_rows = select(func.count()).where(usage.c.key_id == key_id)
    with live.state.db.connect() as conn:
        rows_before = conn.execute(ledger_rows).scalar_one()
    revoke(live.state.db, key_id)  # straight in the database, as another process would
    for path in ("alpha-channel-base64", "image-without-background-base64"):
        refused = post_json(live, key, {"image_base64": B64}, path)
        assert refused.status_code == 401, refused.text
        assert "API key" in refused.json()["detail"]
    with live.state.db.connect() as conn:
        balance = conn.execute(select(api_keys.c.credits).where(api_keys.c.id == key_id))
        assert balance.scalar_one() == 4 * MILLI  # stored in thousandths
        assert conn.execute(ledger_rows).scalar_one() == rows_before  # nothing reserved


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"{}", "application/json"),
        (b'{"image_base64": 12}', "application/json"),
        (b'{"image_base64": null}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
def test_bad_json_is_400(live: LiveServer, body: bytes, content_type: str) -> None:
    key = live.new_key()
    response = httpx.post(
        f"{live.url}/v1.0/alpha-channel-base64",
        content=body,
        headers={"X-API-Key": key, "Content-Type": content_type},
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_multipart_without_file_is_400(live: LiveServer) -> None:
    key = live.new_key()
    response = httpx.post(
        f"{live.url}/v1.0/alpha-channel",
        data={"other": "x"},
        files={"notfile": ("a.png", PNG)},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 400
    assert "file" in response.json()["detail"]


@pytest.mark.parametrize("value", ["!!!not base64!!!", "QUJD$", "A"])
def test_invalid_base64_is_422(live: LiveServer, value: str) -> None:
    response = post_json(live, live.new_key(), {"image_base64": value})
    assert response.status_code == 422
    assert "base64" in response.json()["detail"]


def test_unsupported_format_is_415(live: LiveServer) -> None:
    pdf = base64.b64encode(b"%PDF-1.4\n" + b"x" * 200).decode()
    response = post_json(live, live.new_key(), {"image_base64": pdf})
    assert response.status_code == 415


def test_corrupt_image_is_422_and_not_charged(live: LiveServer) -> None:
    key = live.new_key(credits=3)
    jpeg = image_bytes(Image.fromarray(gradient_rgb(300, 300)), "JPEG")
    response = post_json(live, key, {"image_base64": base64.b64encode(jpeg[:2000]).decode()})
    assert response.status_code == 422
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}).json()
    assert credit["credit"] == 3


def test_too_many_pixels_is_413(live: LiveServer) -> None:
    big = image_bytes(Image.new("L", (2500, 2000)), "PNG")  # 5 MP > the 4 MP test limit
    response = post_json(live, live.new_key(), {"image_base64": base64.b64encode(big).decode()})
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]


def test_decoded_image_over_10_mb_is_413(live: LiveServer) -> None:
    blob = base64.b64encode(b"\x89PNG" + b"\0" * (10 * 1024 * 1024 + 10)).decode()
    response = post_json(live, live.new_key(), {"image_base64": blob})
    assert response.status_code == 413


def test_declared_oversized_body_is_413_before_reading(live: LiveServer) -> None:
    import socket
    from urllib.parse import urlparse

    url = urlparse(live.url)
    head = (
        f"POST /v1.0/alpha-channel HTTP/1.1\r\nHost: {url.hostname}\r\n"
        f"X-API-Key: {live.new_key()}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {500 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"x" * 1000)  # then nothing: the server must not wait
        reply = sock.recv(65536).decode("latin-1")
    assert reply.startswith("HTTP/1.1 413")
    assert '"detail"' in reply


def test_streamed_oversized_body_is_cut_off_early(live: LiveServer) -> None:
    sent = 0
    chunk = b"A" * 65536

    def body():  # type: ignore[no-untyped-def]
        nonlocal sent
        for _ in range(100 * 1024 * 1024 // len(chunk)):  # 100 MB, no Content-Length
            sent += len(chunk)
            yield chunk

    try:
        response = httpx.post(
            f"{live.url}/v1.0/alpha-channel-base64",
            content=body(),
            headers={"X-API-Key": live.new_key(), "Content-Type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the socket while we are still writing: also a refusal
    # Stopped long before 100 MB: at the largest body the server accepts (30.9 MB, drained so
    # that a client reading after sending sees its 413), plus socket buffers.
    assert sent < 36 * 1024 * 1024


def test_no_credit_is_402_and_expired_is_403(live: LiveServer) -> None:
    broke = live.new_key(credits=0)
    response = post_json(live, broke, {"image_base64": B64})
    assert response.status_code == 402
    assert response.json()["detail"] == "Insufficient credit. Please top up API credits."
    expired = live.new_key(credits=5, expires_at=datetime.now() - timedelta(days=1))
    assert post_json(live, expired, {"image_base64": B64}).status_code == 403
    info = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": expired}).json()
    assert info["credit"] == 5 and info["expiration_date"] is not None


def test_eighth_request_in_a_minute_is_429_with_retry_after(live: LiveServer) -> None:
    key = live.new_key(rate_limit=None)  # the server default: 7/minute
    statuses = [post_json(live, key, {"image_base64": B64}).status_code for _ in range(7)]
    assert statuses == [200] * 7
    eighth = post_json(live, key, {"image_base64": B64})
    assert eighth.status_code == 429
    assert int(eighth.headers["Retry-After"]) >= 1
    assert eighth.headers["X-RateLimit-Remaining"] == "0"
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}).json()
    assert credit["credit"] == 93  # the refused request was not charged


def test_rate_limit_is_checked_before_the_body(live: LiveServer) -> None:
    key = live.new_key(rate_limit="1/minute")
    assert post_json(live, key, {"image_base64": B64}).status_code == 200
    assert post_json(live, key, {"image_base64": "%%%"}).status_code == 429


def test_fifty_concurrent_requests_on_ten_credits(live: LiveServer) -> None:
    import asyncio

    key = live.new_key(credits=10)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=120) as client:
            requests = [
                client.post(
                    f"{live.url}/v1.0/alpha-channel-base64",
                    json={"image_base64": B64},
                    headers={"X-API-Key": key},
                )
                for _ in range(50)
            ]
            return [r.status_code for r in await asyncio.gather(*requests)]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10
    assert statuses.count(402) == 40
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}).json()
    assert credit["credit"] == 0
    from alphamatte.server.accounting.credits import charged_total
    from alphamatte.server.accounting.keys import authenticate

    key_id = authenticate(live.state.db, key).id  # type: ignore[union-attr]
    assert charged_total(live.state.db, key_id) == 10  # the ledger agrees with the balance


def test_operational_endpoints(live: LiveServer) -> None:
    assert httpx.get(f"{live.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{live.url}/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    metrics = httpx.get(f"{live.url}/metrics").text
    assert "alphamatte_requests_total" in metrics
    spec = httpx.get(f"{live.url}/openapi.json").json()
    assert "/v1.0/alpha-channel-base64" in spec["paths"]
    assert httpx.get(f"{live.url}/docs").status_code == 200


def test_errors_never_echo_the_key(live: LiveServer) -> None:
    secret = "am_this_is_a_secret_value"
    response = post_json(live, secret, {"image_base64": B64})
    assert secret not in response.text


def test_matte_values_follow_the_subject(live: LiveServer) -> None:
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[16:48, 48:90] = 255
    payload = {"image_base64": base64.b64encode(image_bytes(Image.fromarray(rgb), "PNG")).decode()}
    response = post_json(live, live.new_key(), payload)
    matte = np.asarray(decode_png(base64.b64decode(response.json()["alpha_base64"])))
    assert matte[32, 70] > 200 and matte[32, 10] < 50
