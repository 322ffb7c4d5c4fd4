"""Claims: which worker sends which queued message, when many send at once.

A worker claims a message by marking its attempt as started (`sending_at`) in one
conditional UPDATE; a claim older than `stale_before` belongs to a worker that died (or
hung) and may be taken over, and the takeover is counted in `interrupted`, because the
server may have accepted the first attempt. On PostgreSQL the candidates are picked with
`FOR UPDATE SKIP LOCKED`, so concurrent claimers pass each other instead of queueing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, select, update

from digest.store import dialects
from digest.store.base import StoreBase
from digest.store.outbox import _WITH_BODY, OutboxMessage, _message
from digest.store.schema import deliveries


def _claimable(now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    return and_(
        deliveries.c.status == "queued",
        or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        or_(deliveries.c.sending_at.is_(None), deliveries.c.sending_at < stale_before),
    )


class ClaimsMixin(StoreBase):
    def message_id_for_key(self, key: str) -> int | None:
        """The outbox id of the message queued under `key`, if any."""
        with self.read() as conn:
            found = conn.execute(select(deliveries.c.id).where(deliveries.c.key == key)).scalar()
            return None if found is None else int(found)

    def claim_messages(
        self,
        now: datetime,
        stale_before: datetime,
        *,
        ids: Sequence[int] | None = None,
        limit: int = 100,
    ) -> list[OutboxMessage]:
        """Claim due queued messages nobody is sending (only `ids` if given), oldest first."""
        conditions = _claimable(now, stale_before)
        pick = select(deliveries.c.id).where(conditions).order_by(deliveries.c.id).limit(limit)
        if ids is not None:
            pick = pick.where(deliveries.c.id.in_(list(ids)))
        pick = dialects.skip_locked(self.dialect, pick)
        with self.write() as conn:
            claimed = [
                int(i)
                for i in conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(pick.scalar_subquery()), conditions)
                    .values(
                        sending_at=now,
                        interrupted=deliveries.c.interrupted
                        + case((deliveries.c.sending_at.is_(None), 0), else_=1),
                    )
                    .returning(deliveries.c.id)
                ).scalars()
            ]
            if not claimed:
                return []
            rows = conn.execute(
                _WITH_BODY.where(deliveries.c.id.in_(claimed)).order_by(deliveries.c.id)
            )
            return [_message(row._mapping) for row in rows]

    def message_state(self, delivery_id: int) -> str | None:
        """ "sending" (queued and claimed), "queued", "sent", "failed"; None if unknown."""
        query = select(deliveries.c.status, deliveries.c.sending_at).where(
            deliveries.c.id == delivery_id
        )
        with self.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return "sending" if row.status == "queued" and row.sending_at else str(row.status)

    def sendable_message_ids(
        self, now: datetime, stale_before: datetime, *, limit: int = 1000
    ) -> list[int]:
        """Due queued messages that no live worker is sending: what a sweep hands out."""
        query = (
            select(deliveries.c.id)
            .where(_claimable(now, stale_before))
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.read() as conn:
            return [int(i) for i in conn.execute(query).scalars()]
