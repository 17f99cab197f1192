"""Idempotency-Key, the reaper, the admin API and the failed-auth throttle (both backends)."""

from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

from alphamatte.config import Settings
from alphamatte.server.accounting.credits import charged_total, reserve
from alphamatte.server.accounting.keys import authenticate
from alphamatte.server.app import reap
from alphamatte.server.storage.schema import idempotency, usage
from tests.conftest import gradient_rgb, image_bytes
from tests.server.live import LiveServer, running

PHOTO = base64.b64encode(image_bytes(Image.fromarray(gradient_rgb(120, 90)), "PNG")).decode()
OTHER = base64.b64encode(image_bytes(Image.fromarray(gradient_rgb(90, 120)), "PNG")).decode()


def matte(live: LiveServer, key: str, body: str = PHOTO, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1.0/alpha-channel-base64",
        headers={"X-API-Key": key, **headers},
        json={"image_base64": body},
        timeout=30,
    )


def balance(live: LiveServer, key: str) -> int:
    response = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key})
    return int(response.json()["credit"])


def test_same_idempotency_key_and_body_is_answered_once_and_charged_once(
    live: LiveServer,
) -> None:
    key = live.new_key(credits=5)
    first = matte(live, key, **{"Idempotency-Key": "order-1"})
    again = matte(live, key, **{"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Credits-Charged"] == "0"
    assert balance(live, key) == 4
    other_key = matte(live, key, **{"Idempotency-Key": "order-2"})
    assert other_key.status_code == 200 and balance(live, key) == 3


def test_same_idempotency_key_with_another_body_is_refused(live: LiveServer) -> None:
    key = live.new_key(credits=5)
    assert matte(live, key, **{"Idempotency-Key": "k"}).status_code == 200
    clash = matte(live, key, OTHER, **{"Idempotency-Key": "k"})
    assert clash.status_code == 422 and "Idempotency-Key" in clash.json()["detail"]
    assert balance(live, key) == 4


def test_concurrent_repeats_of_one_key_are_charged_once(live: LiveServer) -> None:
    key = live.new_key(credits=10)
    results: list[httpx.Response] = []

    def send() -> None:
        results.append(matte(live, key, **{"Idempotency-Key": "burst"}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.status_code for r in results} <= {200, 409}
    assert any(r.status_code == 200 for r in results)
    assert balance(live, key) == 9


def test_a_failed_request_frees_its_idempotency_key(live: LiveServer) -> None:
    key = live.new_key(credits=0)
    assert matte(live, key, **{"Idempotency-Key": "retry-me"}).status_code == 402
    with live.state.db.connect() as conn:
        pending = conn.execute(
            select(idempotency).where(idempotency.c.idem_key == "retry-me")
        ).fetchall()
    assert pending == []


def test_bad_idempotency_keys_are_400(live: LiveServer) -> None:
    key = live.new_key(credits=1)
    assert matte(live, key, **{"Idempotency-Key": "x" * 201}).status_code == 400


def test_reaper_refunds_reservations_of_dead_requests(live: LiveServer) -> None:
    key = live.new_key(credits=3)
    found = authenticate(live.state.db, key)
    assert found is not None
    key_id = found.id
    # A request that reserved its credit and then lost its process, 20 minutes ago:
    reserve(live.state.db, key_id, "dead-request", "/v1.0/alpha-channel")
    with live.state.db.begin() as conn:
        conn.execute(
            update(usage)
            .where(usage.c.request_id == "dead-request")
            .values(created_at=datetime.now() - timedelta(minutes=20))
        )
    assert balance(live, key) == 2
    reap(live.state)
    assert balance(live, key) == 3
    assert charged_total(live.state.db, key_id) == 0


ADMIN = {"Authorization": "Bearer s3cret-admin-token"}


@pytest.fixture(scope="module")
def admin_live(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    settings = Settings(home=tmp_path_factory.mktemp("admin"), admin_token="s3cret-admin-token")
    with running(settings) as server:
        yield server  # type: ignore[misc]


def test_admin_api_creates_tops_up_and_revokes_keys(admin_live: LiveServer) -> None:
    url = admin_live.url
    created = httpx.post(
        f"{url}/admin/keys", headers=ADMIN, json={"name": "shop", "credits": 2}
    ).json()
    raw = created["key"]
    assert raw.startswith("am_") and created["credits"] == 2
    assert balance(admin_live, raw) == 2
    topped = httpx.post(
        f"{url}/admin/keys/{created['id']}/topup", headers=ADMIN, json={"credits": 5}
    )
    assert topped.json()["credits"] == 7
    listed = httpx.get(f"{url}/admin/keys", headers=ADMIN).json()
    assert any(k["id"] == created["id"] for k in listed)
    assert raw not in httpx.get(f"{url}/admin/keys", headers=ADMIN).text  # secrets never listed
    assert httpx.post(f"{url}/admin/keys/{created['id']}/revoke", headers=ADMIN).json()["revoked"]
    assert matte(admin_live, raw).status_code == 401
    assert (
        httpx.post(f"{url}/admin/keys/99999/topup", headers=ADMIN, json={"credits": 1}).status_code
        == 404
    )
    assert httpx.post(f"{url}/admin/keys", headers=ADMIN, json={"credits": -1}).status_code == 400


def test_admin_api_needs_the_token(admin_live: LiveServer) -> None:
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{admin_live.url}/admin/keys", headers=wrong).status_code == 401
    assert httpx.get(f"{admin_live.url}/admin/keys").status_code == 401


def test_admin_api_is_refused_without_a_configured_token(live: LiveServer) -> None:
    response = httpx.get(f"{live.url}/admin/keys", headers=ADMIN)
    assert response.status_code == 403 and "disabled" in response.json()["detail"]


def test_repeated_bad_keys_are_throttled_without_locking_out_good_ones(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, auth_failure_limit="5/minute")
    with running(settings) as live:
        good = live.new_key(credits=5)
        codes = [matte(live, f"am_guess_{i}").status_code for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        assert "Retry-After" in matte(live, "am_guess_x").headers
        # A good key from the same address is still served: a flood of bad keys from behind
        # a shared NAT or proxy must not lock out the good ones sent from there.
        assert matte(live, good).status_code == 200
        # The pair (address, key prefix) that failed is answered before any lookup.
        retried = [matte(live, "am_guess_0").status_code for _ in range(5)]
        assert retried[-1] == 429
