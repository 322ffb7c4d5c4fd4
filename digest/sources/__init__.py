"""Source kinds: each turns one configured source into clean entries.

A kind is anything with a `read` method (the SourceKind protocol); built-in kinds register
in KINDS the same way a plugin would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx

from digest.config import DocumentsSource, FeedSource, Settings
from digest.errors import ParseError, SourceError
from digest.models import Entry, Source
from digest.sources.documents import read_documents
from digest.sources.feeds import parse_feed
from digest.sources.fetch import fetch


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


class SourceKind(Protocol):
    def read(
        self,
        source: DocumentsSource | FeedSource,
        state: Source | None,
        *,
        settings: Settings,
        client: httpx.Client,
        now: datetime,
    ) -> ReadResult: ...


class DocumentsKind:
    """A folder of .txt, .md and .html files."""

    def read(
        self,
        source: DocumentsSource | FeedSource,
        state: Source | None,
        *,
        settings: Settings,
        client: httpx.Client,
        now: datetime,
    ) -> ReadResult:
        assert isinstance(source, DocumentsSource)
        return ReadResult(entries=read_documents(source.id, settings.path(source.path)))


class FeedKind:
    """An RSS, Atom or JSON feed, from an http(s) URL or a local file."""

    def read(
        self,
        source: DocumentsSource | FeedSource,
        state: Source | None,
        *,
        settings: Settings,
        client: httpx.Client,
        now: datetime,
    ) -> ReadResult:
        assert isinstance(source, FeedSource)
        location = state.location if state and state.kind == "feed" else source.url
        if not location.startswith(("http://", "https://")):
            path = settings.path(location)
            try:
                body = path.read_bytes()
            except OSError as exc:
                raise SourceError(source.id, f"cannot read '{path}' ({exc.strerror})") from None
            if len(body) > settings.ingest.max_bytes:
                raise ParseError(
                    source.id,
                    f"the file is larger than the {settings.ingest.max_bytes:,} byte limit",
                )
            # A file has no Content-Type; without one feedparser flags every feed as malformed.
            kind = "application/feed+json" if path.suffix == ".json" else "application/xml"
            parsed = parse_feed(
                source.id, body, {"content-type": kind}, path.resolve().as_uri(), now
            )
            return ReadResult(parsed.entries, parsed.title, warnings=parsed.warnings)
        fetched = fetch(
            client,
            source.id,
            location,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            max_bytes=settings.ingest.max_bytes,
            now=now,
        )
        if fetched.not_modified:
            return ReadResult(not_modified=True, moved_to=fetched.permanent_redirect)
        parsed = parse_feed(source.id, fetched.body, fetched.headers, fetched.url, now)
        return ReadResult(
            parsed.entries,
            parsed.title,
            etag=fetched.headers.get("etag"),
            last_modified=fetched.headers.get("last-modified"),
            warnings=parsed.warnings,
            ttl_minutes=parsed.ttl_minutes,
            moved_to=fetched.permanent_redirect,
        )


KINDS: dict[str, SourceKind] = {"documents": DocumentsKind(), "feed": FeedKind()}

__all__ = ["KINDS", "ReadResult", "SourceKind"]
