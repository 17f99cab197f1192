"""The official withoutbg SDK works against us by changing only the base URL."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import gradient_rgb
from tests.server.live import LiveServer


def test_official_sdk_gets_a_cutout_of_the_right_size(live: LiveServer) -> None:
    withoutbg = pytest.importorskip("withoutbg")
    key = live.new_key(credits=5)
    client = withoutbg.WithoutBG.api(api_key=key, base_url=live.url)
    result = client.remove_background(Image.fromarray(gradient_rgb(300, 200)))
    assert result.size == (300, 200)
    assert result.mode == "RGBA"


def test_official_sdk_usage_call_matches_the_credit_shape(live: LiveServer) -> None:
    pytest.importorskip("withoutbg")
    from withoutbg.api import WithoutBGAPIClient

    key = live.new_key(credits=42)
    usage = WithoutBGAPIClient(api_key=key, base_url=live.url).get_usage()
    assert usage == {"credit": 42, "expiration_date": None}
