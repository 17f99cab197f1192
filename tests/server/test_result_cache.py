"""The result cache: the same photo again skips inference, is still charged, never goes stale."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from PIL import Image

from alphamatte.config import Settings
from alphamatte.server.result_cache import MemoryResultCache, RedisResultCache, result_key
from tests.conftest import gradient_rgb, image_bytes
from tests.server.live import LiveServer, free_port, running

PHOTO = base64.b64encode(image_bytes(Image.fromarray(gradient_rgb(300, 200)), "PNG")).decode()


def post(live: LiveServer, key: str, path: str = "/v1.0/alpha-channel-base64") -> httpx.Response:
    return httpx.post(
        f"{live.url}{path}", headers={"X-API-Key": key}, json={"image_base64": PHOTO}, timeout=30
    )


def test_a_repeat_is_served_from_the_cache_and_still_charged(live: LiveServer) -> None:
    key = live.new_key(credits=5)
    calls_before = len(live.state.matter.session.calls)  # type: ignore[union-attr]
    first, second = post(live, key), post(live, key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["X-Result-Cache"] == "hit"
    assert second.headers["X-Credits-Charged"] == "1"
    assert len(live.state.matter.session.calls) == calls_before + 1  # type: ignore[union-attr]
    credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}).json()
    assert credit["credit"] == 3
    cutout = post(live, key, "/v1.0/image-without-background-base64")
    assert cutout.headers["X-Result-Cache"] == "miss"  # another product, another entry


def test_no_credit_means_no_cached_result_either(live: LiveServer) -> None:
    post(live, live.new_key(credits=1))
    broke = live.new_key(credits=0)
    response = post(live, broke)
    assert response.status_code == 402


def test_cache_can_be_turned_off(tmp_path: Path) -> None:
    with running(Settings(home=tmp_path, result_cache_mb=0)) as live:
        key = live.new_key(credits=3)
        post(live, key)
        assert post(live, key).headers["X-Result-Cache"] == "miss"


def test_memory_cache_evicts_the_least_recently_used_within_its_budget() -> None:
    cache = MemoryResultCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"9999")
    assert cache.get("b") is None and cache.get("a") == b"1234" and cache.get("c") == b"9999"
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


def test_settings_that_change_the_output_change_the_key(tmp_path: Path) -> None:
    base = Settings(home=tmp_path)
    keys = {
        result_key(base, "alpha", "d1"),
        result_key(base, "cutout", "d1"),
        result_key(Settings(home=tmp_path, quality="best"), "alpha", "d1"),
        result_key(Settings(home=tmp_path, max_side=512), "alpha", "d1"),
        result_key(base, "alpha", "d2"),
    }
    assert len(keys) == 5


def test_an_unreachable_redis_disables_the_cache_instead_of_failing() -> None:
    cache = RedisResultCache(f"redis://127.0.0.1:{free_port()}/0", 60, 1000)
    assert cache.get("k") is None
    cache.put("k", b"v")  # no exception
