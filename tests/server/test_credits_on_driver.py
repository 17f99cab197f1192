"""SQLite's reservations and charges run on the driver connection (storage.driver); they must
write exactly what the SQLAlchemy path writes and refuse for the same reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from alphamatte.server.accounting import credits
from alphamatte.server.accounting.amounts import MILLI
from alphamatte.server.accounting.credits import Reservation, charge, refund, reserve
from alphamatte.server.accounting.keys import create_key, revoke
from alphamatte.server.accounting.ledger import totals
from alphamatte.server.storage.database import make_engine, migrate
from alphamatte.server.storage.schema import api_keys, usage


def history(engine: Engine, path: str) -> list[tuple[object, ...]]:
    """Everything one scripted session leaves in the database, ids and clock aside."""
    key, _ = create_key(engine, credits=2)
    spent, _ = create_key(engine, credits=0)
    late, _ = create_key(engine, credits=5, expires_at=datetime.now() + timedelta(days=1))
    gone, _ = create_key(engine, credits=5)
    with engine.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == late.id)
            .values(expires_at=datetime.now() - timedelta(seconds=1))
        )
    revoke(engine, gone.id)
    outcomes = [
        reserve(engine, key.id, f"{path}-1", "/v1.0/alpha-channel"),
        reserve(engine, key.id, f"{path}-2", "/v1.0/alpha-channel"),
        reserve(engine, key.id, f"{path}-3", "/v1.0/alpha-channel"),  # balance spent
        reserve(engine, spent.id, f"{path}-4", "/v1.0/alpha-channel"),
        reserve(engine, late.id, f"{path}-5", "/v1.0/alpha-channel"),
        reserve(engine, gone.id, f"{path}-6", "/v1.0/alpha-channel"),
    ]
    charged = [charge(engine, f"{path}-1"), charge(engine, f"{path}-1")]  # second: already final
    refund(engine, f"{path}-2")
    charged.append(charge(engine, f"{path}-2"))  # refunded first: not charged
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage.c.key_id, usage.c.endpoint, usage.c.credits, usage.c.state, usage.c.kind)
            .where(usage.c.request_id.like(f"{path}-%"))
            .order_by(usage.c.id)
        ).fetchall()
        created = conn.execute(
            select(usage.c.created_at).where(usage.c.request_id == f"{path}-1")
        ).scalar_one()
    assert isinstance(created, datetime)  # stored in SQLAlchemy's form, whichever path wrote it
    assert abs(created - datetime.now()) < timedelta(minutes=1)
    found = totals(engine, key.id)
    assert found is not None and found[0] == found[1] == 1  # balance == ledger sum
    ids = {key.id: "key", spent.id: "spent", late.id: "late", gone.id: "gone"}
    return [
        *outcomes,
        *charged,
        *((ids[row[0]], *row[1:]) for row in rows),
    ]


@pytest.mark.parametrize("path", ["driver", "sqlalchemy"])
def test_both_paths_leave_the_same_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'credits.db'}")
    migrate(engine)
    if path == "sqlalchemy":
        monkeypatch.setattr(credits, "on_driver", lambda _: False)
    assert history(engine, path) == [
        Reservation.OK,
        Reservation.OK,
        Reservation.NO_CREDIT,
        Reservation.NO_CREDIT,
        Reservation.EXPIRED,
        Reservation.REVOKED,
        True,
        False,
        False,
        ("key", "/v1.0/alpha-channel", -MILLI, "charged", "charge"),  # thousandths
        ("key", "/v1.0/alpha-channel", -MILLI, "refunded", "charge"),
    ]
    engine.dispose()


def test_a_failed_step_rolls_the_whole_reservation_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'credits.db'}")
    migrate(engine)
    key, _ = create_key(engine, credits=3)
    assert reserve(engine, key.id, "same-id", "/v1.0/alpha-channel") is Reservation.OK
    # The ledger's unique request id refuses a second row: the credit taken by the UPDATE
    # before it must come back with the rollback.
    with pytest.raises(Exception, match="UNIQUE"):
        reserve(engine, key.id, "same-id", "/v1.0/alpha-channel")
    with engine.connect() as conn:
        left = conn.execute(select(api_keys.c.credits).where(api_keys.c.id == key.id))
        assert left.scalar_one() == 2 * MILLI  # stored in thousandths
    # And the pooled connection is usable afterwards, outside any transaction.
    assert reserve(engine, key.id, "next-id", "/v1.0/alpha-channel") is Reservation.OK
    engine.dispose()
