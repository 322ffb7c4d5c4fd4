"""The running application: settings, store, tagger and clock, opened once and passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digest.config import Settings, SubscriberSettings, load_settings
from digest.models import Alerts, Subscriber
from digest.store import Store
from digest.tag import retag
from digest.tagging import Tagger, build_tagger

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time: the one place digest reads it; everything else is handed a clock."""
    return datetime.now(UTC)


@dataclass(slots=True)
class App:
    settings: Settings
    store: Store
    tagger: Tagger
    clock: Clock

    @classmethod
    def open(cls, config: Path, *, clock: Clock = system_clock, sync: bool = True) -> App:
        """Load config.toml, open (and upgrade) the database, and mirror the config into it."""
        settings = load_settings(config)
        store = Store.open(settings.database_url)
        app = cls(settings, store, build_tagger(settings.themes), clock)
        if sync:
            app.sync()
        return app

    def sync(self) -> None:
        """Mirror sources and subscribers from config.toml; re-tag themes that changed."""
        now = self.clock()
        self.store.sync_sources(
            (
                (s.id, s.kind, s.url if s.kind == "feed" else s.path, s.title or s.id)
                for s in self.settings.sources
            ),
            now,
        )
        self.store.sync_subscribers(
            (subscriber_from_settings(s) for s in self.settings.subscribers), now
        )
        retag(self.store, self.settings.themes, self.tagger, now)

    def close(self) -> None:
        self.store.close()


def subscriber_from_settings(sub: SubscriberSettings) -> Subscriber:
    """The Subscriber a config.toml (or CLI) entry describes; id 0 until it is stored."""
    alerts = sub.alerts
    return Subscriber(
        id=0,
        email=sub.email,
        name=sub.name,
        themes=tuple(sub.themes),
        cadence=sub.cadence,
        timezone=sub.timezone,
        max_items=sub.max_items,
        min_score=sub.min_score,
        alerts=Alerts(
            tuple(alerts.themes), alerts.threshold, alerts.daily_cap, alerts.repeat_in_digest
        )
        if alerts
        else Alerts(),
        quiet_hours=sub.quiet_hours,
    )
