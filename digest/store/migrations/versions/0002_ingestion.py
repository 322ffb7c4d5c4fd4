"""ingestion: store-backed sources, source health details, item media and story signatures

Revision ID: 0002_ingestion
Revises: 0003_subscriptions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ingestion"
down_revision = "0003_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=20), nullable=False, server_default="config")
        )
        batch_op.add_column(sa.Column("moved_to", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("interval_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_warning", sa.Text(), nullable=True))
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_url", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("enclosures", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("enclosures")
        batch_op.drop_column("image_url")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("last_warning")
        batch_op.drop_column("interval_minutes")
        batch_op.drop_column("moved_to")
        batch_op.drop_column("origin")
