"""delivery: attempts in flight are tracked; message bytes move to their own table

Recording an attempt updates a deliveries row; SQLite rewrites a whole record on update,
so with the 60 KB message in it every status change cost 60 KB of WAL. The bytes move to
delivery_messages and deliveries.message is left empty (dropping the column would mean
rebuilding a table that others reference with ON DELETE CASCADE).

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
    op.create_table(
        "delivery_messages",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.execute(
        "INSERT INTO delivery_messages (delivery_id, message) SELECT id, message FROM deliveries"
    )
    op.execute(sa.text("UPDATE deliveries SET message = :empty").bindparams(empty=b""))


def downgrade() -> None:
    op.execute(
        "UPDATE deliveries SET message = (SELECT message FROM delivery_messages "
        "WHERE delivery_messages.delivery_id = deliveries.id)"
    )
    op.drop_table("delivery_messages")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("interrupted")
        batch.drop_column("sending_at")
