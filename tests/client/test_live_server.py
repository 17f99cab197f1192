"""The SDK against a real server on loopback: credits, errors and the workflow over HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InsufficientCreditError,
    RateLimitError,
)
from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from tests.conftest import gradient_rgb
from tests.fakes import FakeSession
from tests.server.live import LiveServer, running


def test_alpha_matte_and_cutout_cost_one_credit_each(live: LiveServer) -> None:
    key = live.new_key(credits=5)
    with Client(key, live.url) as client:
        matte = client.alpha_matte(gradient_rgb(1600, 1200))
        cut = client.cutout(gradient_rgb(1600, 1200))
        left = client.available_credit()
    assert matte.size == (1600, 1200) and matte.mode == "L"
    values = np.asarray(matte)
    assert values[600, 800] > 240 and values[20, 20] < 15
    assert cut.size == (1600, 1200) and cut.mode == "RGBA"
    assert left.credit == 3


def test_unknown_key_and_empty_balance_raise_typed_errors(live: LiveServer) -> None:
    with Client("am_not_a_real_key", live.url) as client, pytest.raises(AuthenticationError):
        client.alpha_matte(gradient_rgb(64, 64))
    client = Client(live.new_key(credits=0), live.url)
    with client, pytest.raises(InsufficientCreditError) as caught:
        client.alpha_matte(gradient_rgb(64, 64))
    assert caught.value.status == 402 and "credit" in caught.value.detail.lower()


def test_rate_limit_is_waited_out_by_default_and_raised_without_retries(
    live: LiveServer,
) -> None:
    key = live.new_key(credits=10, rate_limit="2/second")
    with Client(key, live.url, retries=0) as client:
        client.alpha_matte(gradient_rgb(64, 64))
        client.alpha_matte(gradient_rgb(64, 64))
        with pytest.raises(RateLimitError) as caught:
            client.alpha_matte(gradient_rgb(64, 64))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    with Client(key, live.url) as client:
        for _ in range(3):  # waits on 429 instead of failing
            client.alpha_matte(gradient_rgb(64, 64))
        assert client.available_credit().credit == 5


async def test_async_client_over_http(live: LiveServer) -> None:
    async with AsyncClient(live.new_key(credits=2), live.url) as client:
        matte = await client.alpha_matte(gradient_rgb(900, 700))
        assert (await client.available_credit()).credit == 1
    assert matte.size == (900, 700)


class LosesFirstAnswer(httpx.HTTPTransport):
    """The server gets and answers the first request, but the answer never reaches us."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = super().handle_request(request)
        if len(self.sent) == 1:
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer")
        return response


def test_a_retry_after_a_lost_answer_is_charged_once(live: LiveServer) -> None:
    key = live.new_key(credits=5)
    transport = LosesFirstAnswer()
    with Client(key, live.url, transport=transport) as client:
        matte = client.alpha_matte(gradient_rgb(300, 200))
        left = client.available_credit().credit
    assert matte.size == (300, 200)
    uploads = [r for r in transport.sent if r.url.path.startswith("/v1.0/")]
    assert len(uploads) == 2  # the lost one and its retry
    assert uploads[0].headers["Idempotency-Key"] == uploads[1].headers["Idempotency-Key"]
    assert left == 4  # answered twice (the second from the stored response), charged once


def test_sdk_refinement_after_a_proxy_matches_the_server_on_the_full_photo(
    tmp_path: Path,
) -> None:
    """The SDK sends a 1024 px proxy and upscales the matte itself; a full-size upload is
    upscaled by the server. Both must be the same policy, so the same matte."""

    def full_side_matter(_: Settings, __: str) -> Matter:
        return Matter(FakeSession(), ISNET, MattingConfig(max_side=1024))  # type: ignore[arg-type]

    rgb = gradient_rgb(2400, 1600)
    rgb[500:1100, 700:1500] = (250, 240, 230)  # a bright subject with hard edges
    with running(Settings(home=tmp_path), full_side_matter) as live:
        key = live.new_key(credits=5)
        with Client(key, live.url, proxy_format="png") as client:
            via_sdk = np.asarray(client.alpha_matte(rgb), dtype=np.float32)
        upload = io.BytesIO()
        Image.fromarray(rgb).save(upload, "PNG")
        answer = httpx.post(
            f"{live.url}/v1.0/alpha-channel",
            headers={"X-API-Key": key},
            files={"file": ("photo.png", upload.getvalue(), "image/png")},
            timeout=60,
        )
    assert answer.status_code == 200
    on_server = np.asarray(Image.open(io.BytesIO(answer.content)), dtype=np.float32)
    assert via_sdk.shape == on_server.shape == (1600, 2400)
    difference = np.abs(via_sdk - on_server)
    # Only the 8-bit matte on the wire separates them.
    assert difference.mean() < 0.1 and difference.max() <= 3
