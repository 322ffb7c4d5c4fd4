"""Ingest: read each source, store what is new or changed, tag it, record health.

`refresh_source` is the one function the CLI, the scheduler and the web app call for one
source; `refresh_all` runs it over many at once. Reading (fetch and parse) runs in
threads and parsing processes; storing, linking stories and tagging run in the calling
thread, one source at a time. A failure is recorded on its source, never raised: one
broken source never stops the others.

A run given a `stop` event (set by SIGINT/SIGTERM) abandons the reads under way once it is
set: what was read already is stored, and the rest is recorded nowhere, so it stays due.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from digest.config import FeedSource, Settings
from digest.errors import FetchError, SourceError
from digest.models import Source
from digest.sources import KINDS, AnySource, HostLimiter, ReadContext, ReadResult
from digest.sources.abandon import STOP_POLL_SECONDS, Abandoned
from digest.sources.polling import next_error_check, next_success_check
from digest.sources.pool import ParserPool
from digest.sources.stories import Known, StoryIndex
from digest.store import Store
from digest.tag import tag_items
from digest.tagging import Tagger

log = logging.getLogger(__name__)

# How long a stopping run waits for the reads it abandoned to notice (they take about
# STOP_POLL_SECONDS; a connect or a DNS lookup under way takes until its own timeout).
ABANDON_GRACE_SECONDS = 2.0


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
    status: str = "active"
    next_check_at: datetime | None = None
    url: str | None = None
    skipped: bool = False  # paused or disabled, so not read
    abandoned: bool = False  # the run stopped first: not refreshed, nothing recorded

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str:
        """The error as a full sentence: which source, what failed, what to do next."""
        where = f" ({self.url})" if self.url else ""
        return f"Source '{self.source_id}'{where}: {self.error}. {self.advice}"

    @property
    def advice(self) -> str:
        return advice(self.source_id, self.status, self.next_check_at)


def advice(
    source_id: str, status: str, next_check_at: datetime | None, *, more: bool = True
) -> str:
    """What a user can do about a source in this state, as one sentence.

    `more` adds where to read more (left out where the user already is reading it).
    """
    if status == "paused":
        return (
            "It is paused after too many failed checks in a row; fix the cause, then run "
            f"'digest sources resume {source_id}'."
        )
    if status == "disabled":
        return (
            "It is disabled; remove it, or run "
            f"'digest sources resume {source_id}' if the feed comes back."
        )
    when = f"{next_check_at:%Y-%m-%d %H:%M} UTC" if next_check_at else "on the next run"
    return (
        f"Next try {when}; see 'digest sources show {source_id}'." if more else f"Next try {when}."
    )


def configured_sources(settings: Settings, store: Store) -> list[AnySource]:
    """config.toml's sources, then the feeds added with `digest sources add` or `import`."""
    found: list[AnySource] = list(settings.sources)
    in_config = {s.id for s in found}
    for row in store.list_sources():
        if row.origin != "config" and row.id not in in_config and row.kind == "feed":
            found.append(
                FeedSource(
                    id=row.id,
                    kind="feed",
                    url=row.location,
                    title=row.title or None,
                    interval_minutes=row.interval_minutes,
                )
            )
    return found


class StoryLinker:
    """Puts each new item into the story of a recent, similar item from another source."""

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self._store = store
        self._since = now - timedelta(days=settings.ingest.story_window_days)
        self._threshold = settings.ingest.story_similarity
        self._index: StoryIndex | None = None

    def link(self, source_id: str, signatures: dict[int, bytes]) -> int:
        """Link the new items (id -> signature) of one source; returns how many joined a story."""
        if not signatures:
            return 0
        if self._index is None:
            # The items to place are stored already: left out here, or each would be "known"
            # and never placed (so the first source read in a run never joined a story).
            recent = self._store.recent_signatures(self._since)
            self._index = StoryIndex(
                self._threshold,
                (
                    Known(r.item_id, r.source_id, r.story_id, r.signature)
                    for r in recent
                    if r.item_id not in signatures
                ),
            )
        links: dict[int, int] = {}
        for item_id, sig in sorted(signatures.items()):
            story = self._index.place(item_id, source_id, sig)
            if story is not None:
                links[item_id] = story
        self._store.link_stories(links)
        return len(links)


