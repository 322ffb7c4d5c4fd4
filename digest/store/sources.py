"""Sources: their configuration mirror and the health of their last checks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from digest.errors import NotFoundError
from digest.models import Source
from digest.store.base import StoreBase
from digest.store.schema import items, sources


class SourcesMixin(StoreBase):
    def sync_sources(self, configured: Iterable[tuple[str, str, str, str]], now: datetime) -> None:
        """Mirror config.toml's sources (id, kind, location, title), keeping their health.

        A source dropped from config is kept, with its items, marked as not configured.
        """
        rows = list(configured)
        with self.write() as conn:
            conn.execute(update(sources).values(in_config=False))
            for source_id, kind, location, title in rows:
                stmt = self.insert(sources).values(
                    id=source_id,
                    kind=kind,
                    location=location,
                    title=title,
                    status="active",
                    error_count=0,
                    in_config=True,
                    created_at=now,
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[sources.c.id],
                        set_={
                            "kind": kind,
                            "location": location,
                            "title": title,
                            "in_config": True,
                        },
                    )
                )

    def list_sources(self, *, configured_only: bool = True) -> list[Source]:
        counts = (
            select(items.c.source_id, func.count().label("n"))
            .group_by(items.c.source_id)
            .subquery()
        )
        query = (
            select(sources, func.coalesce(counts.c.n, 0).label("item_count"))
            .outerjoin(counts, counts.c.source_id == sources.c.id)
            .order_by(sources.c.id)
        )
        if configured_only:
            query = query.where(sources.c.in_config.is_(True))
        with self.read() as conn:
            return [_source(row._mapping) for row in conn.execute(query)]

    def get_source(self, source_id: str) -> Source:
        for source in self.list_sources(configured_only=False):
            if source.id == source_id:
                return source
        raise NotFoundError(f"No source '{source_id}'.", hint="'digest sources' lists the sources.")

    def record_check(
        self,
        source_id: str,
        now: datetime,
        *,
        next_check_at: datetime,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
        status: str | None = None,
    ) -> None:
        """Record how a check went: success resets the error count, an error adds to it."""
        values: dict[str, Any] = {"last_checked_at": now, "next_check_at": next_check_at}
        if error is None:
            values.update(last_success_at=now, last_error=None, error_count=0)
            if etag is not None:
                values["etag"] = etag
            if last_modified is not None:
                values["last_modified"] = last_modified
        else:
            values.update(last_error=error, error_count=sources.c.error_count + 1)
        if title:
            values["title"] = title
        if status is not None:
            values["status"] = status
        with self.write() as conn:
            conn.execute(update(sources).where(sources.c.id == source_id).values(**values))

    def set_source_status(self, source_id: str, status: str) -> None:
        with self.write() as conn:
            result = conn.execute(
                update(sources).where(sources.c.id == source_id).values(status=status)
            )
        if result.rowcount == 0:
            raise NotFoundError(f"No source '{source_id}'.")


def _source(row: Any) -> Source:
    return Source(
        id=row["id"],
        kind=row["kind"],
        location=row["location"],
        title=row["title"],
        status=row["status"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_checked_at=row["last_checked_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        error_count=row["error_count"],
        next_check_at=row["next_check_at"],
        item_count=row["item_count"],
    )
