"""Subscribers: synced from config.toml, added by the CLI or the preference center.

Besides preferences, a row keeps the reader's place in time: the slot of their next digest
(`next_digest_at`, from their cadence in their zone), the end of their last delivered
digest, and how far alerts have looked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from digest.cadence import next_digest_time
from digest.errors import NotFoundError, SubscriptionError
from digest.models import Alerts, Subscriber
from digest.store.base import StoreBase
from digest.store.schema import deliveries, subscribers

STATUSES = ("active", "paused", "unsubscribed")
# The preferences a sync or an update writes; state columns (status, times) are not here.
PREFERENCES = (
    "email",
    "name",
    "themes",
    "cadence",
    "timezone",
    "max_items",
    "min_score",
    "alert_themes",
    "alert_threshold",
    "alert_daily_cap",
    "alert_repeat_in_digest",
    "quiet_hours",
)


def subscriber_values(sub: Subscriber) -> dict[str, Any]:
    """The columns a Subscriber's preferences map to."""
    return {
        "email": sub.email,
        "name": sub.name,
        "themes": list(sub.themes),
        "cadence": sub.cadence,
        "timezone": sub.timezone,
        "max_items": sub.max_items,
        "min_score": sub.min_score,
        "alert_themes": list(sub.alerts.themes),
        "alert_threshold": sub.alerts.threshold,
        "alert_daily_cap": sub.alerts.daily_cap,
        "alert_repeat_in_digest": sub.alerts.repeat_in_digest,
        "quiet_hours": sub.quiet_hours,
    }


def next_slot(
    cadence: str, zone: str, now: datetime, previous: datetime | None = None
) -> datetime | None:
    """The next digest slot; None (due at once) if the cadence cannot be read."""
    try:
        return next_digest_time(cadence, zone, now=now, previous=previous)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None