def refresh_source(
    store: Store,
    settings: Settings,
    source: AnySource,
    *,
    client: httpx.Client,
    tagger: Tagger,
    now: datetime,
    parser: ParserPool | None = None,
    stories: StoryLinker | None = None,
) -> RefreshResult:
    """Read one source, store and tag its entries, and record how it went.

    A failure is recorded on the source and returned, never raised. Without a `parser`,
    one parsing process is started for this call.
    """
    state = store.find_source(source.id)
    with _parser(parser, settings, tagger) as pool:
        ctx = ReadContext(settings, client, pool, now, HostLimiter(settings.ingest.per_host))
        outcome = read_source(source, state, ctx)
        tagged_by = pool.tagger
    if isinstance(outcome, Abandoned):
        return RefreshResult(source.id, abandoned=True)
    if tagged_by is not tagger and isinstance(outcome, ReadResult):
        outcome = replace(outcome, tags=None)  # tagged with another tagger: tag again here
    return store_outcome(
        store,
        settings,
        source,
        state,
        outcome,
        tagger=tagger,
        now=now,
        stories=stories or StoryLinker(store, settings, now),
    )


def read_source(
    source: AnySource, state: Source | None, ctx: ReadContext
) -> ReadResult | SourceError | Abandoned:
    """Fetch and parse one source; its failure is returned, not raised. Thread-safe."""
    try:
        if ctx.stop is not None and ctx.stop.is_set():
            return Abandoned(source.id)
        return KINDS[source.kind].read(source, state, ctx)
    except (SourceError, Abandoned) as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a bug must cost one source, not the run
        log.exception("reading failed", extra={"source_id": source.id})
        return SourceError(
            source.id, f"digest failed unexpectedly ({type(exc).__name__}: {exc}); please report it"
        )


def store_outcome(
    store: Store,
    settings: Settings,
    source: AnySource,
    state: Source | None,
    outcome: ReadResult | SourceError,
    *,
    tagger: Tagger,
    now: datetime,
    stories: StoryLinker,
) -> RefreshResult:
    """Store what reading gave (or record its failure) and schedule the next check."""
    interval = timedelta(
        minutes=source.interval_minutes
        or (state.interval_minutes if state else None)
        or settings.ingest.interval_minutes
    )
    location = _location(source, state)
    if isinstance(outcome, SourceError):
        return _record_failure(store, settings, source, state, outcome, interval, now, location)
    read = outcome
    result = RefreshResult(source.id, not_modified=read.not_modified, warnings=read.warnings)
    if not read.not_modified:
        upserted = store.upsert_entries(source.id, read.entries, now)
        result.new, result.updated, result.unchanged = (
            len(upserted.new),
            len(upserted.updated),
            upserted.unchanged,
        )
        result.new_item_ids = upserted.new
        stories.link(source.id, upserted.signatures)
        if read.tags is not None:  # the parsing process tagged them already
            store.save_tags({i: read.tags[pos] for i, pos in upserted.positions.items()})
        else:
            tag_items(store, tagger, store.get_items(upserted.new + upserted.updated))
    result.next_check_at = next_success_check(
        now,
        interval,
        ttl_minutes=read.ttl_minutes,
        headers=read.headers,
        max_interval=timedelta(hours=settings.ingest.max_interval_hours),
    )
    if read.not_modified:
        warning = _kept_warning(state)
    else:
        warning = "; ".join(read.warnings) or None
    store.record_check(
        source.id,
        now,
        next_check_at=result.next_check_at,
        warning=warning,
        etag=read.etag,
        last_modified=read.last_modified,
        title=None if source.title else read.title,
        status="active",
        moved_to=read.moved_to,
    )
    log.info(
        "refreshed %s: %d new, %d updated",
        source.id,
        result.new,
        result.updated,
        extra={"source_id": source.id, "new": result.new, "updated": result.updated},
    )
    return result


def _record_failure(
    store: Store,
    settings: Settings,
    source: AnySource,
    state: Source | None,
    exc: SourceError,
    interval: timedelta,
    now: datetime,
    location: str,
) -> RefreshResult:
    errors = (state.error_count if state else 0) + 1
    retry_after = exc.retry_after if isinstance(exc, FetchError) else None
    if isinstance(exc, FetchError) and exc.status == 410:
        status, next_check = "disabled", None
    elif errors >= settings.ingest.error_limit:
        status, next_check = "paused", None
    else:
        status = "active"
        next_check = next_error_check(
            now,
            interval,
            errors,
            retry_after=retry_after,
            max_backoff=timedelta(hours=settings.ingest.max_backoff_hours),
        )
    store.record_check(source.id, now, error=exc.reason, status=status, next_check_at=next_check)
    # A failure is data (on the source, in the summary), not something to shout on stderr.
    log.info(
        "refresh of %s failed: %s",
        source.id,
        exc.reason,
        extra={"source_id": source.id, "url": location},
    )
    return RefreshResult(
        source.id,
        error=exc.reason,
        status=status,
        next_check_at=next_check,
        url=exc.url or location,
    )


