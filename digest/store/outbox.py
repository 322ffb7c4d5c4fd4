"""The outbox: every message is stored before it is sent, then marked with how it went.

A message's key (kind, subscriber, period) is unique, so composing the same digest twice
queues it once; the window of a subscriber advances only when their digest is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from digest.store.base import StoreBase
from digest.store.schema import deliveries, delivery_items, subscribers


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    key: str
    kind: str
    subscriber_id: int
    recipient: str
    subject: str
    message_id: str
    message: bytes
    status: str
    attempts: int
    window_start: datetime
    window_end: datetime
    queued_at: datetime
    sent_at: datetime | None
    last_error: str | None
    server_reply: str | None


class OutboxMixin(StoreBase):
    def queue_message(
        self,
        *,
        key: str,
        kind: str,
        subscriber_id: int,
        recipient: str,
        window_start: datetime,
        window_end: datetime,
        subject: str,
        message_id: str,
        message: bytes,
        item_ids: Sequence[int],
        now: datetime,
    ) -> int | None:
        """Queue a message and the items it carries; None if its key is already queued."""
        with self.write() as conn:
            stmt = self.insert(deliveries).values(
                key=key,
                kind=kind,
                subscriber_id=subscriber_id,
                recipient=recipient,
                window_start=window_start,
                window_end=window_end,
                subject=subject,
                message_id=message_id,
                message=message,
                status="queued",
                attempts=0,
                queued_at=now,
            )
            result = conn.execute(stmt.on_conflict_do_nothing(index_elements=[deliveries.c.key]))
            if not result.rowcount:
                return None
            delivery_id = conn.execute(
                select(deliveries.c.id).where(deliveries.c.key == key)
            ).scalar_one()
            if item_ids:
                conn.execute(
                    delivery_items.insert(),
                    [
                        {
                            "delivery_id": delivery_id,
                            "item_id": item_id,
                            "subscriber_id": subscriber_id,
                        }
                        for item_id in dict.fromkeys(item_ids)
                    ],
                )
            return int(delivery_id)

    def due_messages(self, now: datetime, *, limit: int = 1000) -> list[OutboxMessage]:
        """Queued messages whose next attempt is due, oldest first."""
        query = (
            select(deliveries)
            .where(deliveries.c.status == "queued")
            .where(or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.read() as conn:
            return [_message(row._mapping) for row in conn.execute(query)]

    def list_messages(self, *, status: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self.read() as conn:
            return [_message(row._mapping) for row in conn.execute(query)]

    def mark_sent(self, delivery_id: int, reply: str, now: datetime) -> None:
        """Record that the backend accepted the message; a digest advances the window."""
        with self.write() as conn:
            row = conn.execute(
                select(
                    deliveries.c.kind, deliveries.c.subscriber_id, deliveries.c.window_end
                ).where(deliveries.c.id == delivery_id)
            ).one()
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    status="sent",
                    sent_at=now,
                    server_reply=reply,
                    last_error=None,
                    attempts=deliveries.c.attempts + 1,
                    next_attempt_at=None,
                )
            )
            if row.kind == "digest":
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == row.subscriber_id)
                    .where(
                        or_(
                            subscribers.c.last_digest_at.is_(None),
                            subscribers.c.last_digest_at < row.window_end,
                        )
                    )
                    .values(last_digest_at=row.window_end)
                )

    def mark_failed(
        self, delivery_id: int, error: str, now: datetime, *, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retried at `retry_at`, or failed for good if None."""
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + 1,
            "last_error": error,
            "next_attempt_at": retry_at,
        }
        if retry_at is None:
            values["status"] = "failed"
        with self.write() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def requeue_failed(self) -> int:
        """Queue every failed message again; returns how many."""
        with self.write() as conn:
            return int(
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.status == "failed")
                    .values(status="queued", next_attempt_at=None)
                ).rowcount
            )

    def count_messages(self) -> dict[str, int]:
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        with self.read() as conn:
            return {status: int(n) for status, n in conn.execute(query)}


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        subscriber_id=row["subscriber_id"],
        recipient=row["recipient"],
        subject=row["subject"],
        message_id=row["message_id"],
        message=row["message"],
        status=row["status"],
        attempts=row["attempts"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        queued_at=row["queued_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        server_reply=row["server_reply"],
    )
