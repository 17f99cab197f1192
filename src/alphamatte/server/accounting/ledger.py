"""The credit ledger: every movement of a key's balance is one signed row.

For every key, the sum of its rows equals its balance (``api_keys.credits``). Rows are written
in the same transaction as the balance change they explain, so the two never disagree, whatever
fails or runs concurrently. Both are stored in thousandths of a credit (accounting.amounts);
what this module returns is in credits.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select

from alphamatte.server.accounting.amounts import Credits, from_milli
from alphamatte.server.storage.schema import api_keys, usage


class Kind(enum.StrEnum):
    CHARGE = "charge"  # a request's credit (state reserved → charged | refunded)
    REFUND = "refund"  # a reserved credit given back
    GRANT = "grant"  # credits given when the key was created
    TOPUP = "topup"  # credits added later (may also move the expiry)
    EXPIRY = "expiry"  # the expiry moved with no credits
    OPENING = "opening"  # the balance held when the ledger began


class Actor(enum.StrEnum):
    CLI = "cli"
    ADMIN_API = "admin-api"
    SERVER = "server"  # a request: its charge, or the refund when it failed
    REAPER = "reaper"  # the refund of a request whose process died


POSTED = "posted"  # the state of every row that is not a request's charge


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    credits: Credits
    state: str
    actor: str | None
    endpoint: str
    reference: str
    expires_at: datetime | None
    created_at: datetime
    model: str | None = None  # the model a charge paid for

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "credits": self.credits,
            "state": self.state,
            "actor": self.actor,
            "endpoint": self.endpoint or None,
            "reference": self.reference,
            "expires_at": _text(self.expires_at),
            "created_at": _text(self.created_at),
            "model": self.model,
        }


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat(sep=" ") if moment is not None else None


def post(
    conn: Connection,
    key_id: int,
    kind: Kind,
    milli: int,
    actor: Actor,
    *,
    expires_at: datetime | None = None,
    reference: str | None = None,
    now: datetime | None = None,
) -> None:
    """Write one row that is not a request's charge, of ``milli`` thousandths of a credit (the
    caller changes the balance)."""
    conn.execute(
        insert(usage).values(
            key_id=key_id,
            endpoint="",
            request_id=reference or f"{kind.value}:{uuid.uuid4().hex}",
            credits=milli,
            state=POSTED,
            created_at=now or datetime.now(),
            kind=kind.value,
            actor=actor.value,
            expires_at=expires_at,
        )
    )


def entries(engine: Engine, key_id: int, *, after: int = 0, limit: int = 100) -> list[Entry]:
    """A key's rows in the order they were written, ``limit`` of them after row id ``after``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(usage)
            .where(usage.c.key_id == key_id, usage.c.id > after)
            .order_by(usage.c.id)
            .limit(limit)
        ).fetchall()
    return [
        Entry(
            id=r.id,
            kind=r.kind,
            credits=from_milli(r.credits),
            state=r.state,
            actor=r.actor,
            endpoint=r.endpoint,
            reference=r.request_id,
            expires_at=r.expires_at,
            created_at=r.created_at,
            model=r.model,
        )
        for r in rows
    ]


def totals(engine: Engine, key_id: int) -> tuple[Credits, Credits] | None:
    """(balance, sum of the ledger) read in one transaction; None for an unknown key."""
    with engine.begin() as conn:
        balance = conn.execute(
            select(api_keys.c.credits).where(api_keys.c.id == key_id)
        ).scalar_one_or_none()
        if balance is None:
            return None
        total = conn.execute(
            select(func.coalesce(func.sum(usage.c.credits), 0)).where(usage.c.key_id == key_id)
        ).scalar_one()
    return from_milli(balance), from_milli(total)
