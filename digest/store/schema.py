"""The tables, as SQLAlchemy Core metadata. Migrations under migrations/ create them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every dialect (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("location", Text, nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="active"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_checked_at", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_check_at", UTCDateTime()),
    Column("in_config", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # "config" rows mirror config.toml; "cli" and "opml" rows were added with `digest sources
    # add` or `import` and live only here.
    Column("origin", String(20), nullable=False, default="config", server_default="config"),
    # A permanent redirect's target for a config.toml source (config.toml keeps `location`).
    Column("moved_to", Text),
    Column("interval_minutes", Integer),
    Column("last_warning", Text),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(100), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("guid", Text, nullable=False),
    Column("url", Text, nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    Column("summary_html", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("author", Text, nullable=False, default=""),
    Column("published_at", UTCDateTime()),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("content_hash", String(64), nullable=False),
    # Items that report the same story point at the story's first item.
    Column("story_id", Integer, ForeignKey("items.id", ondelete="SET NULL")),
    Column("image_url", Text, nullable=False, default="", server_default=""),
    Column("enclosures", JSON),
    # MinHash of the text's word shingles: finds the same story in other sources.
    Column("signature", LargeBinary),
    UniqueConstraint("source_id", "guid", name="uq_items_source_guid"),
    Index("ix_items_source_url", "source_id", "url"),
    Index("ix_items_source_hash", "source_id", "content_hash"),
    Index("ix_items_first_seen", "first_seen_at"),
    Index("ix_items_story", "story_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("theme", String(100), primary_key=True),
    Column("score", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Index("ix_tags_theme_score", "theme", "score"),
)

themes = Table(
    "themes",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("tagged_at", UTCDateTime(), nullable=False),
    # The threshold the stored scores were judged by (None if tagged before 0006).
    Column("threshold", Float, nullable=True),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", Text, nullable=False, default=""),
    Column("themes", JSON, nullable=False),
    Column("cadence", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("max_items", Integer, nullable=False, default=30),
    Column("min_score", Float, nullable=False, default=0.0),
    Column("alert_themes", JSON, nullable=False),
    Column("alert_threshold", Float, nullable=False, default=0.8),
    Column("alert_daily_cap", Integer, nullable=False, default=5),
    Column("quiet_hours", String(20)),
    Column("status", String(20), nullable=False, default="active"),
    # "config" rows follow config.toml; "cli" and "web" rows live only in the store.
    Column("origin", String(20), nullable=False, default="config"),
    Column("last_digest_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The slot of the next digest (UTC), from the cadence in the reader's zone; NULL = now.
    Column("next_digest_at", UTCDateTime()),
    Column("alert_repeat_in_digest", Boolean, nullable=False, default=False),
    # Alerts have looked at every item first seen up to here; NULL = not started yet.
    Column("alerts_checked_at", UTCDateTime()),
    # Alerts found in quiet hours wait until this time.
    Column("alerts_held_until", UTCDateTime()),
    # Who paused the subscriber: "config" (left config.toml), "operator" or "owner".
    Column("paused_by", String(20)),
    Index("ix_subscribers_due", "status", "next_digest_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One message per (kind, subscriber, period): the key that makes a retry idempotent.
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("status", String(20), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("server_reply", Text),
    Column("queued_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("sent_at", UTCDateTime()),
    # Set while an attempt is in flight. Still set when a sender starts means the one
    # before it died mid-attempt: the server may or may not have the message.
    Column("sending_at", UTCDateTime()),
    # Attempts cut short that way; a message sent after one may have arrived twice.
    Column("interrupted", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_deliveries_status", "status", "next_attempt_at"),
    Index("ix_deliveries_subscriber", "subscriber_id", "kind", "sent_at"),
    # Compose asks "what went to these readers since their window opened".
    Index("ix_deliveries_subscriber_queued", "subscriber_id", "queued_at"),
)

# A delivery's bytes live here, not in deliveries, so that recording an attempt rewrites a
# small row, not a 60 KB one (SQLite rewrites the whole record on update).
delivery_messages = Table(
    "delivery_messages",
    metadata,
    Column(
        "delivery_id", Integer, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    ),
    # The message exactly as it goes on the wire (CRLF, signed if DKIM is on).
    Column("message", LargeBinary, nullable=False),
)

delivery_items = Table(
    "delivery_items",
    metadata,
    Column(
        "delivery_id", Integer, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("subscriber_id", Integer, nullable=False),
    Index("ix_delivery_items_subscriber_item", "subscriber_id", "item_id"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)
