"""Sources: config.toml's mirror, the feeds added from the CLI, and the health of checks.

A row's `origin` says where it comes from: "config" rows mirror config.toml (and are
hidden, items kept, when config.toml drops them); "cli" and "opml" rows were added with
`digest sources add` or `import` and live only here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update

from digest.errors import NotFoundError, SourceError
from digest.models import Source
from digest.store.base import StoreBase
from digest.store.schema import items, sources

_SHOWN = or_(sources.c.in_config.is_(True), sources.c.origin != "config")


class SourcesMixin(StoreBase):
    def sync_sources(self, configured: Iterable[tuple[str, str, str, str]], now: datetime) -> None:
        """Mirror config.toml's sources (id, kind, location, title), keeping their health.

        A source dropped from config is kept, with its items, marked as not configured.
        A title equal to the id means config.toml gave none: the feed's own title stays.
        When config.toml changes a feed's address, a remembered redirect is forgotten.
        """
        rows = list(configured)
        with self.write() as conn:
            conn.execute(
                update(sources).where(sources.c.origin == "config").values(in_config=False)
            )
            for source_id, kind, location, title in rows:
                stmt = self.insert(sources).values(
                    id=source_id,
                    kind=kind,
                    location=location,
                    title=title,
                    status="active",
                    error_count=0,
                    in_config=True,
                    origin="config",
                    created_at=now,
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[sources.c.id],
                        set_={
                            "kind": kind,
                            "location": location,
                            "title": case((sources.c.title != "", sources.c.title), else_=title)
                            if title == source_id
                            else title,
                            "moved_to": case(
                                (sources.c.location == location, sources.c.moved_to), else_=None
                            ),
                            "in_config": True,
                            "origin": "config",
                        },
                    )
                )

    def list_sources(self, *, configured_only: bool = True) -> list[Source]:
        """Sources with their item counts: those in config.toml or added, or all of them."""
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
            query = query.where(_SHOWN)
        with self.read() as conn:
            return [_source(row._mapping) for row in conn.execute(query)]

    def find_source(self, source_id: str) -> Source | None:
        count = select(func.count()).where(items.c.source_id == source_id).scalar_subquery()
        with self.read() as conn:
            row = conn.execute(
                select(sources, count.label("item_count")).where(sources.c.id == source_id)
            ).first()
        return _source(row._mapping) if row is not None else None

    def get_source(self, source_id: str) -> Source:
        found = self.find_source(source_id)
        if found is None:
            raise NotFoundError(
                f"No source '{source_id}'.", hint="'digest sources' lists the sources."
            )
        return found

    def source_states(self) -> dict[str, Source]:
        """Every source's stored state by id, in one query (item counts left at 0)."""
        with self.read() as conn:
            rows = conn.execute(select(sources)).all()
        return {row.id: _source({**row._mapping, "item_count": 0}) for row in rows}

    def due_sources(self, now: datetime, *, limit: int | None = None) -> list[str]:
        """Ids of shown, active sources whose next check has come, the longest-waiting first."""
        query = (
            select(sources.c.id)
            .where(
                _SHOWN,
                sources.c.status == "active",
                or_(sources.c.next_check_at.is_(None), sources.c.next_check_at <= now),
            )
            .order_by(sources.c.next_check_at.is_not(None), sources.c.next_check_at, sources.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return list(conn.execute(query).scalars())

    def record_check(
        self,
        source_id: str,
        now: datetime,
        *,
        next_check_at: datetime | None,
        error: str | None = None,
        warning: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        title: str | None = None,
        status: str | None = None,
        moved_to: str | None = None,
    ) -> None:
        """Record how a check went: success resets the error count, an error adds to it.

        A permanent redirect (`moved_to`) replaces the address of a source added from the
        CLI; for a config.toml source it is remembered beside the configured address.
        """
        values: dict[str, Any] = {"last_checked_at": now, "next_check_at": next_check_at}
        if error is None:
            values.update(last_success_at=now, last_error=None, error_count=0)
            values["last_warning"] = warning
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
        if moved_to:
            config = sources.c.origin == "config"
            values["location"] = case((config, sources.c.location), else_=moved_to)
            values["moved_to"] = case((config, moved_to), else_=None)
        with self.write() as conn:
            conn.execute(update(sources).where(sources.c.id == source_id).values(**values))

    def add_source(
        self,
        source_id: str,
        url: str,
        *,
        title: str,
        origin: str,
        now: datetime,
        interval_minutes: int | None = None,
    ) -> Source:
        """Store a feed added outside config.toml (`origin` "cli" or "opml").

        A hidden row of the same id (removed, or dropped from config.toml) is taken over;
        a shown one is an error.
        """
        if not url.lower().startswith(("http://", "https://")):
            raise SourceError(
                source_id,
                "only http(s) feeds can be added this way; put a local feed file in config.toml",
                url=url,
            )
        with self.write() as conn:
            existing = conn.execute(select(sources).where(sources.c.id == source_id)).first()
            fields = {
                "kind": "feed",
                "location": url,
                "title": title,
                "origin": origin,
                "in_config": False,
                "status": "active",
                "error_count": 0,
                "last_error": None,
                "last_warning": None,
                "moved_to": None,
                "etag": None,
                "last_modified": None,
                "next_check_at": None,
                "interval_minutes": interval_minutes,
            }
            if existing is None:
                conn.execute(sources.insert().values(id=source_id, created_at=now, **fields))
            elif existing.in_config or existing.origin != "config":
                raise SourceError(
                    source_id,
                    f"a source with this id already exists ({existing.location})",
                    hint="Choose another id with --id.",
                )
            else:
                conn.execute(update(sources).where(sources.c.id == source_id).values(**fields))
        return self.get_source(source_id)

    def remove_source(self, source_id: str) -> None:
        """Hide a source added from the CLI; its items stay, like those of a dropped config one."""
        source = self.get_source(source_id)
        if source.origin == "config":
            raise SourceError(
                source_id,
                "this source comes from config.toml",
                hint="Delete its [[sources]] entry from config.toml instead.",
            )
        with self.write() as conn:
            conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(origin="config", in_config=False)
            )

    def resume_source(self, source_id: str, now: datetime) -> Source:
        """Make a paused or disabled source active again, due at once, its errors forgotten."""
        with self.write() as conn:
            result = conn.execute(
                update(sources)
                .where(sources.c.id == source_id, _SHOWN)
                .values(status="active", error_count=0, next_check_at=now)
            )
        if result.rowcount == 0:
            raise NotFoundError(
                f"No source '{source_id}'.", hint="'digest sources' lists the sources."
            )
        return self.get_source(source_id)

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
        origin=row["origin"],
        moved_to=row["moved_to"],
        interval_minutes=row["interval_minutes"],
        last_warning=row["last_warning"],
    )
