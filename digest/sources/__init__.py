"""Source kinds: each turns one configured source into clean entries.

A kind is anything with a `read` method (the SourceKind protocol); built-in kinds register
in KINDS the same way a plugin would. Reading is the part of a refresh that may run in
parallel: it touches no database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from digest.config import DocumentsSource, FeedSource, Settings
from digest.errors import FetchError, ParseError, SourceError
from digest.models import Entry, Source, ThemeMatch
from digest.sources.documents import scan_documents
from digest.sources.fetch import fetch
from digest.sources.pool import ParseJob, ParserPool

AnySource = DocumentsSource | FeedSource


class HostLimiter:
    """At most `per_host` fetches at once from one host, whichever thread asks."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with semaphore:
            yield


@dataclass(slots=True)
class ReadContext:
    """What reading needs: settings, the shared client, the parsing processes and `now`.

    Once `stop` is set, reads under way give up promptly with `Abandoned`.
    """

    settings: Settings
    client: httpx.Client
    parser: ParserPool
    now: datetime
    hosts: HostLimiter = field(default_factory=lambda: HostLimiter(2))
    stop: threading.Event | None = None


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What reading a source gave: entries, or word that nothing changed."""

    entries: list[Entry] = field(default_factory=list)
    title: str | None = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    warnings: list[str] = field(default_factory=list)
    ttl_minutes: int | None = None
    moved_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # The entries' theme matches, if the parsing process tagged them with `parser.tagger`.
    tags: list[list[ThemeMatch]] | None = None


class SourceKind(Protocol):
    def read(self, source: AnySource, state: Source | None, ctx: ReadContext) -> ReadResult: ...

    def missing(self, source: AnySource, settings: Settings) -> str | None:
        """What a read would miss before reaching the source ("config check"), if anything."""
        ...


def is_web(location: str) -> bool:
    """Whether a feed's location is an http(s) address rather than a local file."""
    return location.lower().startswith(("http://", "https://"))


class DocumentsKind:
    """A folder of .txt, .md and .html files."""

    def read(self, source: AnySource, state: Source | None, ctx: ReadContext) -> ReadResult:
        assert isinstance(source, DocumentsSource)
        entries, warnings = scan_documents(
            source.id, ctx.settings.path(source.path), max_bytes=ctx.settings.ingest.max_bytes
        )
        return ReadResult(entries=entries, warnings=warnings)

    def missing(self, source: AnySource, settings: Settings) -> str | None:
        assert isinstance(source, DocumentsSource)
        folder = settings.path(source.path)
        return None if folder.is_dir() else f'path: "{source.path}" is no folder ({folder})'


class FeedKind:
    """An RSS, Atom or JSON feed, from an http(s) URL or a local file named in config.toml."""

    def read(self, source: AnySource, state: Source | None, ctx: ReadContext) -> ReadResult:
        assert isinstance(source, FeedSource)
        location = (state.moved_to if state else None) or source.url
        ingest = ctx.settings.ingest
        if not is_web(location):
            if state is not None and state.origin != "config":
                raise FetchError(
                    source.id, "only http(s) feeds can be added outside config.toml", url=location
                )
            return self._read_file(source, location, ctx)
        with ctx.hosts.slot(location):
            fetched = fetch(
                ctx.client,
                source.id,
                location,
                etag=state.etag if state else None,
                last_modified=state.last_modified if state else None,
                max_bytes=ingest.max_bytes,
                now=ctx.now,
                stop=ctx.stop,
            )
        if fetched.not_modified:
            return ReadResult(
                not_modified=True, moved_to=fetched.permanent_redirect, headers=fetched.headers
            )
        parsed = ctx.parser.parse(
            ParseJob(
                source.id,
                fetched.body,
                fetched.headers,
                fetched.url,
                ctx.now,
                ingest.max_items_per_feed,
            ),
            stop=ctx.stop,
        )
        return ReadResult(
            parsed.entries,
            parsed.title,
            etag=fetched.headers.get("etag"),
            last_modified=fetched.headers.get("last-modified"),
            warnings=parsed.warnings,
            ttl_minutes=parsed.ttl_minutes,
            moved_to=fetched.permanent_redirect,
            headers=fetched.headers,
            tags=parsed.tags,
        )

    def missing(self, source: AnySource, settings: Settings) -> str | None:
        assert isinstance(source, FeedSource)
        if is_web(source.url):
            return None  # whether it answers is for `digest ingest` to find out
        file = settings.path(source.url)
        return None if file.is_file() else f'url: "{source.url}" is no file ({file})'

    def _read_file(self, source: FeedSource, location: str, ctx: ReadContext) -> ReadResult:
        path = ctx.settings.path(location)
        limit = ctx.settings.ingest.max_bytes
        try:
            if path.stat().st_size > limit:
                raise ParseError(
                    source.id,
                    f"the file is larger than the {limit:,} byte limit ([ingest] max_bytes)",
                    url=str(path),
                )
            body = path.read_bytes()
        except OSError as exc:
            raise SourceError(
                source.id, f"cannot read the file '{path}' ({exc.strerror})"
            ) from None
        # A file has no Content-Type; without one feedparser flags every feed as malformed.
        kind = "application/feed+json" if path.suffix == ".json" else "application/xml"
        parsed = ctx.parser.parse(
            ParseJob(
                source.id,
                body,
                {"content-type": kind},
                path.resolve().as_uri(),
                ctx.now,
                ctx.settings.ingest.max_items_per_feed,
            ),
            stop=ctx.stop,
        )
        return ReadResult(parsed.entries, parsed.title, warnings=parsed.warnings, tags=parsed.tags)


KINDS: dict[str, SourceKind] = {"documents": DocumentsKind(), "feed": FeedKind()}

__all__ = ["KINDS", "AnySource", "HostLimiter", "ReadContext", "ReadResult", "SourceKind"]
