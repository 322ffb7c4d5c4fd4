"""From a composed Digest to a queued message: render it, build the MIME, store it."""

from __future__ import annotations

from datetime import UTC, datetime

from digest.app import App
from digest.links import LinkSigner, signer_for
from digest.models import Digest
from digest.render import Renderer


def enqueue(
    app: App,
    renderer: Renderer,
    digest: Digest,
    *,
    key: str,
    now: datetime,
    signer: LinkSigner | None = None,
) -> bool:
    """Queue a digest or alert under its outbox key; False if that key was already queued."""
    subscriber = digest.subscriber
    links = (signer or signer_for(app.settings)).links(subscriber.id, subscriber.email, now=now)
    rendered = renderer.render_digest(digest, links=links, key=key, now=now)
    raw = renderer.build_message(rendered, recipient=subscriber.email, date=now)
    queued = app.store.queue_message(
        key=key,
        kind=digest.kind,
        subscriber_id=subscriber.id,
        recipient=subscriber.email,
        window_start=digest.window_start,
        window_end=digest.window_end,
        subject=rendered.subject,
        message_id=rendered.message_id,
        message=raw,
        item_ids=digest.item_ids,
        now=now,
    )
    return queued is not None


def stamp(moment: datetime) -> str:
    """A UTC time as it appears in outbox keys."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"
