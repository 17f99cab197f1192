"""Two real models behind one server with a budget just above what both need: mixed
concurrent requests are each answered by the model they asked for, charged its price, with
no 5xx (``benchmarks/two_models.py`` runs 200 of them; docs/models.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.two_models import MODELS, PRICES, check, drive, key_of, photos

from alphamatte.config import Settings
from alphamatte.engine.catalogue.families import U2NETP
from alphamatte.server.accounting.keys import authenticate, create_key
from alphamatte.server.accounting.ledger import totals
from alphamatte.server.loopback import serving

pytestmark = pytest.mark.slow


def test_mixed_requests_for_two_models_within_the_budget(models_dir: Path, tmp_path: Path) -> None:
    if not (models_dir / U2NETP.filename).is_file():
        pytest.skip("u2netp is not fetched (`alphamatte model fetch u2netp`)")
    (tmp_path / "models").symlink_to(models_dir)
    settings = Settings(
        home=tmp_path,
        models=",".join(MODELS),
        model_prices=",".join(f"{k}={v}" for k, v in PRICES.items()),
        memory_budget_mb=400,  # the two models' estimates (281 + 19 MB) and a few photos
        result_cache_mb=0,
        queue_size=64,
        rate_limit="100000/minute",
    )
    data = photos(count=3, side=320)
    with serving(settings) as live:
        keys = [create_key(live.state.db, credits=100)[1] for _ in range(2)]
        outcomes = drive(live.url, keys, data, requests=24, clients=6)
        assert live.state.memory.peak <= 400 * 2**20
        for index, raw in enumerate(keys):
            key = authenticate(live.state.db, raw)
            assert key is not None
            balance, ledger_sum = totals(live.state.db, key.id) or (None, None)
            spent = sum(
                PRICES[o.asked] for i, o in enumerate(outcomes) if key_of(i, len(keys)) == index
            )
            assert balance == ledger_sum == 100 - spent
    result = check(outcomes, data, settings)
    assert result["statuses"] == {200: 24}
    assert result["wrong model"] == 0
