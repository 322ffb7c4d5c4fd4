"""A subscriber's next digest, composed and rendered exactly as the send cycle would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from digest.compose import compose_digest
from digest.models import Digest, RenderedEmail, Subscriber
from digest.render import preheader
from digest.schedule import digest_key, next_digest_at
from digest.web.context import Web


class BadTime(ValueError):
    """An `at` value that is not an ISO time."""


@dataclass(frozen=True, slots=True)
class Preview:
    subscriber: Subscriber
    now: datetime
    at: datetime  # the moment the digest is composed for
    travelled: bool  # whether `at` came from the reader of the page (?at=)
    next_at: datetime | None  # when the next digest is due, None if the cadence never fires
    digest: Digest
    rendered: RenderedEmail
    headers: list[tuple[str, str]]
    preheader: str
    would_send: bool


def parse_at(value: str, zone: str) -> datetime:
    """An ISO time from `?at=`; one without an offset is in the subscriber's time zone."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadTime(
            f'"{value}" is not a time. Use an ISO time such as 2026-11-23T07:00 '
            "(in the subscriber's time zone) or 2026-11-23T07:00+09:00."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed


def next_at(subscriber: Subscriber, now: datetime) -> datetime | None:
    """When the subscriber's next digest is due, or None if their cadence never fires."""
    try:
        return next_digest_at(subscriber, now)
    except ValueError:
        return None


def build_preview(web: Web, subscriber: Subscriber, at: datetime | None) -> Preview:
    """Compose and render the digest due next (or due at `at`), recording nothing.

    Without `at` the digest is composed for the moment it is due, or now if that is past,
    from the items stored now: what the reader would get if nothing new came in.
    """
    settings = web.app.settings
    now = web.app.clock()
    due = next_at(subscriber, now)
    when = at or max(now, due or now)
    digest = compose_digest(web.app.store, settings, subscriber, when)
    links = web.signer.links(subscriber.id, subscriber.email, now=when)
    try:
        key = digest_key(subscriber.id, subscriber.next_digest_at or when)
    except ValueError:  # a cadence that never fires again has no slot to name
        key = f"preview:{subscriber.id}:{when.isoformat()}"
    rendered = web.renderer.render_digest(digest, links=links, key=key, now=when)
    headers = [
        ("From", settings.delivery.sender),
        ("To", subscriber.email),
        ("Subject", rendered.subject),
        ("Message-ID", rendered.message_id),
        *rendered.headers.items(),
    ]
    if settings.delivery.reply_to:
        headers.insert(2, ("Reply-To", settings.delivery.reply_to))
    return Preview(
        subscriber=subscriber,
        now=now,
        at=when,
        travelled=at is not None,
        next_at=due,
        digest=digest,
        rendered=rendered,
        headers=headers,
        preheader=preheader(digest),
        would_send=subscriber.status == "active"
        and (not digest.is_empty or settings.digest.send_empty),
    )
