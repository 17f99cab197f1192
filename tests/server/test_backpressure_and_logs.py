"""Back-pressure (503, never charged), access logs, and the real model behind real HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.server import app as server_app
from tests.conftest import gradient_rgb, image_bytes
from tests.fakes import FakeSession
from tests.server.live import running

B64 = base64.b64encode(image_bytes(Image.fromarray(gradient_rgb(64, 48)), "PNG")).decode()


class SlowSession(FakeSession):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.gate.wait(timeout=10)
        return super().run(batch)


def test_full_queue_answers_503_with_retry_after_and_charges_nothing(tmp_path: Path) -> None:
    session = SlowSession()

    def slow(_: Settings, __: str) -> Matter:
        return Matter(session, ISNET, MattingConfig(max_side=64))  # type: ignore[arg-type]

    settings = Settings(home=tmp_path, queue_size=2)
    with running(settings, slow) as live:
        key = live.new_key(credits=20)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                calls = [
                    client.post(
                        f"{live.url}/v1.0/alpha-channel-base64",
                        json={"image_base64": B64},
                        headers={"X-API-Key": key},
                    )
                    for _ in range(6)
                ]
                tasks = [asyncio.ensure_future(c) for c in calls]
                await asyncio.sleep(1.0)
                session.gate.set()
                return list(await asyncio.gather(*tasks))

        responses = asyncio.run(burst())
        codes = [r.status_code for r in responses]
        busy = [r for r in responses if r.status_code == 503]
        assert busy, codes
        assert all(r.headers.get("Retry-After") for r in busy)
        assert set(codes) <= {200, 503}
        credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key}).json()
        assert credit["credit"] == 20 - codes.count(200)


def test_one_log_line_per_request_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running(Settings(home=tmp_path)) as live:
        key = live.new_key()
        with caplog.at_level(logging.INFO, logger="alphamatte.access"):
            response = httpx.post(
                f"{live.url}/v1.0/alpha-channel-base64",
                json={"image_base64": B64},
                headers={"X-API-Key": key},
            )
            time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name == "alphamatte.access"]
    mine = [line for line in lines if response.headers["X-Request-ID"] in line]
    assert len(mine) == 1
    assert '"status": 200' in mine[0] and '"key_id": ' in mine[0]
    assert key not in "\n".join(lines) and B64[:40] not in "\n".join(lines)


@pytest.mark.slow
def test_real_model_through_real_http(tmp_path: Path, models_dir: Path) -> None:
    (tmp_path / "models").symlink_to(models_dir)
    photo = Path(__file__).resolve().parents[2].parent / "shared/eval/alphamatting_lowres/images"
    if not photo.is_dir():
        pytest.skip("../shared/eval is not present")
    data = (photo / "GT18.png").read_bytes()
    with running(Settings(home=tmp_path), matter_factory=None) as live:
        key = live.new_key(credits=1)
        response = httpx.post(
            f"{live.url}/v1.0/alpha-channel",
            headers={"X-API-Key": key},
            files={"file": ("GT18.png", data, "image/png")},
            timeout=120,
        )
    assert response.status_code == 200
    matte = Image.open(io.BytesIO(response.content))
    assert matte.mode == "L" and matte.size == Image.open(io.BytesIO(data)).size
    values = np.asarray(matte)
    assert values.min() < 10 and values.max() > 245


def test_on_a_gpu_enough_requests_are_in_flight_to_keep_it_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(Settings(home=tmp_path / "cpu")) as live:
        assert live.state.executor.workers <= 4  # a CPU inference already uses every core
    monkeypatch.setattr(server_app, "on_gpu", lambda session: True)
    with running(Settings(home=tmp_path / "gpu")) as live:
        assert live.state.executor.workers == server_app.GPU_INFLIGHT + 2
