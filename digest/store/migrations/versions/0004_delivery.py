"""delivery: track attempts in flight, so a crash mid-send is known and shown

Revision ID: 0004_delivery
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import digest.store.schema

revision = "0004_delivery"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("sending_at", digest.store.schema.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "deliveries",
        sa.Column("interrupted", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("interrupted")
        batch.drop_column("sending_at")
