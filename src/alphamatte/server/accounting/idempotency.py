"""Idempotency-Key: a repeated request gets the first one's response and is charged once.

The first request with a key inserts a "pending" row (unique per API key and Idempotency-Key,
so concurrent repeats cannot both win). Its response is stored in the same transaction that
charges the credit, so "charged" and "replayable" can never disagree. A failed request deletes
its row, leaving the key free for a retry; a row left pending by a killed process is purged by
the reaper together with its reservation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from alphamatte.server.storage.schema import idempotency


class Claim(enum.Enum):
    NEW = "new"  # go ahead; the response will be stored
    REPLAY = "replay"  # done before: send the stored response
    CONFLICT = "conflict"  # the key was used for a different request
    IN_PROGRESS = "in_progress"  # the first request with this key is still running


@dataclass(frozen=True)
class Stored:
    status: int
    media_type: str
    body: bytes


def claim(
    engine: Engine, key_id: int, idem_key: str, request_hash: str, ttl: timedelta
) -> tuple[Claim, Stored | None]:
    for _ in range(3):
        now = datetime.now()
        try:
            with engine.begin() as conn:
                conn.execute(
                    delete(idempotency).where(
                        idempotency.c.key_id == key_id,
                        idempotency.c.idem_key == idem_key,
                        idempotency.c.created_at < now - ttl,
                    )
                )
                conn.execute(
                    insert(idempotency).values(
                        key_id=key_id,
                        idem_key=idem_key,
                        request_hash=request_hash,
                        state="pending",
                        created_at=now,
                    )
                )
            return Claim.NEW, None
        except IntegrityError:
            pass
        with engine.connect() as conn:
            row = conn.execute(
                select(idempotency).where(
                    idempotency.c.key_id == key_id, idempotency.c.idem_key == idem_key
                )
            ).first()
        if row is None:
            continue  # released or expired in between: try to claim it again
        if row.request_hash != request_hash:
            return Claim.CONFLICT, None
        if row.state == "done":
            return Claim.REPLAY, Stored(row.status, row.media_type, bytes(row.body))
        return Claim.IN_PROGRESS, None
    return Claim.IN_PROGRESS, None


def complete(conn: Connection, key_id: int, idem_key: str, stored: Stored) -> None:
    """Store the response; call inside the transaction that charges the credit."""
    conn.execute(
        update(idempotency)
        .where(idempotency.c.key_id == key_id, idempotency.c.idem_key == idem_key)
        .values(state="done", status=stored.status, media_type=stored.media_type, body=stored.body)
    )


def release(engine: Engine, key_id: int, idem_key: str) -> None:
    """Forget a claim whose request failed (and was not charged), so a retry can run."""
    with engine.begin() as conn:
        conn.execute(
            delete(idempotency).where(
                idempotency.c.key_id == key_id,
                idempotency.c.idem_key == idem_key,
                idempotency.c.state == "pending",
            )
        )


def purge(engine: Engine, ttl: timedelta, pending_timeout: timedelta) -> int:
    """Drop stored responses past their TTL and claims abandoned by dead processes."""
    now = datetime.now()
    with engine.begin() as conn:
        result = conn.execute(
            delete(idempotency).where(
                (idempotency.c.created_at < now - ttl)
                | (
                    (idempotency.c.state == "pending")
                    & (idempotency.c.created_at < now - pending_timeout)
                )
            )
        )
    return int(result.rowcount or 0)
