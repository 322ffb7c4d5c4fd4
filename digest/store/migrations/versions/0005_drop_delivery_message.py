"""drop deliveries.message: the bytes have lived in delivery_messages since 0004_delivery

On SQLite dropping a column rebuilds the table (batch mode: copy, drop, rename), and
delivery_messages and delivery_items reference deliveries with ON DELETE CASCADE: the
drop would empty them if foreign keys were on. `dialects.migrating` turns them off around
every upgrade and runs `foreign_key_check` afterwards.

Revision ID: 0005_drop_delivery_message
Revises: 0002_ingestion
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_drop_delivery_message"
down_revision = "0002_ingestion"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("message")


def downgrade() -> None:
    # Back as the revisions before this one had it: NOT NULL and empty (the bytes stay in
    # delivery_messages). Added nullable, filled, then made NOT NULL, so that no dialect
    # needs a server default for a binary column.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.LargeBinary(), nullable=True))
    op.execute(sa.text("UPDATE deliveries SET message = :empty").bindparams(empty=b""))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.LargeBinary(), nullable=False)
