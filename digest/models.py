"""The data that travels between stages: plain frozen dataclasses, no I/O.

The tagger's results are named tuples instead: it makes about ten of them per item, and a
tuple is built in half the time of a frozen dataclass."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

SubscriberStatus = Literal["active", "paused", "unsubscribed"]
DeliveryKind = Literal["digest", "alert"]
DeliveryStatus = Literal["queued", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One item as a source adapter read it, cleaned but not yet stored."""

    source_id: str
    guid: str
    url: str
    title: str
    summary_html: str
    text: str
    published_at: datetime | None = None
    author: str = ""
    image_url: str = ""
    enclosures: tuple[str, ...] = ()
    # MinHash of the text's word shingles (see digest/sources/stories.py); b"" if too short.
    signature: bytes = b""

    @property
    def content_hash(self) -> str:
        """Identifies the content regardless of where it came from or how it is spaced."""
        normal = " ".join(f"{self.title}\n{self.text}".split()).casefold()
        return hashlib.sha256(normal.encode()).hexdigest()


class Evidence(NamedTuple):
    """A matched phrase and the sentence it was found in: "why this is here"."""

    phrase: str
    snippet: str
    weight: float


class ThemeMatch(NamedTuple):
    """How strongly an item belongs to one theme, and why."""

    theme: str
    score: float
    evidence: tuple[Evidence, ...] = ()
    # Exclusions that took weight off, each with its sentence (weights are negative).
    penalties: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class Item:
    """A stored item."""

    id: int
    source_id: str
    guid: str
    url: str
    title: str
    summary_html: str
    text: str
    published_at: datetime | None
    first_seen_at: datetime
    author: str = ""
    story_id: int | None = None
    image_url: str = ""
    enclosures: tuple[str, ...] = ()

    @property
    def when(self) -> datetime:
        """The date shown to readers: published, else first seen."""
        return self.published_at or self.first_seen_at


@dataclass(frozen=True, slots=True)
class Source:
    """A source's stored state: where it is and how its last checks went."""

    id: str
    kind: str
    location: str
    title: str
    status: str = "active"
    etag: str | None = None
    last_modified: str | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    next_check_at: datetime | None = None
    item_count: int = 0
    # "config" rows mirror config.toml; "cli" and "opml" rows live only in the store.
    origin: str = "config"
    # Where a permanent redirect moved a config.toml feed (config.toml still says `location`).
    moved_to: str | None = None
    interval_minutes: int | None = None
    last_warning: str | None = None

    @property
    def fetch_location(self) -> str:
        """Where the source is read from: its permanent new address, if it moved."""
        return self.moved_to or self.location


@dataclass(frozen=True, slots=True)
class Alerts:
    """Immediate alerts: new items of these themes at or above the threshold, capped per day."""

    themes: tuple[str, ...] = ()
    threshold: float = 0.8
    daily_cap: int = 5
    # False: an item that went out in an alert is left out of the next digest.
    repeat_in_digest: bool = False


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A reader: what they follow, when they want it, and where they are in time."""

    id: int
    email: str
    name: str
    themes: tuple[str, ...]
    cadence: str
    timezone: str
    max_items: int = 30
    min_score: float = 0.0
    alerts: Alerts = field(default_factory=Alerts)
    quiet_hours: str | None = None
    status: SubscriberStatus = "active"
    last_digest_at: datetime | None = None
    origin: str = "config"
    # When the next digest is due (UTC); None means at once.
    next_digest_at: datetime | None = None
    # Alerts have considered every item first seen up to this time.
    alerts_checked_at: datetime | None = None
    # Alerts found during quiet hours wait until this time.
    alerts_held_until: datetime | None = None

    def as_config_entry(self) -> dict[str, Any]:
        """The reader's preferences as a [[subscribers]] entry of config.toml holds them, for
        SubscriberSettings to validate."""
        return {
            "email": self.email,
            "name": self.name,
            "themes": list(self.themes),
            "cadence": self.cadence,
            "timezone": self.timezone,
            "max_items": self.max_items,
            "min_score": self.min_score,
            "alerts": {
                "themes": list(self.alerts.themes),
                "threshold": self.alerts.threshold,
                "daily_cap": self.alerts.daily_cap,
                "repeat_in_digest": self.alerts.repeat_in_digest,
            },
            "quiet_hours": self.quiet_hours,
        }


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One item in a digest, with its score in the section's theme and why it is there."""

    item: Item
    source_title: str
    score: float
    evidence: tuple[Evidence, ...]
    also_reported_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestSection:
    theme: str
    label: str
    entries: tuple[DigestEntry, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """What one subscriber receives for one window: sections by theme, in config order."""

    title: str
    kind: DeliveryKind
    subscriber: Subscriber
    window_start: datetime
    window_end: datetime
    sections: tuple[DigestSection, ...]
    omitted: int = 0

    @property
    def entries(self) -> tuple[DigestEntry, ...]:
        return tuple(e for section in self.sections for e in section.entries)

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(e.item.id for e in self.entries)

    @property
    def is_empty(self) -> bool:
        return not self.sections


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A finished message: headers plus the text and HTML parts."""

    subject: str
    text: str
    html: str
    headers: dict[str, str]
    message_id: str
