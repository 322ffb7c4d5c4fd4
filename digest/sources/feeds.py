"""Parsing feed bytes with feedparser into clean entries."""

from __future__ import annotations

import calendar
import io
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from typing import Any

import feedparser

from digest.errors import ParseError
from digest.models import Entry
from digest.sources.clean import clean_title, html_to_text, safe_url, sanitize_html

SUMMARY_CHARS = 1200
# feedparser's loose parser expands internal entities itself, so a small "billion laughs"
# document can cost gigabytes; a feed has no business declaring entities.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: list[Entry]
    warnings: list[str] = field(default_factory=list)
    ttl_minutes: int | None = None


def parse_feed(
    source_id: str, body: bytes, headers: dict[str, str], final_url: str, now: datetime
) -> ParsedFeed:
    """Parse feed bytes (never a URL) and return its cleaned entries."""
    if _ENTITY_DECLARATION.search(body[:65536]):
        raise ParseError(
            source_id, "the feed declares XML entities, which are refused", url=final_url
        )
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={**headers, "content-location": final_url},
            sanitize_html=False,  # nh3 does it, faster and stricter
            resolve_relative_uris=True,
        )
    except Exception as exc:  # noqa: BLE001 - feedparser raises odd errors on odd input
        raise ParseError(
            source_id, f"the feed could not be parsed ({type(exc).__name__}: {exc})", url=final_url
        ) from None
    warnings: list[str] = []
    if parsed.get("bozo"):
        reason = str(parsed.get("bozo_exception", "malformed feed"))
        if not parsed.entries:
            raise ParseError(source_id, f"not a usable feed: {reason}", url=final_url)
        warnings.append(f"the feed is malformed but readable: {reason}")
    if not parsed.get("version") and not parsed.entries:
        raise ParseError(source_id, "no feed found in the response", url=final_url)
    base = final_url if final_url.startswith(("http://", "https://")) else None
    entries = [_entry(source_id, raw, base, now) for raw in parsed.entries]
    ttl = parsed.feed.get("ttl")
    return ParsedFeed(
        title=clean_title(parsed.feed.get("title", "")),
        entries=entries,
        warnings=warnings,
        ttl_minutes=int(ttl) if isinstance(ttl, str) and ttl.isdigit() else None,
    )


def _entry(source_id: str, raw: Any, base: str | None, now: datetime) -> Entry:
    content = raw.get("content") or []
    body = content[0].get("value", "") if content else ""
    summary = raw.get("summary", "") or body
    if body and len(body) > len(summary):
        summary = body
    summary_html = sanitize_html(summary, base)
    text = html_to_text(summary_html)
    url = safe_url(raw.get("link"), base)
    title = clean_title(raw.get("title", ""), fallback=text[:80] or url or "(untitled)")
    published = _date(raw.get("published_parsed") or raw.get("updated_parsed"), now)
    guid = str(raw.get("id") or url or "").strip()
    entry = Entry(
        source_id=source_id,
        guid=guid,
        url=url,
        title=title,
        summary_html=_shorten_html(summary_html, text),
        text=text,
        published_at=published,
        author=clean_title(raw.get("author", "")),
    )
    return entry if guid else replace(entry, guid="sha256:" + entry.content_hash)


def _shorten_html(summary_html: str, text: str) -> str:
    """Keep the sanitised HTML unless it is long; then keep its opening as plain paragraphs."""
    if len(text) <= SUMMARY_CHARS:
        return summary_html
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return "".join(f"<p>{escape(p)}</p>" for p in cut.split("\n\n"))


def _date(parsed: Any, now: datetime) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime; a date in the future is clamped."""
    if not parsed:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return min(when, now)
