"""When to check a source next: a pure, bounded function of settings, hints and `now`.

After a success the source's own interval is the shortest wait; a feed may ask for longer
(RSS <ttl>, Cache-Control max-age, Expires), up to `max_interval_hours`. After a failure
the wait doubles with each error in a row, starting from the interval, and a server's
Retry-After is honoured, both up to `max_backoff_hours`. Past `error_limit` errors in a row
the source is paused until `digest sources resume ID`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d{1,10})", re.I)


def next_success_check(
    now: datetime,
    interval: timedelta,
    *,
    ttl_minutes: int | None = None,
    headers: Mapping[str, str] | None = None,
    max_interval: timedelta,
) -> datetime:
    """The next check after a success: the interval, or longer if the feed asks for it."""
    wait = interval
    if ttl_minutes:
        wait = max(wait, timedelta(minutes=ttl_minutes))
    cached = cache_lifetime(headers or {}, now)
    if cached is not None:
        wait = max(wait, cached)
    return now + max(interval, min(wait, max_interval))


def next_error_check(
    now: datetime,
    interval: timedelta,
    errors: int,
    *,
    retry_after: float | None = None,
    max_backoff: timedelta,
) -> datetime:
    """The next check after the `errors`-th failure in a row: doubling, or Retry-After."""
    wait = interval * (1 << min(max(errors, 1) - 1, 20))
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    wait = min(wait, max(max_backoff, interval))
    return now + wait


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the response says it stays fresh (Cache-Control, then Expires), if it says."""
    control = headers.get("cache-control", "")
    if re.search(r"\b(no-cache|no-store)\b", control, re.I):
        return None
    if found := _MAX_AGE.search(control):
        return timedelta(seconds=int(found.group(1)))
    expires = http_date(headers.get("expires"))
    if expires is not None:
        return max(timedelta(0), expires - (http_date(headers.get("date")) or now))
    return None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**8))
    when = http_date(value)
    return None if when is None else max(0.0, (when - now).total_seconds())


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
