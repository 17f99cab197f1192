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
    Column("credits", BigInteger, nullable=False, default=0),  # thousandths of a credit
    Column("expires_at", DateTime(timezone=False), nullable=True),
    Column("rate_limit", String(64), nullable=True),  # None: the server default
    # megapixels per window on remove.bg's endpoints; None: the server default (migration 0005)
    Column("removebg_rate_limit", String(64), nullable=True),
    Column("default_model", String(100), nullable=True),  # None: the server's default
    Column("allowed_models", String(2000), nullable=True),  # comma-separated; None: all
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=False), nullable=False),
)

# The ledger: one row per movement of a key's credits, signed, so that for every key the sum
# of ``credits`` over its rows equals its balance. Kinds (see accounting.ledger):
#   charge   a request's credit: "reserved" when taken before inference, "charged" on success,
#            "refunded" when given back (a "refund" row then restores it);
#   refund   the credit of a failed or abandoned request, given back;
#   grant    credits given at creation; topup: credits added later;
#   expiry   a change of the expiry date alone (credits 0);
#   opening  the balance a key had when the ledger began (migration 0003).
usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("endpoint", String(100), nullable=False),  # the request's path; "" for other kinds
    Column("request_id", String(64), nullable=False, unique=True),  # unique reference
    Column("credits", BigInteger, nullable=False),  # signed change, thousandths of a credit
    Column("state", String(16), nullable=False),  # reserved | charged | refunded | posted
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("kind", String(16), nullable=False, server_default="charge"),
    Column("actor", String(32), nullable=True),  # cli | admin-api | server | reaper | migration
    Column("expires_at", DateTime(timezone=False), nullable=True),  # the expiry it set
    Column("model", String(100), nullable=True),  # the model a charge paid for
)
Index("ix_usage_key_state", usage.c.key_id, usage.c.state)
Index("ix_usage_key_id", usage.c.key_id, usage.c.id)

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

# remove.bg's "improve" submissions: an image a client thinks we got wrong, with its tag, kept
# for the operator (``alphamatte improve export`` turns them into an eval folder).
improvements = Table(
    "improvements",
    metadata,
    Column("id", String(36), primary_key=True),  # a UUID, given back to the client
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("tag", String(255), nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=False), nullable=False),
)
Index("ix_improvements_key_created", improvements.c.key_id, improvements.c.created_at)
