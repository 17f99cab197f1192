"""Fractional prices (remove.bg's preview costs 0.25): exact balances, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from alphamatte.server.accounting.amounts import MILLI, from_milli, to_milli, whole_credits
from alphamatte.server.accounting.credits import Reservation, charge, charged_total, reserve
from alphamatte.server.accounting.keys import create_key, get_key
from alphamatte.server.accounting.ledger import entries, totals
from alphamatte.server.storage.database import make_engine, migrate
from tests.server.test_ledger_migration import fill_as_revision_0002, upgrade_to
from tests.services import Postgres

QUARTER = MILLI // 4


def test_amounts_convert_exactly() -> None:
    assert to_milli(1) == 1000 and to_milli("0.25") == 250 and to_milli(0.1) == 100
    assert to_milli("12.345") == 12345
    for bad in ("0.0001", "nan", "one", float("inf")):
        with pytest.raises(ValueError):
            to_milli(bad)
    assert from_milli(3000) == 3 and isinstance(from_milli(3000), int)
    assert from_milli(250) == 0.25 and from_milli(-1250) == -1.25
    assert whole_credits(1750) == 1 and whole_credits(250) == 0


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'money.db'}"
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
    made = make_engine(url)
    migrate(made)
    return made


def test_quarters_add_up_to_whole_credits_with_no_drift(engine: Engine) -> None:
    key, _ = create_key(engine, credits=1)
    for index in range(3):
        assert reserve(engine, key.id, f"q{index}", "/v1.0/removebg", QUARTER) is Reservation.OK
        assert charge(engine, f"q{index}")
    left = get_key(engine, key.id)
    assert left is not None and left.credits == 0.25 and left.milli == 250
    assert reserve(engine, key.id, "whole", "/v1.0/alpha-channel") is Reservation.NO_CREDIT
    assert reserve(engine, key.id, "q3", "/v1.0/removebg", QUARTER) is Reservation.OK
    assert charge(engine, "q3")
    assert totals(engine, key.id) == (0, 0)
    assert charged_total(engine, key.id) == 1
    assert [row.credits for row in entries(engine, key.id)] == [1, -0.25, -0.25, -0.25, -0.25]


def test_racing_quarters_never_overdraw_and_the_ledger_holds(engine: Engine) -> None:
    """Eight threads spend quarters and whole credits on 5 credits: never below zero, and the
    balance is the ledger's sum to the thousandth."""
    key, _ = create_key(engine, credits=5)

    def spend(index: int) -> int:
        cost = QUARTER if index % 3 else MILLI
        outcome = reserve(engine, key.id, f"r{index}", "/v1.0/removebg", cost)
        if outcome is not Reservation.OK:
            return 0
        assert charge(engine, f"r{index}")
        return cost

    with ThreadPoolExecutor(8) as pool:
        spent = sum(pool.map(spend, range(60)))
    assert spent <= 5 * MILLI
    found = totals(engine, key.id)
    assert found is not None and found[0] == found[1] == from_milli(5 * MILLI - spent)
    assert charged_total(engine, key.id) == from_milli(spent)
    assert 5 * MILLI - spent < MILLI  # whatever was left could not pay a whole credit
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_0004_scales_balances_and_the_ledger(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
    old = make_engine(url)
    upgrade_to(old, "0002")
    fill_as_revision_0002(old)
    upgrade_to(old, "0003")
    with old.connect() as conn:
        before = conn.execute(text("SELECT id, credits FROM api_keys ORDER BY id")).all()
    migrate(old)
    with old.connect() as conn:
        stored = conn.execute(text("SELECT id, credits FROM api_keys ORDER BY id")).all()
    assert [tuple(r) for r in stored] == [(i, c * MILLI) for i, c in before]
    first = get_key(old, 1)
    assert first is not None and first.credits == 7  # what clients see did not change
    assert totals(old, 1) == (7, 7)
    old.dispose()
