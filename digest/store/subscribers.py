"""Subscribers: synced from config.toml, added by the CLI or the preference center."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from digest.errors import NotFoundError, SubscriptionError
from digest.models import Alerts, Subscriber
from digest.store.base import StoreBase
from digest.store.schema import subscribers


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
        "quiet_hours": sub.quiet_hours,
    }


class SubscribersMixin(StoreBase):
    def sync_subscribers(self, configured: Iterable[Subscriber], now: datetime) -> None:
        """Add and update config.toml's subscribers.

        An address that unsubscribed is never touched: only its owner can come back.
        A reader who changed their preferences in the preference center keeps them.
        Config subscribers that left config.toml are paused, not deleted, so their
        history stays.
        """
        listed = list(configured)
        with self.write() as conn:
            existing = {
                row.email.lower(): row
                for row in conn.execute(
                    select(
                        subscribers.c.id,
                        subscribers.c.email,
                        subscribers.c.status,
                        subscribers.c.origin,
                    )
                )
            }
            for sub in listed:
                row = existing.get(sub.email.lower())
                if row is None:
                    conn.execute(
                        subscribers.insert().values(
                            **subscriber_values(sub),
                            status="active",
                            origin="config",
                            created_at=now,
                            updated_at=now,
                        )
                    )
                elif row.status != "unsubscribed" and row.origin == "config":
                    conn.execute(
                        update(subscribers)
                        .where(subscribers.c.id == row.id)
                        .values(
                            **subscriber_values(sub),
                            status="active",
                            updated_at=now,
                        )
                    )
            emails = {sub.email.lower() for sub in listed}
            for email, row in existing.items():
                if email not in emails and row.origin == "config" and row.status == "active":
                    conn.execute(
                        update(subscribers)
                        .where(subscribers.c.id == row.id)
                        .values(
                            status="paused",
                            updated_at=now,
                        )
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
                    f"{sub.email} is already subscribed.",
                    hint=f"'digest subscribers update {sub.email}' changes their settings.",
                )
            subscriber_id = conn.execute(
                subscribers.insert().values(
                    **subscriber_values(sub),
                    status="active",
                    origin=origin,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return self.get_subscriber(int(subscriber_id))

    def update_subscriber(
        self, subscriber_id: int, changed: Subscriber, *, now: datetime, origin: str | None = None
    ) -> Subscriber:
        """Save a subscriber's new preferences (everything but status and history).

        Passing origin="web" marks the row as the reader's own choice, which a later
        config sync leaves alone.
        """
        values = subscriber_values(changed)
        values.update(updated_at=now)
        if origin is not None:
            values["origin"] = origin
        with self.write() as conn:
            found = conn.execute(
                update(subscribers).where(subscribers.c.id == subscriber_id).values(**values)
            ).rowcount
        if not found:
            raise NotFoundError(f"No subscriber {subscriber_id}.")
        return self.get_subscriber(subscriber_id)

    def set_status(
        self, subscriber_id: int, status: str, *, now: datetime, by_owner: bool = False
    ) -> Subscriber:
        """Pause, resume or unsubscribe. Leaving "unsubscribed" needs the owner (by_owner)."""
        current = self.get_subscriber(subscriber_id)
        if current.status == "unsubscribed" and status != "unsubscribed" and not by_owner:
            raise SubscriptionError(
                f"{current.email} unsubscribed; only its owner can subscribe again.",
                hint="The owner can subscribe again from the preference center.",
            )
        values: dict[str, Any] = {"status": status, "updated_at": now}
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
        alerts=Alerts(tuple(row["alert_themes"]), row["alert_threshold"], row["alert_daily_cap"]),
        quiet_hours=row["quiet_hours"],
        status=row["status"],
        last_digest_at=row["last_digest_at"],
        origin=row["origin"],
    )
