"""What remove.bg's users bring: a per-key megapixel rate limit, and "improve" submissions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("removebg_rate_limit", sa.String(64), nullable=True))
    op.create_table(
        "improvements",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("image", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_index("ix_improvements_key_created", "improvements", ["key_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_improvements_key_created", "improvements")
    op.drop_table("improvements")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("removebg_rate_limit")
