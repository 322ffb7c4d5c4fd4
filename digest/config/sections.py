"""The sections of config.toml: each setting declared once, with its help text."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from digest.cadence import EXPECTED, cadence_trigger, next_run

DEFAULT_CONFIG = Path("config.toml")
ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def secret(description: str) -> Any:
    """A field whose value `digest config show` masks."""
    return Field(default=None, description=description, json_schema_extra={"secret": True})


class DigestSettings(Section):
    title: str = Field("Digest", description="Name of the digest, shown in subjects and headers.")
    database: str = Field(
        "sqlite:///data/digest.db",
        description="SQLAlchemy URL; a relative SQLite path is relative to config.toml. "
        "DIGEST_DATABASE_URL overrides it (keeps a PostgreSQL password out of the file).",
        # For `digest config show`: a URL (its password is hidden) that this variable overrides.
        json_schema_extra={"url": True, "env": "DIGEST_DATABASE_URL"},
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL of the web app, used for links in emails.",
    )
    first_digest_days: int = Field(
        7, ge=1, le=365, description="How many days a subscriber's first digest looks back."
    )
    send_empty: bool = Field(False, description="Send a digest even when it has no items.")
    alert_max_age_hours: int = Field(
        48,
        ge=1,
        le=8760,
        description="Alert only items published this recently; older news (a new feed's "
        "backlog) waits for the digest.",
    )
    secret_key: str | None = secret(
        "Key that signs preference-center links; DIGEST_SECRET_KEY overrides it."
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f'"{value}" is not an http(s) URL')
        return value.rstrip("/")


class SmtpSettings(Section):
    host: str = Field("127.0.0.1", description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535, description="SMTP server port.")
    security: Literal["none", "starttls", "ssl"] = Field(
        "none", description='"starttls", "ssl" or "none".'
    )
    username_env: str = Field(
        "DIGEST_SMTP_USERNAME", description="Environment variable holding the SMTP user name."
    )
    password_env: str = Field(
        "DIGEST_SMTP_PASSWORD", description="Environment variable holding the SMTP password."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server.")
    rate_per_second: float = Field(
        0.0, ge=0, description="Most messages sent per second; 0 means no limit."
    )
    max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts before a temporary failure becomes permanent."
    )
    retry_delay: float = Field(
        60.0, gt=0, description="Seconds before the first retry; each retry waits twice as long."
    )
    max_retry_delay: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts, in seconds."
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of certificates to trust instead of the system's (private server).",
    )


class DkimSettings(Section):
    key_file: str | None = Field(
        None, description="PEM private key; messages are DKIM-signed when it is set."
    )
    selector: str = Field("digest", description="DKIM selector: the key is at SELECTOR._domainkey.")
    domain: str | None = Field(None, description="Signing domain; defaults to the sender's.")

    @field_validator("selector", "domain")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", value):
            raise ValueError(f'"{value}" is not a DNS name')
        return value


class DeliverySettings(Section):
    backend: Literal["file", "smtp"] = Field("file", description='"file" or "smtp".')
    outbox: str = Field(
        "outbox", description="Folder the file backend writes .eml and .html files into."
    )
    sender: str = Field("Digest <digest@example.org>", description="From address of every message.")
    reply_to: str | None = Field(None, description="Reply-To address, if any.")
    unsubscribe_mailto: str | None = Field(
        None, description="Address for mailto: unsubscribe requests, if any."
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="SMTP backend.")
    dkim: DkimSettings = Field(default_factory=DkimSettings, description="DKIM signing.")

    @field_validator("sender", "reply_to", "unsubscribe_mailto")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = re.search(r"<([^<>]+)>\s*$", value)
        check_email(address.group(1) if address else value)
        return value


class IngestSettings(Section):
    interval_minutes: int = Field(
        60, ge=1, description="Default minutes between two checks of a source."
    )
    max_interval_hours: int = Field(
        24,
        ge=1,
        le=24 * 7,
        description="Longest wait a feed can ask for (TTL, Cache-Control, Expires).",
    )
    timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds one fetch may take in all, redirects included."
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Seconds to wait for a server to accept the connection."
    )
    read_timeout_seconds: float = Field(
        15.0, gt=0, description="Seconds to wait for the next bytes from a server."
    )
    max_bytes: int = Field(
        10_000_000, ge=1024, description="Largest feed body accepted, counted decompressed."
    )
    concurrency: int = Field(8, ge=1, le=64, description="Feeds fetched at once.")
    per_host: int = Field(2, ge=1, le=16, description="Feeds fetched at once from one host.")
    user_agent: str = Field(
        "digest/0.1 (feed reader; +https://github.com/digest-newsletter/digest)",
        description="User-Agent sent with every fetch.",
    )
    error_limit: int = Field(
        8,
        ge=1,
        le=100,
        description="Failed checks in a row after which a source is paused.",
    )
    max_backoff_hours: int = Field(
        24, ge=1, le=24 * 7, description="Longest wait between two checks after errors."
    )
    parse_workers: int = Field(
        2, ge=1, le=32, description="Processes that parse feeds (about one per core)."
    )
    parse_timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds one feed may take to parse before it is given up."
    )
    parse_memory_mb: int = Field(
        512, ge=128, description="Memory one parsing process may use, in MB."
    )
    max_items_per_feed: int = Field(
        1000, ge=1, description="Most items read from one feed at one check."
    )
    story_similarity: float = Field(
        0.5,
        gt=0,
        le=1,
        description="How alike two items from different sources must be to count as one story.",
    )
    story_window_days: int = Field(
        3, ge=1, le=60, description="How many days back an item is compared with for stories."
    )


class SourceBase(Section):
    """What every kind of source has."""

    id: str = Field(description="Stable identifier of the source.")
    title: str | None = Field(None, description="Display name; defaults to the id or the feed's.")
    interval_minutes: int | None = Field(None, ge=1, description="Minutes between checks.")
    enabled: bool = Field(True, description="Whether the source is read at all.")


class DocumentsSource(SourceBase):
    kind: Literal["documents"]
    path: str = Field(description="Folder of .txt, .md and .html files, relative to config.toml.")


class FeedSource(SourceBase):
    kind: Literal["feed"]
    url: str = Field(description="http(s) URL or a local path of an RSS, Atom or JSON feed.")

    @field_validator("url")
    @classmethod
    def _location(cls, value: str) -> str:
        scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", value)
        if scheme and len(scheme.group(1)) > 1 and scheme.group(1).lower() not in ("http", "https"):
            raise ValueError(f'"{value}" is neither an http(s) URL nor a local path')
        return value


class WebSettings(Section):
    host: str = Field("127.0.0.1", description="Address `digest serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `digest serve` listens on.")
    admin_password_env: str = Field(
        "DIGEST_ADMIN_PASSWORD",
        description="Environment variable holding the admin password; when it is set, "
        "every page but the preference center asks for it (HTTP Basic, any user name) "
        "and answers clients other than this computer.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the web app answers to, besides localhost, 127.0.0.1, "
        "::1 and the host of public_url.",
    )
    token_max_age_days: int = Field(
        90, ge=1, le=3650, description="Days a preference or unsubscribe link stays valid."
    )

    @property
    def admin_password(self) -> str | None:
        """The admin password from the environment, or None when none is set."""
        return os.environ.get(self.admin_password_env) or None


class WorkersSettings(Section):
    backend: Literal["inprocess", "celery"] = Field(
        "inprocess",
        description='"inprocess": `digest run` composes and sends itself; "celery": it hands '
        "each due subscriber to the Celery workers that `digest worker` starts.",
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Celery broker (Redis) URL; DIGEST_BROKER_URL overrides it.",
    )
    visibility_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds before a task a worker took but never finished (it died) "
        "goes to another worker.",
    )
    send_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds after which a message a worker started sending but never "
        "recorded is sent again by another (keep it above [delivery.smtp] timeout).",
    )
    concurrency: int = Field(
        1, ge=1, le=64, description="Tasks one `digest worker` process runs at once (threads)."
    )

    @property
    def broker(self) -> str:
        return os.environ.get("DIGEST_BROKER_URL") or self.broker_url


SourceSettings = Annotated[DocumentsSource | FeedSource, Field(discriminator="kind")]


class AlertSettings(Section):
    themes: list[str] = Field(default_factory=list, description="Themes that trigger alerts.")
    threshold: float = Field(0.8, gt=0, le=1, description="Score at which an item is alerted.")
    daily_cap: int = Field(
        5, ge=0, description="Most alert emails a day (local time); 0 turns alerts off."
    )
    repeat_in_digest: bool = Field(False, description="Also list alerted items in the next digest.")


class SubscriberSettings(Section):
    email: str = Field(description="Address digests go to.")
    name: str = Field("", description="How the reader is greeted.")
    themes: list[str] = Field(description="Themes the reader follows.")
    cadence: str = Field(
        "daily 07:00", description='"daily HH:MM", "weekly DAY HH:MM" or a cron expression.'
    )
    timezone: str = Field("UTC", description="IANA time zone of the reader.")
    max_items: int = Field(30, ge=1, le=500, description="Most items in one digest.")
    min_score: float = Field(
        0.0, ge=0, le=1, description="Lowest score shown, above each theme's threshold."
    )
    alerts: AlertSettings | None = Field(None, description="Immediate alerts, if any.")
    quiet_hours: str | None = Field(
        None, description='Local "HH:MM-HH:MM" during which alerts wait.'
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None and not re.match(
            r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", value
        ):
            raise ValueError(f'"{value}" is not a time range; expected "HH:MM-HH:MM"')
        if value is not None and value[:5] == value[6:]:
            raise ValueError(f'"{value}" starts and ends at the same time; expected two times')
        return value

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str) -> str:
        trigger = cadence_trigger(value, ZoneInfo("UTC"))  # the zone does not change what parses
        try:
            next_run(trigger, datetime(2000, 1, 1, tzinfo=UTC))  # leap years included
        except ValueError:
            raise ValueError(f'"{value}" names a date that never comes; {EXPECTED}') from None
        return value


def check_email(value: str) -> str:
    """Validate an address (no DNS lookups) and return its normalised form."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f'"{value}" is not an email address ({exc})') from None


def check_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'"{value}" is not an IANA time zone; expected a name like "Europe/Paris" or "UTC"'
        ) from None
