"""The outbox: every message is stored before it is sent, then marked with how it went.

A message's key (kind, subscriber, period) is unique, so composing the same digest twice
queues it once; the window of a subscriber advances only when their digest is accepted.
Each attempt is marked as started (`sending_at`) before the message goes to the server and
cleared when its outcome is recorded: one still marked when a sender starts was cut short
by a crash, and is sent again with the same bytes and Message-ID.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, or_, select, update
from sqlalchemy.exc import OperationalError

from digest.errors import StoreError
from digest.store.base import StoreBase
from digest.store.schema import (
    deliveries,
    delivery_items,
    delivery_messages,
    leases,
    subscribers,
)

# Every column of a delivery, with the message bytes from their own table.
_WITH_BODY = select(*deliveries.c, delivery_messages.c.message).select_from(
    deliveries.outerjoin(delivery_messages, delivery_messages.c.delivery_id == deliveries.c.id)
)

# The statements the sender runs for every message, built once with bound parameters:
# building an UPDATE and its cache key per call costs more CPU than SQLite's own work,
# and the sender runs one such transaction per message while the server competes for
# the same cores (see benchmarks/deliver.py).
_START_ATTEMPT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"), deliveries.c.status == "queued")
    .values(
        sending_at=bindparam("now", type_=deliveries.c.sending_at.type),
        interrupted=deliveries.c.interrupted
        + case((deliveries.c.sending_at.is_(None), 0), else_=1),
    )
)
_MARK_SENT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"))
    .values(
        status="sent",
        sent_at=bindparam("now", type_=deliveries.c.sent_at.type),
        server_reply=bindparam("reply"),
        last_error=None,
        attempts=deliveries.c.attempts + 1,
        next_attempt_at=None,
        sending_at=None,
    )
)
_ADVANCE_WINDOW = (
    update(subscribers)
    .where(subscribers.c.id == bindparam("subscriber_id"))
    .where(
        or_(
            subscribers.c.last_digest_at.is_(None),
            subscribers.c.last_digest_at
            < bindparam("window_end", type_=subscribers.c.last_digest_at.type),
        )
    )
    .values(last_digest_at=bindparam("window_end", type_=subscribers.c.last_digest_at.type))
)


def _mark_failed(*, failed: bool) -> Any:
    values: dict[str, Any] = {
        "attempts": deliveries.c.attempts + 1,
        "last_error": bindparam("error"),
        "next_attempt_at": bindparam("retry_at", type_=deliveries.c.next_attempt_at.type),
        "sending_at": None,
    }
    if failed:
        values["status"] = "failed"
    return update(deliveries).where(deliveries.c.id == bindparam("delivery_id")).values(**values)


_MARK_RETRY, _MARK_FAILED = _mark_failed(failed=False), _mark_failed(failed=True)


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
    next_attempt_at: datetime | None = None
    sending_at: datetime | None = None
    interrupted: int = 0


class OutboxMixin(StoreBase):
    _held: tuple[int, Connection] | None = None

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Hold one connection for this thread's per-message outbox writes (a sender's
        batch): each is still its own committed transaction, without a pool checkout."""
        if self._held is not None:
            yield
            return
        with self.engine.connect() as conn:
            self._held = (threading.get_ident(), conn)
            try:
                yield
            finally:
                self._held = None

    @contextmanager
    def _sender_write(self) -> Iterator[Connection]:
        """`write()`, on the held connection when this thread holds one."""
        held = self._held
        if held is None or held[0] != threading.get_ident():
            with self.write() as conn:
                yield conn
            return
        with self._write_lock:
            try:
                with held[1].begin():
                    yield held[1]
            except OperationalError as exc:
                raise StoreError(f"The database refused a write: {exc.orig}") from None

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
                status="queued",
                attempts=0,
                queued_at=now,
            )
            # RETURNING, not rowcount: on PostgreSQL the rowcount of a skipped
            # ON CONFLICT DO NOTHING is not reliably zero through SQLAlchemy.
            delivery_id = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=[deliveries.c.key]).returning(
                    deliveries.c.id
                )
            ).scalar_one_or_none()
            if delivery_id is None:
                return None
            conn.execute(
                delivery_messages.insert().values(delivery_id=delivery_id, message=message)
            )
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

    def due_messages(
        self,
        now: datetime,
        *,
        limit: int = 1000,
        after_id: int = 0,
        ids: Sequence[int] | None = None,
    ) -> list[OutboxMessage]:
        """Queued messages whose next attempt is due, oldest first (only `ids` if given)."""
        query = (
            _WITH_BODY.where(deliveries.c.status == "queued")
            .where(or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now))
            .where(deliveries.c.id > after_id)
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        with self.read() as conn:
            return [_message(row._mapping) for row in conn.execute(query)]

    def start_attempt(self, delivery_id: int, now: datetime) -> bool:
        """Mark an attempt as started; False if the message is no longer queued.

        An attempt already marked as started was cut short (the sender died): it is counted
        in `interrupted`, because the server may have accepted that one.
        """
        with self._sender_write() as conn:
            return bool(_start(conn, delivery_id, now))

    def abandon_attempt(self, delivery_id: int) -> None:
        """Unmark an attempt that is known not to have reached the backend, without
        counting it: the message is as it was before the attempt started."""
        with self._sender_write() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status == "queued")
                .values(sending_at=None)
            )

    def list_messages(
        self, *, status: str | None = None, limit: int = 100, bodies: bool = True
    ) -> list[OutboxMessage]:
        """Messages newest first; `bodies=False` leaves their bytes out (b"")."""
        base = _WITH_BODY if bodies else select(deliveries)
        query = base.order_by(deliveries.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self.read() as conn:
            return [_message(row._mapping) for row in conn.execute(query)]

    def mark_sent(
        self,
        delivery_id: int,
        reply: str,
        now: datetime,
        *,
        start_next: int | None = None,
        known: OutboxMessage | None = None,
    ) -> bool:
        """Record that the backend accepted the message; a digest advances the window.

        `start_next` also marks the next message's attempt as started, in the same
        transaction (one commit per message instead of two); returns whether it could.
        `known` is the message as loaded, which spares reading its kind and window again.
        """
        with self._sender_write() as conn:
            row = (
                known
                or conn.execute(
                    select(
                        deliveries.c.kind, deliveries.c.subscriber_id, deliveries.c.window_end
                    ).where(deliveries.c.id == delivery_id)
                ).one()
            )
            conn.execute(_MARK_SENT, {"delivery_id": delivery_id, "now": now, "reply": reply})
            if row.kind == "digest":
                conn.execute(
                    _ADVANCE_WINDOW,
                    {"subscriber_id": row.subscriber_id, "window_end": row.window_end},
                )
            if start_next is None:
                return False
            return bool(_start(conn, start_next, now))

    def mark_failed(
        self, delivery_id: int, error: str, now: datetime, *, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retried at `retry_at`, or failed for good if None."""
        with self._sender_write() as conn:
            conn.execute(
                _MARK_FAILED if retry_at is None else _MARK_RETRY,
                {"delivery_id": delivery_id, "error": error, "retry_at": retry_at},
            )

    def requeue_failed(self, ids: Sequence[int] | None = None) -> list[int]:
        """Queue failed messages again (all, or those of `ids`), attempts from zero: their ids.

        Only failed messages: a sent one is never queued again, so a retry sends no duplicate.
        """
        query = select(deliveries.c.id).where(deliveries.c.status == "failed")
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        with self.write() as conn:
            found = [int(i) for i in conn.execute(query).scalars()]
            if found:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(found))
                    .values(status="queued", next_attempt_at=None, attempts=0)
                )
            return found

    # The outbox's sender lease lives in the shared leases table; these two let a sender
    # see who holds it and take it over from a process that is known to be dead.

    def lease_owner(self, name: str) -> str | None:
        with self.read() as conn:
            owner = conn.execute(select(leases.c.owner).where(leases.c.name == name)).scalar()
            return None if owner is None else str(owner)

    def take_over_lease(
        self, name: str, old_owner: str, new_owner: str, expires_at: datetime
    ) -> bool:
        """Give the lease to `new_owner` if `old_owner` still holds it."""
        with self.write() as conn:
            return bool(
                conn.execute(
                    update(leases)
                    .where(leases.c.name == name, leases.c.owner == old_owner)
                    .values(owner=new_owner, expires_at=expires_at)
                ).rowcount
            )

    def count_messages(self) -> dict[str, int]:
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        with self.read() as conn:
            return {status: int(n) for status, n in conn.execute(query)}


def _start(conn: Any, delivery_id: int, now: datetime) -> int:
    return int(conn.execute(_START_ATTEMPT, {"delivery_id": delivery_id, "now": now}).rowcount)


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        subscriber_id=row["subscriber_id"],
        recipient=row["recipient"],
        subject=row["subject"],
        message_id=row["message_id"],
        message=row.get("message") or b"",
        status=row["status"],
        attempts=row["attempts"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        queued_at=row["queued_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        server_reply=row["server_reply"],
        next_attempt_at=row["next_attempt_at"],
        sending_at=row["sending_at"],
        interrupted=row["interrupted"],
    )
