"""1,000 mixed remove.bg requests through nginx to two replicas on PostgreSQL and Redis.

All sizes, formats and options, with invalid requests among them, and two keys racing for
their last credits: no 5xx, only successes charged, each key's balance the sum of its ledger
to the thousandth, and what the answers said they charged is what the ledger holds.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from PIL import Image

from alphamatte.server.accounting.credits import charged_total
from alphamatte.server.accounting.ledger import totals
from alphamatte.server.storage.database import make_engine
from tests.conftest import gradient_rgb, image_bytes
from tests.scaleout.test_replicas import ADMIN, new_key
from tests.scaleout.topology import Topology, tiny_model
from tests.services import Postgres, Redis

pytestmark = pytest.mark.slow

REQUESTS = 1000
PHOTO = image_bytes(Image.fromarray(gradient_rgb(640, 480)), "JPEG")
VALID = [
    {"size": "preview"},
    {"size": "full", "format": "zip"},
    {"size": "medium", "format": "jpg", "bg_color": "fff"},
    {"size": "auto", "crop": "true", "crop_margin": "10%"},
    {"size": "hd", "format": "webp", "channels": "alpha"},
    {"size": "small", "scale": "50%", "position": "center", "roi": "0 0 100% 100%"},
    {"size": "regular", "format": "auto", "type": "product", "semitransparency": ""},
]
INVALID = [
    {"size": "gigantic"},
    {"roi": "0 0 200% 100%"},
    {"format": "gif"},
    {"crop_margin": "1 2 3", "crop": "true"},
]


@pytest.fixture(scope="module")
def topology(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres, redis_server: Redis
) -> Iterator[Topology]:
    home = tmp_path_factory.mktemp("removebg-replicas")
    (home / "models").mkdir()
    tiny_model(home / "models" / "tiny.onnx")
    redis_server.flush()
    topo = Topology(home, postgres.new_database(), redis_server.url)
    try:
        replicas = [topo.start_replica(ALPHAMATTE_ADMIN_TOKEN=ADMIN["Authorization"][7:])]
        replicas.append(topo.start_replica(ALPHAMATTE_ADMIN_TOKEN=ADMIN["Authorization"][7:]))
        topo.start_nginx(replicas)
        yield topo
    finally:
        topo.stop()


def test_a_thousand_mixed_requests_charge_exactly_what_succeeded(topology: Topology) -> None:
    rng = random.Random(27)
    keys = [new_key(topology, credits=40, rate_limit="100000/minute") for _ in range(2)]
    plan = []
    for index in range(REQUESTS):
        key_id, key = keys[index % 2]
        if rng.random() < 0.15:
            fields, body = rng.choice(INVALID), PHOTO
        elif rng.random() < 0.03:
            fields, body = {"size": "full"}, b"\xff\xd8\xff broken jpeg"
        else:
            fields, body = rng.choice(VALID), PHOTO
        plan.append((key_id, key, fields, body))

    def send(item: tuple[int, str, dict[str, str], bytes]) -> tuple[int, int, str]:
        key_id, key, fields, body = item
        with httpx.Client(timeout=120) as client:
            answer = client.post(
                f"{topology.url}/v1.0/removebg",
                headers={"X-API-Key": key},
                files={"image_file": ("p.jpg", body, "image/jpeg")},
                data=fields,
            )
        return key_id, answer.status_code, answer.headers.get("X-Credits-Charged", "")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, plan))
    codes = Counter(code for _, code, _ in results)
    print(f"{REQUESTS} requests through 2 replicas: {dict(codes)}")
    assert max(codes) < 500, codes
    assert set(codes) <= {200, 400, 402}, codes
    assert codes[402] > 0  # both keys ran out: the race for the last credits happened
    engine = make_engine(topology.database_url)
    try:
        for key_id, _ in keys:
            answered = sum(
                (
                    Decimal(charged)
                    for kid, code, charged in results
                    if kid == key_id and code == 200
                ),
                Decimal(0),
            )
            assert Decimal(str(charged_total(engine, key_id))) == answered
            assert answered <= 40
            found = totals(engine, key_id)
            assert found is not None and found[0] == found[1]  # balance == ledger sum
            assert Decimal(str(found[0])) == 40 - answered
            assert Decimal(str(found[0])) < 1  # nothing left that a request could have used
    finally:
        engine.dispose()
