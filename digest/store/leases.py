"""Leases: a named lock with an expiry, so two processes never do the same job at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update

from digest.store.base import StoreBase
from digest.store.schema import leases


class LeasesMixin(StoreBase):
    def acquire_lease(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease `name` for `owner`; False if another owner holds it."""
        with self.write() as conn:
            taken = conn.execute(
                update(leases)
                .where(leases.c.name == name)
                .where(or_(leases.c.owner == owner, leases.c.expires_at <= now))
                .values(owner=owner, expires_at=now + ttl)
            ).rowcount
            if taken:
                return True
            stmt = self.insert(leases).values(name=name, owner=owner, expires_at=now + ttl)
            # RETURNING, not rowcount: PostgreSQL's rowcount for a skipped
            # ON CONFLICT DO NOTHING is not reliably zero through SQLAlchemy.
            inserted = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=[leases.c.name]).returning(leases.c.name)
            ).first()
            return inserted is not None

    def release_lease(self, name: str, owner: str) -> None:
        with self.write() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))
