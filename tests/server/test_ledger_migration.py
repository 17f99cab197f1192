"""Migration 0003 keeps existing databases, balances and reservations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from alphamatte.server.accounting.credits import charge, charged_total, refund
from alphamatte.server.accounting.keys import get_key, top_up
from alphamatte.server.accounting.ledger import entries, totals
from alphamatte.server.storage.database import MIGRATIONS, make_engine, migrate
from tests.services import Postgres


def upgrade_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def fill_as_revision_0002(engine: Engine) -> None:
    """Two keys as the previous release wrote them: charges, a live reservation, a replay."""
    created = datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as conn:
        for ident, credits, expires in ((1, 7, None), (2, 0, datetime(2020, 1, 1))):
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, name, prefix, key_hash, credits, expires_at,"
                    " rate_limit, revoked, created_at) VALUES (:id, 'old', 'am_x',"
                    " :hash, :credits, :expires, NULL, :revoked, :created)"
                ),
                {
                    "id": ident,
                    "hash": f"{ident:064d}",
                    "credits": credits,
                    "expires": expires,
                    "revoked": False,
                    "created": created,
                },
            )
        rows = [
            (1, "r1", 1, "charged"),
            (1, "r2", 1, "charged"),
            (1, "r3", 1, "reserved"),
            (2, "r4", 1, "charged"),
        ]
        for key, request_id, credits, state in rows:
            conn.execute(
                text(
                    "INSERT INTO usage (key_id, endpoint, request_id, credits, state, created_at)"
                    " VALUES (:key, '/v1.0/alpha-channel', :rid, :credits, :state, :created)"
                ),
                {
                    "key": key,
                    "rid": request_id,
                    "credits": credits,
                    "state": state,
                    "created": created,
                },
            )
        conn.execute(
            text(
                "INSERT INTO idempotency (key_id, idem_key, request_hash, state, status,"
                " media_type, body, created_at) VALUES (1, 'order-1', 'h', 'done', 200,"
                " 'image/png', :body, :created)"
            ),
            {"body": b"png", "created": created},
        )


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.new_database()
    engine = make_engine(url)
    upgrade_to(engine, "0002")
    fill_as_revision_0002(engine)
    return engine


def test_upgrade_keeps_balances_and_the_ledger_explains_them(old_database: Engine) -> None:
    engine = old_database
    migrate(engine)
    migrate(engine)  # idempotent

    first, second = get_key(engine, 1), get_key(engine, 2)
    assert first is not None and first.credits == 7
    assert second is not None and second.credits == 0
    assert totals(engine, 1) == (7, 7) and totals(engine, 2) == (0, 0)
    assert charged_total(engine, 1) == 2 and charged_total(engine, 2) == 1
    opening = entries(engine, 1)[-1]
    assert (opening.kind, opening.credits, opening.actor) == ("opening", 10, "migration")

    # The reservation made before the upgrade still finishes either way, on the ledger.
    refund(engine, "r3")
    assert totals(engine, 1) == (8, 8)
    assert not charge(engine, "r3")

    # The expired key from before the upgrade is reactivated by a top-up.
    topped = top_up(engine, 2, 4)
    assert topped is not None and topped.credits == 4 and topped.expires_at is None
    assert totals(engine, 2) == (4, 4)
    with engine.connect() as conn:
        replay = conn.execute(text("SELECT body FROM idempotency WHERE idem_key = 'order-1'"))
        assert replay.scalar_one() == b"png"
