"""Finding the feed behind a web page, for `digest sources add URL`.

The address is fetched with the same client and limits as any feed. If it is a feed, that
is the answer; if it is an HTML page, the feeds it announces with
`<link rel="alternate" type="application/rss+xml" href="...">` (or Atom, or JSON Feed)
are tried in order, and the first that parses is the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from digest.errors import ParseError, SourceError
from digest.sources.clean import safe_url
from digest.sources.feeds import ParsedFeed
from digest.sources.fetch import Fetched, fetch
from digest.sources.pool import ParseJob, ParserPool

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "text/xml",
    "application/xml",
)
MAX_CANDIDATES = 5
_ID_CHARS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Discovered:
    """A feed found at or behind an address."""

    url: str
    title: str
    items: int
    page: str | None = None  # the HTML page it was found on, if it was
    others: list[str] = field(default_factory=list)  # further feeds the page announced


class _FeedLinks(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and values.get("href"):
            self.base = urljoin(self.base, values["href"])
        elif tag == "link":
            rel = values.get("rel", "").lower().split()
            kind = values.get("type", "").lower().split(";")[0].strip()
            if "alternate" in rel and kind in FEED_TYPES and values.get("href"):
                url = safe_url(values["href"], self.base)
                if url and not url.startswith("mailto:") and url not in self.links:
                    self.links.append(url)


def feed_links(html: str, page_url: str) -> list[str]:
    """The feed addresses an HTML page announces, absolute, in page order."""
    finder = _FeedLinks(page_url)
    finder.feed(html[:1_000_000])
    finder.close()
    return finder.links


def discover(
    client: httpx.Client,
    url: str,
    *,
    parser: ParserPool,
    max_bytes: int,
    max_items: int,
    now: datetime,
) -> Discovered:
    """The feed at `url`, or the first working feed the page at `url` links to."""
    fetched = _get(client, url, max_bytes, now)
    try:
        parsed = _parse(parser, fetched, max_items, now)
        return Discovered(fetched.permanent_redirect or url, parsed.title, len(parsed.entries))
    except ParseError as exc:
        if "html" not in fetched.headers.get("content-type", "") and b"<html" not in (
            fetched.body[:4096].lower()
        ):
            raise SourceError(
                "new", f"this is neither a feed nor a web page ({exc.reason})", url=url
            ) from None
    page = fetched.url
    links = feed_links(_decode(fetched), page)
    if not links:
        raise SourceError(
            "new",
            'the page announces no feed (no <link rel="alternate"> of an RSS, Atom or JSON feed)',
            url=url,
            hint="Look for an RSS or Atom link on the site and add that address instead.",
        )
    problems: list[str] = []
    for index, link in enumerate(links[:MAX_CANDIDATES]):
        try:
            parsed = _parse(parser, _get(client, link, max_bytes, now), max_items, now)
        except SourceError as exc:
            problems.append(f"{link}: {exc.reason}")
            continue
        return Discovered(link, parsed.title, len(parsed.entries), page, links[index + 1 :])
    raise SourceError(
        "new",
        "the page announces feeds, but none of them could be read: " + "; ".join(problems),
        url=url,
    )


def source_id_for(title: str, url: str, taken: set[str]) -> str:
    """A new source id from a feed's title (else its host), unlike any id in `taken`."""
    base = _ID_CHARS.sub("-", title.casefold()).strip("-")[:40].strip("-")
    if not base:
        host = httpx.URL(url).host if url.startswith(("http://", "https://")) else ""
        base = _ID_CHARS.sub("-", host.removeprefix("www.").casefold()).strip("-")[:40] or "feed"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _get(client: httpx.Client, url: str, max_bytes: int, now: datetime) -> Fetched:
    return fetch(client, "new", url, etag=None, last_modified=None, max_bytes=max_bytes, now=now)


def _parse(parser: ParserPool, fetched: Fetched, max_items: int, now: datetime) -> ParsedFeed:
    return parser.parse(ParseJob("new", fetched.body, fetched.headers, fetched.url, now, max_items))


def _decode(fetched: Fetched) -> str:
    charset = re.search(r"charset=([\w.-]+)", fetched.headers.get("content-type", ""), re.I)
    try:
        return fetched.body.decode(charset.group(1) if charset else "utf-8", errors="replace")
    except LookupError:
        return fetched.body.decode("utf-8", errors="replace")
