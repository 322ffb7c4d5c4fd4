"""Items and their tags: upserts that never duplicate, and the queries compose needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, func, select, update

from digest.models import Entry, Evidence, Item, ThemeMatch
from digest.store.base import StoreBase
from digest.store.schema import deliveries, delivery_items, items, sources, tags, themes


@dataclass(slots=True)
class UpsertResult:
    """What an upsert did: ids of new and changed items, and how many were already known."""

    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0
    # The story signature of each new item, for linking it to the same story elsewhere.
    signatures: dict[int, bytes] = field(default_factory=dict)
    # Where each new or updated item was in the entries given (item id -> index).
    positions: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecentItem:
    """A recent item's story signature, for finding the same story in other sources."""

    item_id: int
    source_id: str
    story_id: int
    signature: bytes


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
        Guids are matched first for the whole batch: an item matched by its guid is never
        also taken by another entry's link or content (two entries that share a link, such
        as a feed's home page, stay two items).
        """
        batch = [(entry, entry.content_hash) for entry in entries]
        result = UpsertResult()
        with self.write() as conn:
            known = conn.execute(
                select(items.c.id, items.c.guid, items.c.url, items.c.content_hash).where(
                    items.c.source_id == source_id
                )
            ).all()
            by_guid = {row.guid: row for row in known}
            by_url: dict[str, Any] = {}
            by_hash: dict[str, Any] = {}
            for row in known:
                if row.url:
                    by_url.setdefault(row.url, row)
                by_hash.setdefault(row.content_hash, row)
            matches: list[Any] = [None] * len(batch)
            repeated = [False] * len(batch)
            claimed: set[int] = set()
            seen: set[str] = set()
            for i, (entry, _) in enumerate(batch):
                repeated[i] = entry.guid in seen
                seen.add(entry.guid)
                same_guid = by_guid.get(entry.guid)
                if not repeated[i] and same_guid is not None:
                    matches[i] = same_guid
                    claimed.add(same_guid.id)
            for i, (entry, digest) in enumerate(batch):
                if matches[i] is not None or repeated[i]:
                    continue
                for other in (by_url.get(entry.url) if entry.url else None, by_hash.get(digest)):
                    if other is not None and other.id not in claimed:
                        matches[i] = other
                        claimed.add(other.id)
                        break
            fresh: list[tuple[int, Entry, str]] = []
            changes: list[dict[str, Any]] = []
            for i, (entry, digest) in enumerate(batch):
                row = matches[i]
                if repeated[i] or (row is not None and row.content_hash == digest):
                    result.unchanged += 1
                elif row is None:
                    fresh.append((i, entry, digest))
                else:
                    changes.append({"_id": row.id, **_content(entry, digest), "updated_at": now})
                    result.updated.append(row.id)
                    result.positions[row.id] = i
            if changes:
                # An executemany UPDATE: the non-bound keys of each dict are the SET columns.
                conn.execute(update(items).where(items.c.id == bindparam("_id")), changes)
            if fresh:
                inserted = conn.execute(
                    items.insert().returning(items.c.id, sort_by_parameter_order=True),
                    [
                        {
                            "source_id": source_id,
                            "guid": entry.guid,
                            "url": entry.url,
                            "first_seen_at": now,
                            "updated_at": now,
                            **_content(entry, digest),
                        }
                        for _, entry, digest in fresh
                    ],
                )
                for item_id, (i, entry, _) in zip(inserted.scalars(), fresh, strict=True):
                    result.new.append(int(item_id))
                    result.positions[int(item_id)] = i
                    if entry.signature:
                        result.signatures[int(item_id)] = entry.signature
        return result

    def recent_signatures(self, since: datetime) -> list[RecentItem]:
        """Items first seen since `since` that have a story signature."""
        with self.read() as conn:
            rows = conn.execute(
                select(items.c.id, items.c.source_id, items.c.story_id, items.c.signature)
                .where(items.c.first_seen_at >= since, items.c.signature.is_not(None))
                .order_by(items.c.id)
            ).all()
        return [
            RecentItem(row.id, row.source_id, row.story_id or row.id, bytes(row.signature))
            for row in rows
        ]

    def link_stories(self, story_of: Mapping[int, int]) -> None:
        """Make each item (key) part of the story of another (value): same story, shown once."""
        if not story_of:
            return
        with self.write() as conn:
            conn.execute(
                update(items).where(items.c.id == bindparam("_id")),
                [{"_id": item_id, "story_id": story} for item_id, story in story_of.items()],
            )

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
        self,
        *,
        theme: str | None = None,
        min_score: float = 0.0,
        source_id: str | None = None,
        limit: int = 50,
    ) -> list[tuple[Item, list[ThemeMatch]]]:
        """Newest items first, optionally of one source, or scored at least `min_score` for
        one theme (pass the theme's threshold for the items tagged with it)."""
        query = select(items).order_by(
            func.coalesce(items.c.published_at, items.c.first_seen_at).desc(), items.c.id.desc()
        )
        if theme is not None:
            query = query.where(
                exists().where(
                    and_(
                        tags.c.item_id == items.c.id,
                        tags.c.theme == theme,
                        tags.c.score >= min_score,
                    )
                )
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
        with self.write(exclusive=True) as conn:  # delete-then-insert: one process at a time
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

    def theme_thresholds(self) -> dict[str, float]:
        """The threshold each theme's stored scores were judged by, where known."""
        with self.read() as conn:
            rows = conn.execute(select(themes.c.id, themes.c.threshold))
            return {row.id: row.threshold for row in rows if row.threshold is not None}

    def set_theme_fingerprints(
        self, fingerprints: Mapping[str, str], thresholds: Mapping[str, float], now: datetime
    ) -> None:
        """Record that these themes' items are tagged with these definitions and thresholds."""
        with self.write() as conn:
            for theme_id, fingerprint in fingerprints.items():
                values = {
                    "fingerprint": fingerprint,
                    "threshold": thresholds[theme_id],
                    "tagged_at": now,
                }
                stmt = self.insert(themes).values(id=theme_id, **values)
                conn.execute(stmt.on_conflict_do_update(index_elements=[themes.c.id], set_=values))

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


def _content(entry: Entry, digest: str) -> dict[str, Any]:
    """The columns that follow an item's content (set on insert, and again when it changes)."""
    return {
        "title": entry.title,
        "summary_html": entry.summary_html,
        "text": entry.text,
        "author": entry.author,
        "published_at": entry.published_at,
        "content_hash": digest,
        "image_url": entry.image_url,
        "enclosures": list(entry.enclosures),
        "signature": entry.signature or None,
    }


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
        image_url=row["image_url"] or "",
        enclosures=tuple(row["enclosures"] or ()),
    )
