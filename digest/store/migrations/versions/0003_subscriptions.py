"""subscriptions: next digest slot, alert state, who paused

Revision ID: 0003_subscriptions
Revises: 0004_delivery
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import digest.store.schema

revision = "0003_subscriptions"
down_revision = "0004_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_digest_at", digest.store.schema.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "alert_repeat_in_digest",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.add_column(
            sa.Column(
                "alerts_checked_at", digest.store.schema.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "alerts_held_until", digest.store.schema.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("paused_by", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_subscribers_due", ["status", "next_digest_at"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_subscriber_queued", ["subscriber_id", "queued_at"], unique=False
        )
    _schedule_existing_subscribers()


def _schedule_existing_subscribers() -> None:
    """Give readers who already had a digest their next slot; the others stay due at once."""
    from digest.cadence import next_digest_time

    subscribers = sa.table(
        "subscribers",
        sa.column("id", sa.Integer()),
        sa.column("cadence", sa.String()),
        sa.column("timezone", sa.String()),
        sa.column("last_digest_at", digest.store.schema.UTCDateTime()),
        sa.column("next_digest_at", digest.store.schema.UTCDateTime()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            subscribers.c.id,
            subscribers.c.cadence,
            subscribers.c.timezone,
            subscribers.c.last_digest_at,
        ).where(subscribers.c.last_digest_at.is_not(None))
    ).all()
    for row in rows:
        try:
            slot = next_digest_time(row.cadence, row.timezone, now=row.last_digest_at)
        except (ValueError, KeyError):
            continue  # an unreadable cadence stays due at once; sync or the CLI will fix it
        conn.execute(
            sa.update(subscribers).where(subscribers.c.id == row.id).values(next_digest_at=slot)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_subscriber_queued")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_due")
        batch_op.drop_column("paused_by")
        batch_op.drop_column("alerts_held_until")
        batch_op.drop_column("alerts_checked_at")
        batch_op.drop_column("alert_repeat_in_digest")
        batch_op.drop_column("next_digest_at")
