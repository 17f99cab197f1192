"""Every credit movement on the ledger: signed amounts, kinds, who, and expiry changes.

Existing charge and reservation rows become negative amounts, and each key gets an "opening"
row for the credits it held beyond them, so that its ledger sums to its balance from now on.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.alter_column("credits", type_=sa.BigInteger, existing_nullable=False)
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="charge"))
        batch.add_column(sa.Column("actor", sa.String(32), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=False), nullable=True))
    op.create_index("ix_usage_key_id", "usage", ["key_id", "id"])
    # Until now every row was a charge or a reservation holding a positive count of credits.
    op.execute("UPDATE usage SET credits = -credits, actor = 'server'")
    op.execute(
        """
        INSERT INTO usage
            (key_id, endpoint, request_id, credits, state, created_at, kind, actor, expires_at)
        SELECT k.id, '', 'opening:' || CAST(k.id AS VARCHAR(20)),
               k.credits - COALESCE((SELECT SUM(u.credits) FROM usage u WHERE u.key_id = k.id), 0),
               'posted', k.created_at, 'opening', 'migration', k.expires_at
        FROM api_keys k
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM usage WHERE kind <> 'charge' OR state = 'refunded'")
    op.execute("UPDATE usage SET credits = -credits")
    op.drop_index("ix_usage_key_id", table_name="usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("actor")
        batch.drop_column("kind")
        batch.alter_column("credits", type_=sa.Integer, existing_nullable=False)
