"""Fan-out: the work of one due subscriber, or one queued message, as a unit a worker runs.

With `[workers] backend = "celery"` the scheduler hands each due subscriber to a worker
(`dispatch_due`) instead of composing and sending itself. Every unit is idempotent: the
digest of a slot is queued under its outbox key once, and a message is sent only by the
worker that claimed it (see store/claims.py). A worker killed mid-task loses nothing: the
broker gives the task to another worker, which finds the digest already queued and sends
it, or finds it sent and stops. The one repeat that cannot be ruled out is a message the
server accepted just before the sender died, sent again with the same Message-ID.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from digest.app import App
from digest.compose import compose_digests
from digest.deliver import Mailer, make_mailer
from digest.errors import DeliveryError
from digest.ingest import RefreshResult, refresh_all
from digest.links import LinkSigner
from digest.outgoing import enqueue
from digest.render import Renderer
from digest.schedule import digest_key, following_slot

log = logging.getLogger(__name__)

# What the scheduler calls to hand a task to the workers: (task name, arguments).
Publish = Callable[[str, list[object]], None]

DELIVER_SUBSCRIBER = "digest.deliver_subscriber"
SEND_MESSAGE = "digest.send_message"
REFRESH_SOURCE = "digest.refresh_source"


@dataclass(slots=True)
class DispatchResult:
    subscribers: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)


def dispatch_due(
    app: App, now: datetime, publish: Publish, *, check: Callable[[], None] | None = None
) -> DispatchResult:
    """Hand every due subscriber to the workers, then every queued message nobody sends.

    A subscriber moves to their next slot only after their task is published: a crash in
    between publishes it again, and the outbox key makes the repeat harmless.
    """
    result = DispatchResult()
    for subscriber in app.store.due_subscribers(now):
        if check is not None:
            check()
        slot = subscriber.next_digest_at or now
        publish(DELIVER_SUBSCRIBER, [subscriber.id, slot.isoformat()])
        app.store.advance_digest(
            subscriber.id, subscriber.next_digest_at, following_slot(subscriber, now)
        )
        result.subscribers.append(subscriber.id)
    result.messages = dispatch_messages(app, now, publish)
    return result


def dispatch_messages(app: App, now: datetime, publish: Publish) -> list[int]:
    """Publish a send for each due queued message that no live worker is sending."""
    ids = app.store.sendable_message_ids(now, _stale_before(app, now))
    for delivery_id in ids:
        publish(SEND_MESSAGE, [delivery_id])
    return ids


def deliver_subscriber(
    app: App,
    subscriber_id: int,
    slot: datetime,
    *,
    renderer: Renderer,
    signer: LinkSigner | None = None,
    mailer: Mailer | None = None,
) -> str:
    """Compose, queue and send one subscriber's digest for `slot`: "sent", "empty", ..."""
    now = app.clock()
    key = digest_key(subscriber_id, slot)
    delivery_id = app.store.message_id_for_key(key)
    if delivery_id is None:
        subscriber = app.store.get_subscriber(subscriber_id)
        if subscriber.status != "active":
            return "inactive"
        [digest] = compose_digests(app.store, app.settings, [subscriber], now)
        if digest.is_empty and not app.settings.digest.send_empty:
            return "empty"
        enqueue(app, renderer, digest, key=key, now=now, signer=signer)
        delivery_id = app.store.message_id_for_key(key)
        if delivery_id is None:  # pragma: no cover - queued a moment ago
            return "lost"
    return send_message(app, delivery_id, mailer=mailer)


def send_message(app: App, delivery_id: int, *, mailer: Mailer | None = None) -> str:
    """Send one queued message if this worker can claim it.

    Returns "sent", "retrying", "failed", "done" (sent or failed already), "waiting" (its
    next attempt is not due yet), "busy" (another worker is sending it; try again after
    [workers] send_timeout) or "unreachable" (the server cannot be reached; nothing about
    the message changed, try again later). `mailer` is a session
    the caller keeps open across messages; without one, a session for this message alone.
    """
    now = app.clock()
    claimed = app.store.claim_messages(now, _stale_before(app, now), ids=[delivery_id], limit=1)
    if not claimed:
        state = app.store.message_state(delivery_id)
        if state == "sending":
            return "busy"
        # Queued for a later retry: the scheduler hands it out again when it is due.
        return "waiting" if state == "queued" else "done"
    [message] = claimed
    own = mailer is None
    mailer = mailer or make_mailer(app.settings)
    retry = mailer.retry
    try:
        try:
            reply = mailer.send(message)
        finally:
            if own:
                mailer.__exit__(None, None, None)
    except DeliveryError as exc:
        if exc.connection:
            # This worker cannot reach the server: no fault of the message, which keeps its
            # attempts and is claimable again at once (the task retries it later).
            app.store.abandon_attempt(message.id)
            log.warning("cannot send %s: %s", message.id, exc, extra={"digest_id": message.id})
            return "unreachable"
        attempts = message.attempts + 1
        permanent = exc.permanent or attempts >= retry.max_attempts
        retry_at = None if permanent else retry.next_attempt(attempts, now)
        app.store.mark_failed(message.id, str(exc), now, retry_at=retry_at)
        log.info("delivery of %s failed: %s", message.id, exc, extra={"digest_id": message.id})
        return "failed" if permanent else "retrying"
    app.store.mark_sent(message.id, reply, app.clock(), known=message)
    return "sent"


def _stale_before(app: App, now: datetime) -> datetime:
    return now - timedelta(seconds=app.settings.workers.send_timeout)


def dispatch_ingest(app: App, now: datetime, publish: Publish, source_ids: list[str]) -> list[str]:
    """Hand each due source to the workers, unless a refresh of it is still pending.

    A pending refresh holds the lease `ingest:SOURCE` under a name of its own until the
    worker is done (or the visibility timeout passes: the broker then hands the task on).
    """
    ttl = timedelta(seconds=app.settings.workers.visibility_timeout)
    handed: list[str] = []
    for source_id in source_ids:
        owner = f"task:{uuid.uuid4().hex}"
        if app.store.acquire_lease(f"ingest:{source_id}", owner, now, ttl):
            publish(REFRESH_SOURCE, [source_id, owner])
            handed.append(source_id)
    return handed


def refresh_one(app: App, source_id: str, owner: str, client: httpx.Client) -> int:
    """Refresh one source as a worker task; the number of new items.

    Alerts for the new items are the scheduler's: it checks after each round, so two
    workers never compose one reader's alert at once.
    """
    new = 0

    def count(done: RefreshResult) -> None:
        nonlocal new
        new += done.new

    try:
        refresh_all(
            app.store,
            app.settings,
            client=client,
            tagger=app.tagger,
            now=app.clock(),
            only=[source_id],
            on_done=count,
        )
    finally:
        app.store.release_lease(f"ingest:{source_id}", owner)
    return new