class SubscribersMixin(StoreBase):
    def sync_subscribers(self, configured: Iterable[Subscriber], now: datetime) -> None:
        """Add and update config.toml's subscribers.

        An address that unsubscribed is never touched: only its owner can come back.
        A reader who changed their preferences in the preference center keeps them.
        Config subscribers that left config.toml are paused, not deleted, so their
        history stays; they resume if they come back.
        """
        listed = list(configured)
        with self.write(exclusive=True) as conn:  # two processes may start at once
            existing = {row.email.lower(): row for row in conn.execute(select(subscribers)).all()}
            for sub in listed:
                row = existing.get(sub.email.lower())
                if row is None:
                    conn.execute(
                        subscribers.insert().values(
                            **_new_row(sub, origin="config", now=now),
                        )
                    )
                elif row.status != "unsubscribed" and row.origin != "web":
                    values = _changes(row._mapping, sub, now)
                    if row.origin != "config":
                        values["origin"] = "config"  # config.toml now speaks for it
                    if row.status == "paused" and row.paused_by == "config":
                        values.update(_resumed(row._mapping, now))
                    if values:
                        conn.execute(
                            update(subscribers)
                            .where(subscribers.c.id == row.id)
                            .values(**values, updated_at=now)
                        )
            emails = {sub.email.lower() for sub in listed}
            for email, row in existing.items():
                if email not in emails and row.origin == "config" and row.status == "active":
                    conn.execute(
                        update(subscribers)
                        .where(subscribers.c.id == row.id)
                        .values(status="paused", paused_by="config", updated_at=now)
                    )

    def add_subscriber(self, sub: Subscriber, *, origin: str, now: datetime) -> Subscriber:
        """Store a new subscriber added by the CLI ("cli") or the preference center ("web").

        An address that unsubscribed cannot be added again this way: only its owner can
        come back, through `set_status(..., by_owner=True)` from the preference center.
        """
        with self.write() as conn:
            row = conn.execute(
                select(subscribers.c.id, subscribers.c.status).where(
                    func.lower(subscribers.c.email) == sub.email.lower()
                )
            ).first()
            if row is not None:
                if row.status == "unsubscribed":
                    raise SubscriptionError(
                        f"{sub.email} unsubscribed and cannot be subscribed again by anyone "
                        "but its owner.",
                        hint="The owner can subscribe again from the preference center.",
                    )
                raise SubscriptionError(
                    f"{sub.email} is already subscribed"
                    + (" (paused)." if row.status == "paused" else "."),
                    hint=f"'digest subscribers update {sub.email}' changes their settings"
                    + (
                        f"; 'digest subscribers resume {sub.email}' resumes them."
                        if row.status == "paused"
                        else "."
                    ),
                )
            subscriber_id = conn.execute(
                subscribers.insert().values(**_new_row(sub, origin=origin, now=now))
            ).inserted_primary_key[0]  # type: ignore[index]
        return self.get_subscriber(int(subscriber_id))

    def update_subscriber(
        self, subscriber_id: int, changed: Subscriber, *, now: datetime, origin: str | None = None
    ) -> Subscriber:
        """Save a subscriber's new preferences (everything but status and history).

        A new cadence or time zone moves the next digest to the new schedule. Passing
        origin="web" marks the row as the reader's own choice, which a later config sync
        leaves alone.
        """
        with self.write() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            if row is None:
                raise NotFoundError(f"No subscriber {subscriber_id}.")
            values = _changes(row._mapping, changed, now)
            values["updated_at"] = now
            if origin is not None:
                values["origin"] = origin
            conn.execute(
                update(subscribers).where(subscribers.c.id == subscriber_id).values(**values)
            )
        return self.get_subscriber(subscriber_id)

    def set_status(
        self, subscriber_id: int, status: str, *, now: datetime, by_owner: bool = False
    ) -> Subscriber:
        """Pause, resume or unsubscribe. Leaving "unsubscribed" needs the owner (by_owner).

        A resumed reader's next digest comes at their next slot, and alerts start afresh
        rather than catching up on the pause.
        """
        if status not in STATUSES:
            raise SubscriptionError(
                f'"{status}" is not a status; expected one of {", ".join(STATUSES)}.'
            )
        current = self.get_subscriber(subscriber_id)
        if current.status == "unsubscribed" and status != "unsubscribed" and not by_owner:
            raise SubscriptionError(
                f"{current.email} unsubscribed; only its owner can subscribe again.",
                hint="The owner can subscribe again from the preference center.",
            )
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == "paused":
            values["paused_by"] = "owner" if by_owner else "operator"
        if status == "active" and current.status != "active":
            with self.read() as conn:
                row = conn.execute(
                    select(subscribers).where(subscribers.c.id == subscriber_id)
                ).one()
            values.update(_resumed(row._mapping, now))
        if by_owner and status == "active":
            values["origin"] = "web"  # their choice now outranks config.toml
        with self.write() as conn:
            conn.execute(
                update(subscribers).where(subscribers.c.id == subscriber_id).values(**values)
            )
        return self.get_subscriber(subscriber_id)

    def list_subscribers(self, *, status: str | None = None) -> list[Subscriber]:
        query = select(subscribers).order_by(subscribers.c.id)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.read() as conn:
            return [_subscriber(row._mapping) for row in conn.execute(query)]

    def get_subscriber(self, key: str | int) -> Subscriber:
        """A subscriber by id, email (any case) or, failing those, unique name."""
        column = subscribers.c.id if isinstance(key, int) else func.lower(subscribers.c.email)
        value = key if isinstance(key, int) else key.lower()
        with self.read() as conn:
            row = conn.execute(select(subscribers).where(column == value)).first()
            if row is None and isinstance(key, str):
                rows = conn.execute(
                    select(subscribers).where(func.lower(subscribers.c.name) == key.lower())
                ).all()
                row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise NotFoundError(
                f"No subscriber '{key}'.", hint="'digest subscribers list' shows who there is."
            )
        return _subscriber(row._mapping)

    # -- the schedule ---------------------------------------------------------------------

    def due_subscribers(self, now: datetime, *, limit: int | None = None) -> list[Subscriber]:
        """Active subscribers whose next digest slot has come, earliest slot first."""
        query = (
            select(subscribers)
            .where(subscribers.c.status == "active")
            .where(or_(subscribers.c.next_digest_at.is_(None), subscribers.c.next_digest_at <= now))
            .order_by(subscribers.c.next_digest_at, subscribers.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [_subscriber(row._mapping) for row in conn.execute(query)]

    def advance_digest(
        self, subscriber_id: int, slot: datetime | None, next_at: datetime | None
    ) -> bool:
        """Move a subscriber from the slot just served to the next one.

        It only moves if the slot is still `slot`, so two processes serving the same slot
        advance it once; returns whether this call moved it.
        """
        same_slot = (
            subscribers.c.next_digest_at.is_(None)
            if slot is None
            else subscribers.c.next_digest_at == slot
        )
        with self.write() as conn:
            moved = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, same_slot)
                .values(next_digest_at=next_at)
            ).rowcount
        return bool(moved)

    # -- alerts ---------------------------------------------------------------------------

    def alert_subscribers(self, now: datetime, *, held_only: bool = False) -> list[Subscriber]:
        """Active subscribers with alerts on; with held_only, those whose quiet hours ended."""
        query = (
            select(subscribers)
            .where(subscribers.c.status == "active", subscribers.c.alert_daily_cap > 0)
            .order_by(subscribers.c.id)
        )
        if held_only:
            query = query.where(subscribers.c.alerts_held_until <= now)
        with self.read() as conn:
            found = [_subscriber(row._mapping) for row in conn.execute(query)]
        return [s for s in found if s.alerts.themes]

    def record_alert_check(
        self, subscriber_id: int, *, checked_at: datetime | None, held_until: datetime | None
    ) -> None:
        """Remember how far alerts have looked (None: unchanged) and whether some wait."""
        values: dict[str, Any] = {"alerts_held_until": held_until}
        if checked_at is not None:
            values["alerts_checked_at"] = checked_at
        with self.write() as conn:
            conn.execute(
                update(subscribers).where(subscribers.c.id == subscriber_id).values(**values)
            )

    def alert_times(
        self, subscriber_ids: Sequence[int], since: datetime
    ) -> dict[int, list[datetime]]:
        """When each subscriber's alerts (not failed ones) were queued since `since`."""
        found: dict[int, list[datetime]] = {}
        ids = list(dict.fromkeys(subscriber_ids))
        with self.read() as conn:
            for start in range(0, len(ids), 500):
                query = select(deliveries.c.subscriber_id, deliveries.c.queued_at).where(
                    and_(
                        deliveries.c.subscriber_id.in_(ids[start : start + 500]),
                        deliveries.c.queued_at > since,
                        deliveries.c.kind == "alert",
                        deliveries.c.status != "failed",
                    )
                )
                for subscriber_id, queued_at in conn.execute(query):
                    found.setdefault(subscriber_id, []).append(queued_at)
        return found


