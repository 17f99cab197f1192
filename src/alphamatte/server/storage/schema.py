"""Tables for keys and the usage ledger (SQLAlchemy Core; Alembic owns the DDL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, default=""),
    Column("prefix", String(16), nullable=False),  # first characters, to recognise a key
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("credits", BigInteger, nullable=False, default=0),
    Column("expires_at", DateTime(timezone=False), nullable=True),
    Column("rate_limit", String(64), nullable=True),  # None: the server default
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=False), nullable=False),
)

# One row per credit movement caused by a request. A row is written as "reserved" when the
# credit is taken before inference, becomes "charged" on success, and is deleted (with the
# credit given back) on failure, so the charged rows always sum to the credits spent.
usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("endpoint", String(100), nullable=False),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("credits", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # reserved | charged
    Column("created_at", DateTime(timezone=False), nullable=False),
)
Index("ix_usage_key_state", usage.c.key_id, usage.c.state)

# Requests sent with an Idempotency-Key: "pending" while the first one runs, then "done" with
# the response that every repeat within the TTL gets back without being charged again.
idempotency = Table(
    "idempotency",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("idem_key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending | done
    Column("status", Integer, nullable=True),
    Column("media_type", String(100), nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=False), nullable=False),
    UniqueConstraint("key_id", "idem_key", name="uq_idempotency_key"),
)
