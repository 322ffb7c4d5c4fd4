"""What the web pages read that no other part of digest needs: delivery history at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from digest.store.base import StoreBase
from digest.store.schema import deliveries


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """One message to a subscriber, without its bytes."""

    id: int
    subscriber_id: int
    kind: str
    subject: str
    status: str
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    last_error: str | None


_COLUMNS = (
    deliveries.c.id,
    deliveries.c.subscriber_id,
    deliveries.c.kind,
    deliveries.c.subject,
    deliveries.c.status,
    deliveries.c.attempts,
    deliveries.c.queued_at,
    deliveries.c.sent_at,
    deliveries.c.last_error,
)


class WebMixin(StoreBase):
    def last_deliveries(self) -> dict[int, DeliverySummary]:
        """Each subscriber's most recent message (any kind, any status), by subscriber id."""
        latest = (
            select(func.max(deliveries.c.id).label("id"))
            .group_by(deliveries.c.subscriber_id)
            .subquery()
        )
        query = select(*_COLUMNS).join(latest, latest.c.id == deliveries.c.id)
        with self.read() as conn:
            rows = conn.execute(query).all()
        return {row.subscriber_id: DeliverySummary(*row) for row in rows}

    def deliveries_for(self, subscriber_id: int, *, limit: int = 10) -> list[DeliverySummary]:
        """A subscriber's messages, newest first."""
        query = (
            select(*_COLUMNS)
            .where(deliveries.c.subscriber_id == subscriber_id)
            .order_by(deliveries.c.id.desc())
            .limit(limit)
        )
        with self.read() as conn:
            return [DeliverySummary(*row) for row in conn.execute(query)]
