"""How values look on the pages: times, cadences, source health and highlighted evidence.

Everything here returns plain strings, which Jinja escapes, or Markup built only from
escaped pieces: no value from a feed or a form reaches a page unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from digest.cadence import DAYS_FULL
from digest.models import Source
from digest.sources.clean import html_to_text, safe_url

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_DAILY = re.compile(r"^daily\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)
_WEEKLY = re.compile(r"^weekly\s+([a-z]+)\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)


def split_cadence(cadence: str) -> tuple[str, str, str]:
    """A cadence as (frequency, day, "HH:MM"): ("daily", "", "07:00"), or ("custom", "", "")."""
    text = " ".join(cadence.split())
    if match := _DAILY.match(text):
        return "daily", "", f"{int(match.group(1)):02d}:{match.group(2)}"
    if (match := _WEEKLY.match(text)) and match.group(1).lower() in DAYS_FULL:
        day = DAYS_FULL[match.group(1).lower()]
        return "weekly", day, f"{int(match.group(2)):02d}:{match.group(3)}"
    return "custom", "", ""


def describe_cadence(cadence: str) -> str:
    """ "daily 07:00" -> "Daily at 07:00"; a cron expression is shown as it is."""
    frequency, day, at = split_cadence(cadence)
    if frequency == "daily":
        return f"Daily at {at}"
    if frequency == "weekly":
        return f"Weekly on {DAY_NAMES[day]} at {at}"
    return f"Cron: {cadence}"


def local_time(value: datetime | None, zone: str = "UTC") -> str:
    """A moment in a reader's own time zone, e.g. "Mon 23 Nov 2026, 07:00 KST"."""
    if value is None:
        return "never"
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%a %-d %b %Y, %H:%M} {local.tzname()}"


def relative(value: datetime | None, now: datetime) -> str:
    """How far a moment is from now, roughly: "in 19 h", "3 days ago", "now"."""
    if value is None:
        return ""
    delta = value - now
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "now"
    if seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 2 * 86400:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} days"
    return f"in {amount}" if delta > timedelta(0) else f"{amount} ago"


def iso(value: datetime) -> str:
    """An ISO time without microseconds, as `?at=` takes it."""
    return value.replace(microsecond=0).isoformat()


def form_time(value: datetime, zone: str) -> str:
    """A moment as an <input type="datetime-local"> value in the reader's time zone."""
    return f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"


def source_health(source: Source, now: datetime) -> tuple[str, str]:
    """A source's state in a word or two, and a CSS class for it: "ok", "warn" or "bad"."""
    if source.status == "disabled":
        return "disabled", "bad"
    if source.status == "paused":
        return "paused", "warn"
    if source.last_checked_at is None:
        return "not checked yet", "warn"
    if source.error_count:
        noun = "error" if source.error_count == 1 else "errors"
        return f"failing ({source.error_count} {noun} in a row)", "bad"
    return "ok", "ok"


def href(url: str | None) -> str | None:
    """A link safe to put in href (http, https or mailto), or None to show no link."""
    return safe_url(url) or None


def excerpt(summary_html: str, text: str, limit: int = 300) -> str:
    """The first words of an item, as plain text."""
    plain = " ".join((html_to_text(summary_html) or text).split())
    if len(plain) <= limit:
        return plain
    return plain[:limit].rsplit(" ", 1)[0] + " …"


def highlight(snippet: str, phrases: Iterable[str]) -> Markup:
    """The snippet, escaped, with every matched phrase wrapped in <mark>."""
    wanted = sorted({p for p in phrases if p.strip()}, key=len, reverse=True)
    if not wanted:
        return Markup(escape(snippet))
    pattern = re.compile("|".join(re.escape(p) for p in wanted), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for found in pattern.finditer(snippet):
        out.append(escape(snippet[last : found.start()]))
        out.append(Markup("<mark>{}</mark>").format(found.group(0)))
        last = found.end()
    out.append(escape(snippet[last:]))
    return Markup("").join(out)
