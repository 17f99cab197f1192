"""Several models behind one server: chosen per request (query, remove.bg field, key default),
refused in each dialect when unknown or not allowed, priced per model and written in the
ledger, loaded when first asked for and evicted least-recently-used within the budget."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.server.accounting import ledger
from alphamatte.server.accounting.keys import authenticate
from alphamatte.server.admission import MB
from tests.conftest import image_bytes
from tests.fakes import FakeSession
from tests.server.live import LiveServer, running


class InvertedSession(FakeSession):
    """The fake model's opposite: what it calls foreground, this calls background."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        return 1.0 - super().run(batch)


def two_models(settings: Settings, model: str) -> Matter:
    session = InvertedSession() if model == "dark" else FakeSession()
    spec = replace(ISNET, name=model, filename=f"{model}.onnx")
    return Matter(session, spec, MattingConfig(max_side=256))  # type: ignore[arg-type]


# A white square on black: the "bright" model keeps it, the "dark" model keeps the rest.
PHOTO = np.zeros((64, 96, 3), np.uint8)
PHOTO[16:48, 32:64] = 255
PNG = image_bytes(Image.fromarray(PHOTO), "PNG")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        home=tmp_path_factory.mktemp("models"),
        models="bright,dark",
        model_prices="dark=2.5",
        rate_limit="1000/minute",
    )
    with running(settings, two_models) as live:
        yield live


def matte(live: LiveServer, key: str, query: str = "") -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1.0/alpha-channel{query}",
        files={"file": ("p.png", PNG, "image/png")},
        headers={"X-API-Key": key},
        timeout=30,
    )


def centre(response: httpx.Response) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(response.content)))
    return int(pixels[32, 48])


def test_each_request_gets_the_model_it_asked_for_at_its_price(server: LiveServer) -> None:
    key = server.new_key(credits=10)
    bright, dark = matte(server, key), matte(server, key, "?model=dark")
    assert bright.status_code == dark.status_code == 200
    assert bright.headers["X-Model"] == "bright" and dark.headers["X-Model"] == "dark"
    assert centre(bright) == 255 and centre(dark) == 0
    assert bright.headers["X-Credits-Charged"] == "1"
    assert dark.headers["X-Credits-Charged"] == "2.5"
    stored = authenticate(server.state.db, key)
    assert stored is not None and stored.credits == 10 - 1 - 2.5
    rows = ledger.entries(server.state.db, stored.id)
    assert [(r.model, r.credits) for r in rows if r.kind == "charge"] == [
        ("bright", -1),
        ("dark", -2.5),
    ]


