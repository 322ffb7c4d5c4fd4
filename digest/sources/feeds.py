"""Parsing feed bytes (RSS, Atom, RDF, JSON Feed) into clean entries.

`parse_feed` never sees a URL to fetch: it gets the bytes, the response headers and the
final URL (for relative links). It runs inside a parsing process (see pool.py), which
bounds its memory and time; here it refuses what would exploit feedparser's weaknesses
and turns every exception into a ParseError.
"""

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
from digest.models import Entry, ThemeMatch
from digest.sources.clean import (
    IMAGE_SCHEMES,
    canonical_url,
    clean_title,
    html_to_text,
    safe_url,
    sanitize_html,
)
from digest.sources.guard import entity_problem
from digest.sources.stories import signature

SUMMARY_CHARS = 1200


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    entries: list[Entry]
    warnings: list[str] = field(default_factory=list)
    ttl_minutes: int | None = None
    site_url: str = ""
    # Each entry's theme matches, when the parsing process also tagged them (see pool.py).
    tags: list[list[ThemeMatch]] | None = None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """What a format gave for one item, before cleaning: the same shape for every format."""

    guid: str = ""
    link: str = ""
    title: str = ""
    html: str = ""  # the longest of summary and content, as HTML
    base: str | None = None  # what relative links in `html` are relative to
    author: str = ""
    published: datetime | None = None
    image: str = ""
    enclosures: tuple[str, ...] = ()


def parse_feed(
    source_id: str,
    body: bytes,
    headers: dict[str, str],
    final_url: str,
    now: datetime,
    *,
    max_items: int = 1000,
) -> ParsedFeed:
    """Parse feed bytes (never a URL) and return its cleaned entries, or raise ParseError."""
    if _looks_like_json(body, headers):
        from digest.sources.jsonfeed import parse_json_feed

        title, raws, site, notes = parse_json_feed(source_id, body, final_url, now)
        return _finish(source_id, title, raws, final_url, now, max_items, notes, None, site)
    problem = entity_problem(body)
    if problem is not None:
        raise ParseError(source_id, problem, url=final_url)
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={**headers, "content-location": final_url},
            sanitize_html=False,  # nh3 does it, faster and stricter
            resolve_relative_uris=False,  # so does the nh3 attribute filter, for far less
        )
        raws = [_raw_entry(raw, now) for raw in parsed.entries]
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - feedparser raises odd errors on odd input
        raise ParseError(
            source_id, f"the feed could not be parsed ({type(exc).__name__}: {exc})", url=final_url
        ) from None
    warnings: list[str] = []
    if parsed.get("bozo"):
        reason = _bozo_reason(parsed.get("bozo_exception"))
        if not raws:
            if _looks_like_html(body, headers, parsed):
                raise ParseError(
                    source_id,
                    "this is a web page, not a feed; 'digest sources add URL' finds the feed "
                    "a page links to",
                    url=final_url,
                )
            raise ParseError(source_id, f"not a usable feed ({reason})", url=final_url)
        warnings.append(f"the feed is malformed but was read ({reason})")
    elif not parsed.get("version") and not raws:
        if _looks_like_html(body, headers, parsed):
            raise ParseError(
                source_id,
                "this is a web page, not a feed; 'digest sources add URL' finds the feed a page "
                "links to",
                url=final_url,
            )
        raise ParseError(
            source_id, "no RSS, Atom or JSON feed found in the response", url=final_url
        )
    feed = parsed.get("feed", {})
    ttl = feed.get("ttl")
    return _finish(
        source_id,
        str(feed.get("title", "")),
        raws,
        final_url,
        now,
        max_items,
        warnings,
        int(ttl) if isinstance(ttl, str) and ttl.strip().isdigit() else None,
        str(feed.get("link", "")),
    )


