"""Models chosen per request: which model each charge paid for, and a key's default and
allowed models.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("default_model", sa.String(100), nullable=True))
        table.add_column(sa.Column("allowed_models", sa.String(2000), nullable=True))
    with op.batch_alter_table("usage") as table:
        table.add_column(sa.Column("model", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage") as table:
        table.drop_column("model")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("allowed_models")
        table.drop_column("default_model")
