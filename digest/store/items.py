"""Items and their tags: upserts that never duplicate, and the queries compose needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update

from digest.models import Entry, Evidence, Item, ThemeMatch
from digest.store.base import StoreBase
from digest.store.schema import deliveries, delivery_items, items, sources, tags, themes


@dataclass(slots=True)
class UpsertResult:
    """What an upsert did: ids of new and changed items, and how many were already known."""

    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item that could go into a subscriber's digest under one theme."""

    item: Item
    source_title: str
    theme: str
    score: float
    evidence: tuple[Evidence, ...]


class ItemsMixin(StoreBase):
    def upsert_entries(
        self, source_id: str, entries: Iterable[Entry], now: datetime
    ) -> UpsertResult:
        """Store a source's entries, matching known ones by guid, then link, then content.

        A known entry whose content changed is updated in place and keeps its first-seen
        time; an unchanged one is left alone, so re-reading a source changes nothing.
        """
        result = UpsertResult()
        with self.write() as conn:
            known = conn.execute(
                select(items.c.id, items.c.guid, items.c.url, items.c.content_hash).where(
                    items.c.source_id == source_id
                )
            ).all()
            by_guid = {row.guid: (row.id, row.content_hash) for row in known}
            by_url = {row.url: (row.id, row.content_hash) for row in known if row.url}
            by_hash = {row.content_hash: (row.id, row.content_hash) for row in known}
            for entry in entries:
                digest = entry.content_hash
                match = (
                    by_guid.get(entry.guid)
                    or (by_url.get(entry.url) if entry.url else None)
                    or by_hash.get(digest)
                )
                if match is None:
                    inserted = conn.execute(
                        items.insert().values(
                            source_id=source_id,
                            guid=entry.guid,
                            url=entry.url,
                            title=entry.title,
                            summary_html=entry.summary_html,
                            text=entry.text,
                            author=entry.author,
                            published_at=entry.published_at,
                            first_seen_at=now,
                            updated_at=now,
                            content_hash=digest,
                        )
                    )
                    item_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
                    result.new.append(item_id)
                    by_guid[entry.guid] = by_hash[digest] = (item_id, digest)
                    if entry.url:
                        by_url[entry.url] = (item_id, digest)
                elif match[1] != digest:
                    conn.execute(
                        update(items)
                        .where(items.c.id == match[0])
                        .values(
                            title=entry.title,
                            summary_html=entry.summary_html,
                            text=entry.text,
                            author=entry.author,
                            published_at=entry.published_at,
                            updated_at=now,
                            content_hash=digest,
                        )
                    )
                    result.updated.append(match[0])
                    by_guid[entry.guid] = by_hash[digest] = (match[0], digest)
                else:
                    result.unchanged += 1
        return result

    def get_items(self, item_ids: Sequence[int]) -> list[Item]:
        with self.read() as conn:
            rows = conn.execute(select(items).where(items.c.id.in_(list(item_ids)))).all()
        by_id = {row.id: _item(row._mapping) for row in rows}
        return [by_id[i] for i in item_ids if i in by_id]

    def iter_items(self, *, batch: int = 500) -> Iterator[Item]:
        """Every stored item, in id order, a batch at a time."""
        last = 0
        while True:
            with self.read() as conn:
                rows = conn.execute(
                    select(items).where(items.c.id > last).order_by(items.c.id).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _item(row._mapping)
            last = rows[-1].id

    def list_items(
        self, *, theme: str | None = None, source_id: str | None = None, limit: int = 50
    ) -> list[tuple[Item, list[ThemeMatch]]]:
        """Newest items first, optionally of one theme (tagged at any score) or source."""
        query = select(items).order_by(
            func.coalesce(items.c.published_at, items.c.first_seen_at).desc(), items.c.id.desc()
        )
        if theme is not None:
            query = query.where(
                exists().where(and_(tags.c.item_id == items.c.id, tags.c.theme == theme))
            )
        if source_id is not None:
            query = query.where(items.c.source_id == source_id)
        with self.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        found = [_item(row._mapping) for row in rows]
        matches = self.tags_for([item.id for item in found])
        return [(item, matches.get(item.id, [])) for item in found]

    def count_items(self) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())

    # -- tags -----------------------------------------------------------------------------

    def save_tags(
        self, results: Mapping[int, Sequence[ThemeMatch]], *, only: Iterable[str] | None = None
    ) -> None:
        """Replace the stored tags of these items (for the `only` themes, or all of them)."""
        if not results:
            return
        themes_filter = list(only) if only is not None else None
        with self.write() as conn:
            clause: ColumnElement[bool] = tags.c.item_id.in_(list(results))
            if themes_filter is not None:
                clause = and_(clause, tags.c.theme.in_(themes_filter))
            conn.execute(delete(tags).where(clause))
            rows = [
                {
                    "item_id": item_id,
                    "theme": match.theme,
                    "score": match.score,
                    "evidence": [[e.phrase, e.snippet, e.weight] for e in match.evidence],
                }
                for item_id, matches in results.items()
                for match in matches
                if themes_filter is None or match.theme in themes_filter
            ]
            if rows:
                conn.execute(tags.insert(), rows)

    def tags_for(self, item_ids: Sequence[int]) -> dict[int, list[ThemeMatch]]:
        found: dict[int, list[ThemeMatch]] = {}
        with self.read() as conn:
            rows = conn.execute(
                select(tags).where(tags.c.item_id.in_(list(item_ids))).order_by(tags.c.score.desc())
            ).all()
        for row in rows:
            found.setdefault(row.item_id, []).append(
                ThemeMatch(row.theme, row.score, _evidence(row.evidence))
            )
        return found

    def theme_fingerprints(self) -> dict[str, str]:
        with self.read() as conn:
            return {row.id: row.fingerprint for row in conn.execute(select(themes))}

    def set_theme_fingerprints(self, fingerprints: Mapping[str, str], now: datetime) -> None:
        with self.write() as conn:
            for theme_id, fingerprint in fingerprints.items():
                stmt = self.insert(themes).values(
                    id=theme_id, fingerprint=fingerprint, tagged_at=now
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[themes.c.id],
                        set_={"fingerprint": fingerprint, "tagged_at": now},
                    )
                )

    # -- compose --------------------------------------------------------------------------
    # Compose asks for light rows first (ids, scores, story keys: what ranking needs), picks
    # each reader's top items in Python, and only then loads the few items it will show.

    def window_tags(
        self, themes: Sequence[str], floor: float, window_start: datetime, window_end: datetime
    ) -> list[TagRow]:
        """Tags of these themes scoring at least `floor`, on items first seen in the window."""
        if not themes:
            return []
        when = func.coalesce(items.c.published_at, items.c.first_seen_at)
        query = (
            select(
                tags.c.item_id,
                tags.c.theme,
                tags.c.score,
                func.coalesce(items.c.story_id, items.c.id),
                items.c.source_id,
                when,
            )
            .select_from(items)
            .join(tags, tags.c.item_id == items.c.id)
            .where(
                items.c.first_seen_at > window_start,
                items.c.first_seen_at <= window_end,
                # `|| ''` and `+ 0` change nothing but keep SQLite (which has no statistics
                # on a fresh database) from walking a theme's whole history in the
                # (theme, score) index: the window's range of ix_items_first_seen comes
                # first, then each item's tags by primary key.
                (tags.c.theme + "").in_(list(themes)),
                tags.c.score + 0 >= floor,
            )
        )
        with self.read() as conn:
            rows = conn.execute(query).all()
        return [
            TagRow(item_id, theme, score, story, source_id, seen.timestamp())
            for item_id, theme, score, story, source_id, seen in rows
        ]

    def sent_since(
        self, subscriber_ids: Sequence[int], since: datetime
    ) -> dict[int, list[SentRow]]:
        """Items in messages (sent or queued, not failed) queued for these readers after
        `since`, with their story keys: what compose must not repeat.
        """
        found: dict[int, list[SentRow]] = {}
        ids = list(dict.fromkeys(subscriber_ids))
        with self.read() as conn:
            for start in range(0, len(ids), 500):
                query = (
                    select(
                        deliveries.c.subscriber_id,
                        deliveries.c.kind,
                        delivery_items.c.item_id,
                        func.coalesce(items.c.story_id, items.c.id),
                    )
                    .select_from(deliveries)
                    .join(delivery_items, delivery_items.c.delivery_id == deliveries.c.id)
                    .join(items, items.c.id == delivery_items.c.item_id)
                    .where(
                        deliveries.c.subscriber_id.in_(ids[start : start + 500]),
                        deliveries.c.queued_at > since,
                        deliveries.c.status != "failed",
                    )
                )
                for subscriber_id, kind, item_id, story in conn.execute(query):
                    found.setdefault(subscriber_id, []).append(SentRow(kind, item_id, story))
        return found

    def items_with_evidence(
        self, item_ids: Sequence[int], themes: Sequence[str]
    ) -> tuple[dict[int, Item], dict[tuple[int, str], tuple[Evidence, ...]]]:
        """The items to show, and their evidence for these themes."""
        found: dict[int, Item] = {}
        evidence: dict[tuple[int, str], tuple[Evidence, ...]] = {}
        ids = list(dict.fromkeys(item_ids))
        with self.read() as conn:
            for start in range(0, len(ids), 500):
                query = (
                    select(items, tags.c.theme, tags.c.evidence)
                    .join(tags, tags.c.item_id == items.c.id)
                    .where(items.c.id.in_(ids[start : start + 500]), tags.c.theme.in_(themes))
                )
                for row in conn.execute(query):
                    if row.id not in found:
                        found[row.id] = _item(row._mapping)
                    evidence[(row.id, row.theme)] = _evidence(row.evidence)
        return found, evidence

    def source_titles(self) -> dict[str, str]:
        """Every source's display name (its id if it has none)."""
        with self.read() as conn:
            return {
                source_id: title or source_id
                for source_id, title in conn.execute(select(sources.c.id, sources.c.title))
            }


@dataclass(frozen=True, slots=True)
class TagRow:
    """One item's score in one theme, with what ranking and grouping need."""

    item_id: int
    theme: str
    score: float
    story: int  # the story's first item, or the item itself
    source_id: str
    when: float  # published (else first seen), as a timestamp: the recency in ranking


@dataclass(frozen=True, slots=True)
class SentRow:
    """An item that went (or is going) to a reader, and in which kind of message."""

    kind: str
    item_id: int
    story: int


def _evidence(raw: Any) -> tuple[Evidence, ...]:
    return tuple(Evidence(str(p), str(s), float(w)) for p, s, w in raw or [])


def _item(row: Any) -> Item:
    return Item(
        id=row["id"],
        source_id=row["source_id"],
        guid=row["guid"],
        url=row["url"],
        title=row["title"],
        summary_html=row["summary_html"],
        text=row["text"],
        published_at=row["published_at"],
        first_seen_at=row["first_seen_at"],
        author=row["author"],
        story_id=row["story_id"],
    )
