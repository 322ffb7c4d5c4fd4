"""A small deployment for subscription tests: three themes, two sources, real SQLite.

Items are stored with the scores a test chooses (the tagger has its own tests), through the
same store methods ingestion uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from digest.app import App
from digest.models import Entry, Evidence, ThemeMatch
from digest.store.schema import deliveries, delivery_items, items
from tests.conftest import Clock

THEMES = """
[themes.alpha]
label = "Alpha"
threshold = 0.5
[themes.alpha.phrases]
"alpha" = 0.6

[themes.beta]
label = "Beta"
threshold = 0.5
[themes.beta.phrases]
"beta" = 0.6

[themes.gamma]
label = "Gamma"
threshold = 0.4
[themes.gamma.phrases]
"gamma" = 0.6
"""


def write_deployment(
    folder: Path, subscribers: str = "", *, digest_extra: str = "", first_days: int = 7
) -> Path:
    """config.toml with two feed sources, three themes and the given [[subscribers]]."""
    (folder / "feeds").mkdir(exist_ok=True)
    for name in ("wire", "other"):
        (folder / "feeds" / f"{name}.xml").write_text(
            f"<rss version='2.0'><channel><title>{name}</title></channel></rss>"
        )
    config = folder / "config.toml"
    config.write_text(
        f"""
[digest]
title = "Test Watch"
database = "sqlite:///data/digest.db"
first_digest_days = {first_days}
{digest_extra}

[delivery]
backend = "file"
outbox = "outbox"
sender = "Test Watch <digest@example.org>"

[[sources]]
id = "wire"
kind = "feed"
url = "feeds/wire.xml"
title = "Wire"

[[sources]]
id = "other"
kind = "feed"
url = "feeds/other.xml"
title = "Other"
{THEMES}
{subscribers}
""",
        encoding="utf-8",
    )
    return config


def reader(
    email: str,
    themes: Iterable[str] = ("alpha",),
    *,
    cadence: str = "daily 07:00",
    timezone: str = "UTC",
    extra: str = "",
) -> str:
    """One [[subscribers]] entry."""
    listed = ", ".join(f'"{t}"' for t in themes)
    return f"""
[[subscribers]]
email = "{email}"
themes = [{listed}]
cadence = "{cadence}"
timezone = "{timezone}"
{extra}
"""


class Items:
    """Stores items with chosen scores, one guid after another."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.count = 0
        # Stored items come from reads: record that every source has been read (and is
        # due again), as a running deployment would have, before its items exist.
        for source in app.settings.sources:
            app.store.record_check(source.id, app.clock(), next_check_at=None)

    def add(
        self,
        scores: dict[str, float],
        now: datetime,
        *,
        source: str = "wire",
        title: str | None = None,
        published: datetime | None = None,
        story_of: int | None = None,
    ) -> int:
        n = self.count = self.app.store.count_items() + 1
        text = f"Body of item {n}"
        entry = Entry(
            source, f"g{n}", f"https://example.org/{n}", title or f"Item {n}", text, text, published
        )
        [item_id] = self.app.store.upsert_entries(source, [entry], now).new
        self.app.store.save_tags(
            {
                item_id: [
                    ThemeMatch(theme, score, (Evidence(theme, f"{theme} here", score),))
                    for theme, score in scores.items()
                ]
            }
        )
        if story_of is not None:
            with self.app.store.write() as conn:
                conn.execute(update(items).where(items.c.id == item_id).values(story_id=story_of))
        return item_id


def delivered(app: App, email: str, kind: str | None = None) -> list[list[int]]:
    """The item ids of every message queued for `email`, oldest first."""
    query = (
        select(deliveries.c.id, delivery_items.c.item_id, deliveries.c.kind)
        .join(delivery_items, delivery_items.c.delivery_id == deliveries.c.id, isouter=True)
        .where(deliveries.c.recipient == email)
        .order_by(deliveries.c.id, delivery_items.c.item_id)
    )
    found: dict[int, list[int]] = {}
    with app.store.read() as conn:
        for delivery_id, item_id, message_kind in conn.execute(query):
            if kind is not None and message_kind != kind:
                continue
            found.setdefault(delivery_id, [])
            if item_id is not None:
                found[delivery_id].append(item_id)
    return list(found.values())


def at(text: str) -> datetime:
    """An ISO time; UTC unless it says otherwise."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def open_app(config: Path, clock: Clock) -> App:
    return App.open(config, clock=clock)


__all__ = ["Items", "at", "delivered", "open_app", "reader", "write_deployment"]
