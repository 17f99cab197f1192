"""Three replicas behind nginx on shared PostgreSQL and Redis: limits, money, faults."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from alphamatte.server.accounting.credits import charged_total, refund_stale
from alphamatte.server.storage.database import make_engine
from alphamatte.server.storage.schema import usage
from tests.conftest import gradient_rgb, image_bytes
from tests.scaleout.topology import Topology, tiny_model
from tests.services import Postgres, Redis

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer replica-admin"}
PHOTO = base64.b64encode(image_bytes(Image.fromarray(gradient_rgb(160, 120)), "PNG")).decode()


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres, redis_server: Redis
) -> Iterator[Topology]:
    home = tmp_path_factory.mktemp("replicas")
    (home / "models").mkdir()
    tiny_model(home / "models" / "tiny.onnx")
    tiny_model(home / "models" / "slow.onnx", layers=24)
    redis_server.flush()
    topo = Topology(home, postgres.new_database(), redis_server.url)
    try:
        replicas = [topo.start_replica(ALPHAMATTE_ADMIN_TOKEN="replica-admin") for _ in range(3)]
        topo.start_nginx(replicas)
        yield topo
    finally:
        topo.stop()


def new_key(topo: Topology, credits: int, rate_limit: str | None = None) -> tuple[int, str]:
    body: dict[str, object] = {"credits": credits}
    if rate_limit:
        body["rate_limit"] = rate_limit
    created = httpx.post(f"{topo.url}/admin/keys", headers=ADMIN, json=body, timeout=30).json()
    return int(created["id"]), str(created["key"])


def matte(url: str, key: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1.0/alpha-channel-base64",
        headers={"X-API-Key": key, **headers},
        json={"image_base64": PHOTO},
        timeout=60,
    )


def balance(url: str, key: str) -> int:
    return int(
        httpx.get(f"{url}/available-credit", headers={"X-API-Key": key}, timeout=30).json()[
            "credit"
        ]
    )


def served_by(topo: Topology) -> list[float]:
    counts = []
    for replica in topo.replicas[:3]:
        text = httpx.get(f"{replica.url}/metrics", timeout=10).text
        counts.append(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("alphamatte_requests_total{")
                and 'route="/v1.0/alpha-channel-base64"' in line
            )
        )
    return counts


def test_the_per_key_rate_limit_holds_across_replicas(topology: Topology) -> None:
    _, key = new_key(topology, credits=50)  # server default: 7 per minute
    codes = Counter(matte(topology.url, key).status_code for _ in range(10))
    assert codes == {200: 7, 429: 3}
    assert sum(1 for n in served_by(topology) if n > 0) >= 2  # nginx spread the requests


def test_a_hundred_racing_requests_spend_exactly_twenty_credits(topology: Topology) -> None:
    key_id, key = new_key(topology, credits=20, rate_limit="1000/minute")
    codes: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        code = matte(topology.url, key).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=send) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(codes) == {200: 20, 402: 80}
    assert balance(topology.url, key) == 0
    engine = make_engine(topology.database_url)
    try:
        assert charged_total(engine, key_id) == 20
    finally:
        engine.dispose()


def test_a_replica_killed_mid_request_loses_no_credit(topology: Topology) -> None:
    key_id, key = new_key(topology, credits=3, rate_limit="1000/minute")
    slow = topology.start_replica("slow.onnx", ALPHAMATTE_MAX_SIDE="1024")
    engine = make_engine(topology.database_url)
    try:
        outcome: list[object] = []
        thread = threading.Thread(
            target=lambda: outcome.append(_try(matte, slow.url, key, **{"Idempotency-Key": "x1"}))
        )
        thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _reserved(engine, key_id):
            time.sleep(0.02)
        assert _reserved(engine, key_id), "the request never reserved its credit"
        slow.kill()  # SIGKILL: no cleanup of any kind runs
        thread.join(30)
        assert isinstance(outcome[0], httpx.HTTPError)
        assert balance(topology.url, key) == 2  # held by the dead request

        time.sleep(1.5)
        topology.start_replica(ALPHAMATTE_RESERVATION_TIMEOUT_S="1")  # its start-up reaps
        assert balance(topology.url, key) == 3
        assert charged_total(engine, key_id) == 0
        retried = matte(topology.url, key, **{"Idempotency-Key": "x1"})  # the client's retry
        assert retried.status_code == 200
        assert balance(topology.url, key) == 2 and charged_total(engine, key_id) == 1
    finally:
        engine.dispose()


def _try(func: object, *args: object, **kwargs: object) -> object:
    try:
        return func(*args, **kwargs)  # type: ignore[operator]
    except httpx.HTTPError as exc:
        return exc


def _reserved(engine: object, key_id: int) -> bool:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(usage.c.id).where(usage.c.key_id == key_id, usage.c.state == "reserved")
        ).fetchall()
    return bool(rows)


def test_postgres_restart_under_load_gives_503_then_recovers_with_exact_credits(
    topology: Topology, postgres: Postgres
) -> None:
    key_id, key = new_key(topology, credits=10_000, rate_limit="100000/minute")
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            statuses.append(_status(matte, topology.url, key))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        postgres.stop()
        try:
            time.sleep(2.0)
            down = matte(topology.url, key)
            assert down.status_code == 503 and "unavailable" in down.json()["detail"]
            ready = httpx.get(f"{topology.replicas[0].url}/ready", timeout=30)
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        finally:
            postgres.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and matte(topology.url, key).status_code != 200:
            time.sleep(0.5)
        before = len(statuses)
        time.sleep(1.0)
        assert 200 in statuses[before:]  # recovered by itself, under load
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert set(statuses) <= {200, 503}, Counter(statuses)  # never a 500
    assert 503 in statuses
    engine = make_engine(topology.database_url)
    try:
        # Requests cut off mid-way by the outage left reservations; the reaper returns them.
        refund_stale(engine, timedelta(0))
        charged = charged_total(engine, key_id)
        assert balance(topology.url, key) == 10_000 - charged  # ledger and balance agree
        # Every 200 was charged (the load's, plus the one recovery probe that succeeded).
        # A charge whose commit reached PostgreSQL just as it went down may have answered 503
        # (the acknowledgement was lost), so allow at most one per worker in flight then.
        answered = statuses.count(200) + 1
        assert answered <= charged <= answered + len(workers)
    finally:
        engine.dispose()


def _status(func: object, *args: object) -> int:
    try:
        return int(func(*args).status_code)  # type: ignore[operator]
    except httpx.HTTPError:
        return -1


def test_redis_down_fails_open_and_credits_stay_exact(
    topology: Topology, redis_server: Redis
) -> None:
    key_id, key = new_key(topology, credits=5, rate_limit="2/minute")
    redis_server.stop()
    try:
        codes = [matte(topology.url, key).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 200]  # the rate limit is off while Redis is gone
        assert balance(topology.url, key) == 1
    finally:
        redis_server.start()
    engine = make_engine(topology.database_url)
    try:
        assert charged_total(engine, key_id) == 4
    finally:
        engine.dispose()


def test_a_replica_that_cannot_start_is_reported_and_stopped(topology: Topology) -> None:
    """The helper's own promise: a start that fails leaves no process behind."""
    before = len(topology.replicas)
    with pytest.raises(RuntimeError, match="exited"):
        topology.start_replica("missing.onnx")
    failed = topology.replicas[before]
    assert failed.process.poll() is not None