def _new_row(sub: Subscriber, *, origin: str, now: datetime) -> dict[str, Any]:
    return {
        **subscriber_values(sub),
        "status": "active",
        "origin": origin,
        "created_at": now,
        "updated_at": now,
        "next_digest_at": now,  # a new reader's first digest is due at once
        "alerts_checked_at": now,  # and alerts cover what arrives from now on
    }


def _changes(row: Any, sub: Subscriber, now: datetime) -> dict[str, Any]:
    """The preference columns that differ, plus a new next slot if the schedule changed."""
    values = subscriber_values(sub)
    changed = {name: values[name] for name in PREFERENCES if row[name] != values[name]}
    if ("cadence" in changed or "timezone" in changed) and (
        row["next_digest_at"] is not None and row["next_digest_at"] > now
    ):
        # A slot already due stays due; a future one moves to the new schedule.
        changed["next_digest_at"] = next_slot(sub.cadence, sub.timezone, now)
    return changed


def _resumed(row: Any, now: datetime) -> dict[str, Any]:
    """Coming back from a pause: the next slot from now, alerts from now on."""
    slot = (
        next_slot(row["cadence"], row["timezone"], now)
        if row["last_digest_at"] is not None
        else now
    )
    return {
        "status": "active",
        "paused_by": None,
        "next_digest_at": slot,
        "alerts_checked_at": now,
        "alerts_held_until": None,
    }


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        themes=tuple(row["themes"]),
        cadence=row["cadence"],
        timezone=row["timezone"],
        max_items=row["max_items"],
        min_score=row["min_score"],
        alerts=Alerts(
            tuple(row["alert_themes"]),
            row["alert_threshold"],
            row["alert_daily_cap"],
            bool(row["alert_repeat_in_digest"]),
        ),
        quiet_hours=row["quiet_hours"],
        status=row["status"],
        last_digest_at=row["last_digest_at"],
        origin=row["origin"],
        next_digest_at=row["next_digest_at"],
        alerts_checked_at=row["alerts_checked_at"],
        alerts_held_until=row["alerts_held_until"],
    )


__all__ = ["SubscribersMixin", "subscriber_values", "next_slot", "STATUSES"]
