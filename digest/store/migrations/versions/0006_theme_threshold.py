"""themes.threshold: the threshold in force when a theme's items were last tagged

`digest themes diff` compares each stored score with the threshold it was judged by, so
that raising or lowering a threshold shows which items would leave or join the theme.
Existing rows get NULL: the diff then uses the current threshold, as before.

Revision ID: 0006_theme_threshold
Revises: 0005_drop_delivery_message
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_theme_threshold"
down_revision = "0005_drop_delivery_message"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("themes", sa.Column("threshold", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("themes", schema=None) as batch_op:
        batch_op.drop_column("threshold")