def _finish(
    source_id: str,
    title: str,
    raws: list[RawEntry],
    final_url: str,
    now: datetime,
    max_items: int,
    warnings: list[str],
    ttl: int | None,
    site: str,
) -> ParsedFeed:
    if len(raws) > max_items:
        warnings.append(
            f"the feed has {len(raws):,} items; only the first {max_items:,} were read "
            "([ingest] max_items_per_feed)"
        )
        raws = raws[:max_items]
    if not raws:
        warnings.append("the feed has no items")
    base = final_url if final_url.startswith(("http://", "https://")) else None
    return ParsedFeed(
        title=clean_title(title),
        entries=[clean_entry(source_id, raw, base) for raw in raws],
        warnings=warnings,
        ttl_minutes=ttl,
        site_url=safe_url(site, base),
    )


def clean_entry(source_id: str, raw: RawEntry, base: str | None) -> Entry:
    """One item made safe: sanitised HTML, plain text, a one-line title and safe links."""
    summary_html = sanitize_html(raw.html, raw.base or base)
    text = html_to_text(summary_html, sanitized=True)
    url = canonical_url(safe_url(raw.link, base))
    title = clean_title(raw.title, fallback=text[:80] or url or "(untitled)")
    guid = " ".join(raw.guid.split())[:500] or url
    entry = Entry(
        source_id=source_id,
        guid=guid,
        url=url,
        title=title,
        summary_html=_shorten_html(summary_html, text),
        text=text,
        published_at=raw.published,
        author=clean_title(raw.author),
        image_url=safe_url(raw.image, base, schemes=IMAGE_SCHEMES),
        enclosures=tuple(dict.fromkeys(filter(None, (safe_url(e, base) for e in raw.enclosures)))),
        signature=signature(title, text),
    )
    return entry if guid else replace(entry, guid="sha256:" + entry.content_hash)


def _raw_entry(raw: Any, now: datetime) -> RawEntry:
    summary = raw.get("summary_detail") or {}
    content = (raw.get("content") or [{}])[0]
    best = content if len(content.get("value") or "") > len(summary.get("value") or "") else summary
    html = str(best.get("value") or "")
    if best.get("type") == "text/plain":
        html = "".join(f"<p>{escape(p)}</p>" for p in html.split("\n\n") if p.strip())
    # FeedBurner and friends point `link` at a redirector; the original is kept aside.
    link = raw.get("feedburner_origlink") or raw.get("link") or ""
    image = raw.get("image", {}).get("href", "") if isinstance(raw.get("image"), dict) else ""
    thumbnails = raw.get("media_thumbnail") or []
    if not image and thumbnails and isinstance(thumbnails[0], dict):
        image = thumbnails[0].get("url", "")
    return RawEntry(
        guid=str(raw.get("id") or ""),
        link=str(link),
        title=str(raw.get("title") or ""),
        html=html,
        base=best.get("base") or None,
        author=str(raw.get("author") or ""),
        published=_date(raw.get("published_parsed") or raw.get("updated_parsed"), now),
        image=str(image or ""),
        enclosures=tuple(
            str(e.get("href")) for e in raw.get("enclosures") or [] if isinstance(e, dict)
        ),
    )


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
    except (OverflowError, ValueError, OSError, TypeError):
        return None
    return clamp_date(when, now)


def clamp_date(when: datetime | None, now: datetime) -> datetime | None:
    """A date no later than now, in UTC; None stays None (the item's first-seen time counts)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(when.astimezone(UTC), now)


def _bozo_reason(exc: Any) -> str:
    if exc is None:
        return "malformed XML"
    text = " ".join(str(exc).split())
    # expat's "<unknown>:8:15: undefined entity" reads better the other way round.
    text = re.sub(r"^<unknown>:(\d+):(\d+): (.*)$", r"\3 at line \1, column \2", text)
    name = type(exc).__name__
    if name == "CharacterEncodingOverride":
        return f"its declared character encoding was wrong: {text}"
    if name == "NonXMLContentType":
        return f"the server did not call it XML: {text}"
    return text[:300] or name


def _looks_like_json(body: bytes, headers: dict[str, str]) -> bool:
    kind = headers.get("content-type", "").lower()
    start = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith((b"{", b"[")) and ("json" in kind or not start.startswith(b"<"))


def _looks_like_html(body: bytes, headers: dict[str, str], parsed: Any) -> bool:
    kind = headers.get("content-type", "").lower()
    head = body[:2048].lower()
    return "html" in kind or b"<html" in head or b"<!doctype html" in head
