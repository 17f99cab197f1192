"""Balances and ledger rows in thousandths of a credit, for fractional prices.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE api_keys SET credits = credits * 1000")
    op.execute("UPDATE usage SET credits = credits * 1000")


def downgrade() -> None:
    # Whole credits again: a fraction of a credit is lost (rounded towards zero, row by row).
    op.execute("UPDATE api_keys SET credits = credits / 1000")
    op.execute("UPDATE usage SET credits = credits / 1000")
