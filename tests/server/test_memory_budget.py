"""Requests are admitted by the memory their pixels need: never more at once than the budget."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import ISNET
from alphamatte.engine.inference.matting import Matter, MattingConfig
from alphamatte.server.admission import MB, MemoryBudget, OverBudgetError
from alphamatte.server.executor import QueueFullError
from tests.fakes import FakeSession
from tests.server.live import running


def test_admission_never_exceeds_the_budget_and_waiters_get_in_when_room_frees() -> None:
    async def scenario() -> tuple[int, list[str]]:
        budget = MemoryBudget(100, wait_s=5, max_waiting=10)
        inside = 0
        most = 0
        outcomes: list[str] = []

        async def request(cost: int) -> None:
            nonlocal inside, most
            async with budget.admit(cost):
                inside += cost
                most = max(most, inside)
                await asyncio.sleep(0.05)
                inside -= cost
            outcomes.append("done")

        await asyncio.gather(*(request(40) for _ in range(6)))
        assert budget.in_use == 0
        return most, outcomes

    most, outcomes = asyncio.run(scenario())
    assert most <= 100 and most == 80  # two at a time fit, never three
    assert outcomes == ["done"] * 6


def test_too_big_alone_is_refused_and_a_full_budget_times_out_or_refuses_waiters() -> None:
    async def scenario() -> None:
        budget = MemoryBudget(100, wait_s=0.1, max_waiting=1)
        with pytest.raises(OverBudgetError, match="needs about"):
            async with budget.admit(101):
                pass
        async with budget.admit(90):
            with pytest.raises(QueueFullError):  # waits 0.1 s, then gives up
                async with budget.admit(20):
                    pass
            waiter = asyncio.create_task(_enter(budget, 20))
            await asyncio.sleep(0.02)
            with pytest.raises(QueueFullError):  # one already waiting: no queue behind it
                async with budget.admit(20):
                    pass
            waiter.cancel()
        assert budget.in_use == 0

    asyncio.run(scenario())


async def _enter(budget: MemoryBudget, cost: int) -> None:
    async with budget.admit(cost):
        pass


class SlowSession(FakeSession):
    """Holds each inference long enough for requests to overlap."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.3)
        return super().run(batch)


def slow_matter(_: Settings, __: str) -> Matter:
    return Matter(SlowSession(), ISNET, MattingConfig(max_side=256))  # type: ignore[arg-type]


def photo_b64(side: int) -> str:
    rng = np.random.default_rng(side)
    pixels = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode()


def cutout(url: str, key: str, body: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1.0/image-without-background-base64",
        headers={"X-API-Key": key},
        json={"image_base64": body},
        timeout=60,
    )


def test_concurrent_large_cutouts_stay_within_the_budget_and_refusals_cost_nothing(
    tmp_path: Path,
) -> None:
    # 1500² cutouts cost ~68 MB each: a 128 MB budget admits one at a time, never two.
    settings = Settings(
        home=tmp_path, memory_budget_mb=128, memory_wait_s=0.5, rate_limit="1000/minute"
    )
    with running(settings, slow_matter) as live:
        key = live.new_key(credits=100)
        body = photo_b64(1500)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: cutout(live.url, key, body), range(8)))
        statuses = sorted(a.status_code for a in answers)
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["Retry-After"] and "busy" in answer.json()["detail"]
        memory = live.state.memory
        assert 0 < memory.peak <= 128 * MB and memory.in_use == 0
        credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key})
        assert credit.json()["credit"] == 100 - statuses.count(200)


def test_an_image_bigger_than_the_whole_budget_is_413_and_free(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, memory_budget_mb=64)
    with running(settings) as live:
        key = live.new_key(credits=3)
        answer = cutout(live.url, key, photo_b64(2000))  # 4 MP x 30 B ≈ 114 MB
        assert answer.status_code == 413
        assert "memory budget is 64 MB" in answer.json()["detail"]
        credit = httpx.get(f"{live.url}/available-credit", headers={"X-API-Key": key})
        assert credit.json()["credit"] == 3
        small = cutout(live.url, key, photo_b64(400))
        assert small.status_code == 200


def test_the_default_budget_is_half_of_this_machines_memory() -> None:
    import os

    from alphamatte.server.admission import default_budget_mb

    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB
    assert 256 <= default_budget_mb() <= total_mb // 2 + 1