def test_an_unknown_model_is_a_400_in_each_dialect_and_costs_nothing(server: LiveServer) -> None:
    key = server.new_key(credits=5)
    withoutbg = matte(server, key, "?model=birefnet-nope")
    assert withoutbg.status_code == 400
    assert "birefnet-nope" in withoutbg.json()["detail"]
    removebg = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("p.png", PNG, "image/png")},
        data={"model": "birefnet-nope"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert removebg.status_code == 400
    assert removebg.json()["errors"][0]["code"] == "invalid_model"
    stored = authenticate(server.state.db, key)
    assert stored is not None and stored.credits == 5


def test_remove_bg_takes_the_model_as_a_field(server: LiveServer) -> None:
    key = server.new_key(credits=5)
    response = httpx.post(
        f"{server.url}/v1.0/removebg",
        files={"image_file": ("p.png", PNG, "image/png")},
        data={"model": "dark", "size": "preview", "channels": "alpha", "format": "png"},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Model"] == "dark"
    assert response.headers["X-Credits-Charged"] == "0.625"  # a preview's quarter of 2.5


def test_a_keys_default_and_allow_list(server: LiveServer) -> None:
    fixed = server.new_key(default_model="dark", allowed_models=("dark",))
    answered = matte(server, fixed)
    assert answered.status_code == 200 and answered.headers["X-Model"] == "dark"
    refused = matte(server, fixed, "?model=bright")
    assert refused.status_code == 403
    assert "may not use" in refused.json()["detail"]


def test_admin_sets_a_keys_models_and_refuses_unserved_ones(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, models="bright,dark", admin_token="t" * 32)
    with running(settings, two_models) as live:
        admin = {"Authorization": f"Bearer {'t' * 32}"}
        created = httpx.post(f"{live.url}/admin/keys", json={"credits": 3}, headers=admin)
        key_id = created.json()["id"]
        bad = httpx.put(
            f"{live.url}/admin/keys/{key_id}/models",
            json={"default_model": "u2net"},
            headers=admin,
        )
        assert bad.status_code == 422
        good = httpx.put(
            f"{live.url}/admin/keys/{key_id}/models",
            json={"default_model": "dark", "allowed_models": ["dark", "bright"]},
            headers=admin,
        )
        assert good.status_code == 200, good.text
        assert good.json()["default_model"] == "dark"
        answered = matte(live, created.json()["key"])
        assert answered.headers["X-Model"] == "dark"


def _weights(settings: Settings, sizes: dict[str, int]) -> None:
    """Weights files of the given sizes: a model is estimated at 2 x its file + its 256² arena
    (6.5 MB)."""
    settings.models_dir.mkdir(parents=True)
    for name, size in sizes.items():
        with (settings.models_dir / f"{name}.onnx").open("wb") as weights:
            weights.truncate(size)


def test_a_tight_budget_evicts_the_least_recently_used_idle_model(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, models="bright,dark,grey", memory_budget_mb=100, result_cache_mb=0
    )
    # bright (8.5 MB) and one of dark or grey (60.5 MB each) fit; all three do not.
    _weights(settings, {"bright": 1 * MB, "dark": 27 * MB, "grey": 27 * MB})
    with running(settings, two_models) as live:
        pool = live.state.models
        assert pool is not None
        key = live.new_key(credits=20)
        for name in ("dark", "grey", "bright", "dark", "grey"):
            response = matte(live, key, f"?model={name}")
            assert response.status_code == 200 and response.headers["X-Model"] == name
            assert centre(response) == (0 if name == "dark" else 255)
        # Least recently used first: grey's room took bright (not enough alone), then dark.
        assert pool.loaded() == ["grey"]
        assert pool.loads == 6  # the default at start, then one load per request here
        assert live.state.memory.in_use <= 100 * MB


class SlowSession(FakeSession):
    def run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return super().run(batch)


def slow_models(settings: Settings, model: str) -> Matter:
    time.sleep(0.1)
    spec = replace(ISNET, name=model, filename=f"{model}.onnx")
    return Matter(SlowSession(), spec, MattingConfig(max_side=256))  # type: ignore[arg-type]


def test_models_that_do_not_fit_together_take_turns_and_none_starves(tmp_path: Path) -> None:
    """Four clients alternating two models that the budget holds one at a time. Before, the
    busy model kept its room and the other got 503 (19 of 20 for the default); now a busy model
    is drained and unloaded for the other, and back: every request is served."""
    settings = Settings(
        home=tmp_path,
        models="bright,dark",
        memory_budget_mb=100,
        result_cache_mb=0,
        memory_wait_s=30,
        rate_limit="100000/minute",
    )
    _weights(settings, {"bright": 27 * MB, "dark": 27 * MB})
    with running(settings, slow_models) as live:
        key = live.new_key(credits=100)

        def client(index: int) -> list[tuple[str, int]]:
            seen = []
            with httpx.Client(timeout=60) as http:
                for step in range(6):
                    name = ("bright", "dark")[(index + step) % 2]
                    answer = http.post(
                        f"{live.url}/v1.0/alpha-channel?model={name}",
                        files={"file": ("p.png", PNG, "image/png")},
                        headers={"X-API-Key": key},
                    )
                    seen.append((name, answer.status_code))
            return seen

        with ThreadPoolExecutor(4) as clients:
            seen = [pair for each in clients.map(client, range(4)) for pair in each]
        assert seen.count(("bright", 200)) == 12 and seen.count(("dark", 200)) == 12, seen
        pool = live.state.models
        assert pool is not None and pool.loads >= 3  # they took turns
        assert live.state.memory.in_use <= 100 * MB


def test_a_model_larger_than_the_budget_is_refused_at_once(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        models="bright,dark",
        memory_budget_mb=100,
        result_cache_mb=0,
        memory_wait_s=20,
    )
    _weights(settings, {"bright": 1 * MB, "dark": 60 * MB})
    with running(settings, two_models) as live:
        key = live.new_key(credits=20)
        started = time.monotonic()
        refused = matte(live, key, "?model=dark")
        assert refused.status_code == 503 and "retry-after" in refused.headers
        assert time.monotonic() - started < 10  # not after the 20 s memory wait
        assert matte(live, key).status_code == 200
        assert live.state.models is not None and live.state.models.loaded() == ["bright"]


def test_the_model_list_names_each_model_with_its_price(server: LiveServer) -> None:
    listed = httpx.get(f"{server.url}/v1.0/models").json()["models"]
    assert [(m["name"], m["default"], m["credits"]) for m in listed] == [
        ("bright", True, 1),
        ("dark", False, 2.5),
    ]


def test_the_sdk_asks_for_a_model(server: LiveServer) -> None:
    from alphamatte.client import Client

    key = server.new_key(credits=10)
    photo = Image.fromarray(PHOTO)
    with Client(api_key=key, base_url=server.url, model="dark") as client:
        dark = np.asarray(client.alpha_matte(photo))
        bright = np.asarray(client.matte(photo, model="bright").matte_image())
    assert dark[32, 48] < 50 and bright[32, 48] > 200
