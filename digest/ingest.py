"""Ingest: read each due source, store what is new or changed, tag it, record health."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from digest.config import DocumentsSource, FeedSource, Settings
from digest.errors import FetchError, SourceError
from digest.models import Source
from digest.sources import KINDS
from digest.store import Store
from digest.tag import tag_items
from digest.tagging import Tagger

MAX_BACKOFF = timedelta(hours=24)


@dataclass(slots=True)
class RefreshResult:
    """How reading one source went."""

    source_id: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    new_item_ids: list[int] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None


def refresh_source(
    store: Store,
    settings: Settings,
    source: DocumentsSource | FeedSource,
    *,
    client: httpx.Client,
    tagger: Tagger,
    now: datetime,
) -> RefreshResult:
    """Read one source, store and tag its entries, and record how it went.

    A failure is recorded on the source and returned, never raised: one broken source
    must not stop the others.
    """
    result = RefreshResult(source.id)
    state = _state(store, source.id)
    interval = timedelta(minutes=source.interval_minutes or settings.ingest.interval_minutes)
    try:
        read = KINDS[source.kind].read(source, state, settings=settings, client=client, now=now)
    except SourceError as exc:
        result.error = exc.reason
        errors = (state.error_count if state else 0) + 1
        status = "disabled" if isinstance(exc, FetchError) and exc.status == 410 else None
        store.record_check(
            source.id,
            now,
            error=exc.reason,
            status=status,
            next_check_at=now + _backoff(interval, errors, exc),
        )
        return result
    result.not_modified = read.not_modified
    result.warnings = read.warnings
    if not read.not_modified:
        upserted = store.upsert_entries(source.id, read.entries, now)
        result.new, result.updated, result.unchanged = (
            len(upserted.new),
            len(upserted.updated),
            upserted.unchanged,
        )
        result.new_item_ids = upserted.new
        tag_items(store, tagger, store.get_items(upserted.new + upserted.updated))
    if read.ttl_minutes:
        interval = max(interval, timedelta(minutes=read.ttl_minutes))
    store.record_check(
        source.id,
        now,
        next_check_at=now + interval,
        etag=read.etag,
        last_modified=read.last_modified,
        title=None if source.title else read.title,
    )
    return result


def refresh_all(
    store: Store,
    settings: Settings,
    *,
    client: httpx.Client,
    tagger: Tagger,
    now: datetime,
    only: Sequence[str] | None = None,
    on_done: Callable[[RefreshResult], None] | None = None,
) -> list[RefreshResult]:
    """Refresh every enabled source (or those named in `only`), one after another."""
    results = []
    for source in settings.sources:
        if not source.enabled or (only is not None and source.id not in only):
            continue
        result = refresh_source(store, settings, source, client=client, tagger=tagger, now=now)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results


def _state(store: Store, source_id: str) -> Source | None:
    for source in store.list_sources(configured_only=False):
        if source.id == source_id:
            return source
    return None


def _backoff(interval: timedelta, errors: int, exc: SourceError) -> timedelta:
    """The wait before the next try: Retry-After if the server gave one, else doubling."""
    if isinstance(exc, FetchError) and exc.retry_after is not None:
        wait = max(interval, timedelta(seconds=exc.retry_after))
    else:
        wait = interval * (2 ** min(errors - 1, 10))
    return min(MAX_BACKOFF, wait)
