"""Fetching feed bytes over HTTP: conditional GET, timeouts, a size cap, safe redirects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from digest.config import IngestSettings
from digest.errors import FetchError

MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response worth parsing, or a 304 (`not_modified`) that needs no parse."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str]
    not_modified: bool = False
    permanent_redirect: str | None = None


def make_client(settings: IngestSettings) -> httpx.Client:
    """The one HTTP client that every fetch in a run shares."""
    return httpx.Client(
        timeout=httpx.Timeout(
            settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)
        ),
        follow_redirects=False,
        headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT},
        limits=httpx.Limits(max_connections=settings.concurrency * 2),
    )


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def fetch(
    client: httpx.Client,
    source_id: str,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    now: datetime,
) -> Fetched:
    """GET a feed, following at most five http(s) redirects, reading at most `max_bytes`."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    all_permanent = True
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", current, headers=headers) as response:
                if response.has_redirect_location:  # 304 also counts as is_redirect
                    target = str(response.url.join(response.headers.get("location", "")))
                    if not target.startswith(("http://", "https://")):
                        raise FetchError(source_id, f"refused a redirect to '{target}'", url=url)
                    all_permanent &= response.status_code in (301, 308)
                    current = target
                    continue
                moved = current if all_permanent and current != url else None
                return _finish(source_id, current, response, max_bytes, moved, now)
        except httpx.TimeoutException:
            raise FetchError(
                source_id, f"timed out (limit {client.timeout.read}s)", url=current
            ) from None
        except httpx.HTTPError as exc:
            raise FetchError(source_id, f"could not connect: {exc}", url=current) from None
    raise FetchError(source_id, f"more than {MAX_REDIRECTS} redirects", url=url)


def _finish(
    source_id: str,
    url: str,
    response: httpx.Response,
    max_bytes: int,
    permanent: str | None,
    now: datetime,
) -> Fetched:
    headers = {k.lower(): v for k, v in response.headers.items()}
    if response.status_code == 304:
        return Fetched(url, 304, b"", headers, not_modified=True, permanent_redirect=permanent)
    if response.status_code >= 400:
        raise FetchError(
            source_id,
            _status_reason(response.status_code),
            url=url,
            status=response.status_code,
            retry_after=retry_after_seconds(headers.get("retry-after"), now),
        )
    body = bytearray()
    for chunk in response.iter_bytes():  # decompressed bytes, so a gzip bomb stops early
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(
                source_id, f"the feed is larger than the {max_bytes:,} byte limit", url=url
            )
    return Fetched(url, response.status_code, bytes(body), headers, permanent_redirect=permanent)


def _status_reason(status: int) -> str:
    reasons = {
        401: "the server wants a login (HTTP 401)",
        403: "the server refused access (HTTP 403)",
        404: "the feed was not found (HTTP 404)",
        410: "the feed is gone for good (HTTP 410)",
        429: "the server asked us to slow down (HTTP 429)",
        503: "the server is unavailable (HTTP 503)",
    }
    return reasons.get(status, f"the server answered HTTP {status}")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