def refresh_all(
    store: Store,
    settings: Settings,
    *,
    client: httpx.Client,
    tagger: Tagger,
    now: datetime,
    only: Sequence[str] | None = None,
    on_done: Callable[[RefreshResult], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RefreshResult]:
    """Refresh every enabled source (or those named in `only`), several at once.

    Paused and disabled sources are skipped unless named in `only`. Results come back in
    source order; `on_done` is called in this thread as each source finishes. Once `stop`
    is set, reads under way are abandoned within about a second; their sources come back
    `abandoned`, with nothing recorded on them.
    """
    states = store.source_states()
    chosen = [
        s
        for s in configured_sources(settings, store)
        if s.enabled and (only is None or s.id in only)
    ]
    results: dict[str, RefreshResult] = {}
    todo: list[AnySource] = []
    for source in chosen:
        state = states.get(source.id)
        if only is None and state is not None and state.status in ("paused", "disabled"):
            skipped = RefreshResult(source.id, status=state.status, skipped=True)
            skipped.error = state.last_error or f"the source is {state.status}"
            results[source.id] = skipped
            if on_done is not None:
                on_done(skipped)
        else:
            todo.append(source)
    stories = StoryLinker(store, settings, now)
    hosts = HostLimiter(settings.ingest.per_host)
    workers = min(settings.ingest.parse_workers, len(todo))
    # The readers watch `abandon`, not `stop`: a failure here abandons them too, without
    # setting the caller's event.
    abandon = threading.Event()
    threads = ThreadPoolExecutor(max(1, min(settings.ingest.concurrency, len(todo))))
    with _parser(None, settings, tagger, workers=workers) as pool:
        ctx = ReadContext(settings, client, pool, now, hosts, stop=abandon)
        futures = {
            threads.submit(read_source, source, states.get(source.id), ctx): source
            for source in _by_host(todo, states)
        }

        def store_one(future: Future[ReadResult | SourceError | Abandoned]) -> None:
            source, outcome = futures[future], future.result()
            if isinstance(outcome, Abandoned) or (
                abandon.is_set() and not isinstance(outcome, ReadResult)
            ):
                return  # not refreshed; a failure seen while stopping may be the stop's doing
            result = store_outcome(
                store,
                settings,
                source,
                states.get(source.id),
                outcome,
                tagger=tagger,
                now=now,
                stories=stories,
            )
            results[source.id] = result
            if on_done is not None:
                on_done(result)

        try:
            pending = set(futures)
            while pending and not (stop is not None and stop.is_set()):
                done, pending = wait(pending, STOP_POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    store_one(future)
            if pending:  # stopped: what was read already is still stored
                _abandon(abandon, pending)
                for future in pending:
                    if future.done() and not future.cancelled():
                        store_one(future)
        except BaseException:
            # Ctrl-C, a lost lease or a database failure: what was stored stays stored.
            _abandon(abandon, futures)
            raise
        finally:
            threads.shutdown(wait=False, cancel_futures=True)
    for source in todo:
        results.setdefault(source.id, RefreshResult(source.id, abandoned=True))
    return [results[s.id] for s in chosen if s.id in results]


def _abandon(abandon: threading.Event, futures: Iterable[Future[Any]]) -> None:
    """Make the reads under way give up, and wait (briefly) until they have."""
    abandon.set()
    wait([f for f in futures if not f.cancel()], ABANDON_GRACE_SECONDS)


@contextmanager
def _parser(
    given: ParserPool | None, settings: Settings, tagger: Tagger, *, workers: int | None = None
) -> Iterator[ParserPool]:
    if given is not None:
        yield given
        return
    with ParserPool.from_settings(
        settings.ingest, workers=max(1, workers or 1), tagger=tagger
    ) as pool:
        yield pool


def _by_host(sources: list[AnySource], states: dict[str, Source]) -> list[AnySource]:
    """Sources interleaved by host, so that one busy host does not hold every thread."""
    queues: dict[str, list[AnySource]] = {}
    for source in sources:
        location = _location(source, states.get(source.id))
        queues.setdefault(urlsplit(location).hostname or "", []).append(source)
    ordered: list[AnySource] = []
    while queues:
        for host in list(queues):
            ordered.append(queues[host].pop(0))
            if not queues[host]:
                del queues[host]
    return ordered


def _location(source: AnySource, state: Source | None) -> str:
    if isinstance(source, FeedSource):
        return (state.moved_to if state else None) or source.url
    return source.path


def _kept_warning(state: Source | None) -> str | None:
    """A 304 says nothing new: the warning of the last full read still holds."""
    return state.last_warning if state else None
