"""Schedule: what is due, and the jobs that ingest, alert and send it.

The store knows what is due: each source's next check, and each subscriber's next digest
slot (`next_digest_at`, from their cadence in their zone). Serving a slot queues one digest
under a key made from the slot, then moves the subscriber to their next slot after now, so
a reader back from downtime gets one catch-up digest, not one per missed slot.

Only one process at a time ingests or sends: it holds the "scheduler" lease in the store,
renews it as it goes, and gives up (leaving everything queued for the next holder) if it
loses it or is asked to stop. The outbox's unique keys make a repeat harmless anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from digest.alerts import AlertResult, send_alerts
from digest.app import App, Clock
from digest.compose import compose_digests, compose_in_chunks
from digest.deliver import FlushResult, flush_outbox, make_mailer
from digest.errors import DigestError
from digest.ingest import RefreshResult, configured_sources, refresh_all
from digest.links import LinkSigner, signer_for
from digest.models import Digest, Source, Subscriber
from digest.outgoing import enqueue, stamp
from digest.render import Renderer
from digest.sources.fetch import make_client
from digest.store import Store
from digest.store.subscribers import next_slot

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(minutes=5)
LEASE_RENEW = timedelta(minutes=1)
CHUNK = 500  # subscribers composed together


class BusyError(DigestError):
    """Another process holds the scheduler lease."""


class Stopped(Exception):  # noqa: N818 - a signal, not an error
    """A stop was asked for, or the lease was lost: the job ends at a safe point."""


def lease_owner() -> str:
    """A name for this process in the leases table: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class Lease:
    """The right to ingest and send, held in the store and renewed while work goes on."""

    store: Store
    clock: Clock
    owner: str = field(default_factory=lease_owner)
    stop: threading.Event = field(default_factory=threading.Event)
    name: str = LEASE_NAME
    ttl: timedelta = LEASE_TTL
    _renewed: datetime | None = None

    def acquire(self) -> bool:
        now = self.clock()
        if self.store.acquire_lease(self.name, self.owner, now, self.ttl):
            self._renewed = now
            return True
        return False

    def check(self) -> None:
        """Between two units of work: stop if asked to, renew the lease when it is time."""
        if self.stop.is_set():
            raise Stopped("stop requested")
        now = self.clock()
        if self._renewed is not None and now - self._renewed < LEASE_RENEW:
            return
        if not self.store.acquire_lease(self.name, self.owner, now, self.ttl):
            raise Stopped("the scheduler lease went to another process")
        self._renewed = now

    def release(self) -> None:
        self.store.release_lease(self.name, self.owner)
        self._renewed = None

    @contextmanager
    def held(self) -> Iterator[Lease]:
        """Hold the lease for a block; BusyError if another process has it."""
        if not self.acquire():
            raise BusyError(
                "Another digest process is ingesting or sending on this database right now.",
                hint="Try again in a minute; a running 'digest run' does this by itself.",
            )
        try:
            yield self
        finally:
            self.release()


@dataclass(slots=True)
class SendResult:
    queued: list[Digest] = field(default_factory=list)
    skipped_empty: list[Subscriber] = field(default_factory=list)
    alerts: AlertResult = field(default_factory=AlertResult)
    flushed: FlushResult = field(default_factory=FlushResult)
    stopped: bool = False
    dispatched: int = 0  # subscribers handed to Celery workers ([workers] backend = "celery")


def digest_key(subscriber_id: int, slot: datetime) -> str:
    """The outbox key of a subscriber's digest for one scheduled slot."""
    return f"digest:{subscriber_id}:{stamp(slot)}"


def next_digest_at(subscriber: Subscriber, now: datetime) -> datetime:
    """When this subscriber's next digest is due: their next slot, or now if it has passed."""
    slot = subscriber.next_digest_at
    return now if slot is None or slot <= now else slot


def forced_key(subscriber_id: int, now: datetime) -> str:
    return f"digest:{subscriber_id}:forced:{stamp(now)}"


def following_slot(subscriber: Subscriber, now: datetime) -> datetime:
    """The slot after the one being served: the first after now (so missed slots count once)."""
    slot = subscriber.next_digest_at or now
    following = next_slot(subscriber.cadence, subscriber.timezone, now, previous=slot)
    if following is None:  # a cadence that never fires again: look once a day
        log.warning("subscriber %s: cadence %r has no next slot", subscriber.id, subscriber.cadence)
        return now + timedelta(days=1)
    return following


def send_due(app: App, now: datetime, *, lease: Lease | None = None) -> SendResult:
    """Queue a digest for every subscriber whose slot has come, then deliver the outbox.

    Also releases alerts whose quiet hours have ended.
    """
    result = SendResult()
    check = lease.check if lease is not None else _no_check
    renderer = Renderer(app.settings)
    signer = signer_for(app.settings)
    if app.settings.workers.backend == "celery":
        return _send_due_by_workers(app, now, renderer, check, result)
    try:
        due = app.store.due_subscribers(now)
        for digests in compose_in_chunks(app.store, app.settings, due, now, chunk=CHUNK):
            check()
            for digest in digests:
                check()
                if serve_slot(app, renderer, digest, now, signer=signer):
                    result.queued.append(digest)
                elif digest.is_empty:
                    result.skipped_empty.append(digest.subscriber)
        result.alerts = send_alerts(app, now, renderer=renderer, held_only=True, check=check)
        result.flushed = flush(app, now, lease)
    except Stopped as exc:
        log.info("send_due stopped: %s; the rest waits for the next run", exc)
        result.stopped = True
    return result


def _send_due_by_workers(
    app: App, now: datetime, renderer: Renderer, check: Callable[[], None], result: SendResult
) -> SendResult:
    """Hand every due subscriber (and every queued message) to the Celery workers."""
    from digest.fanout import dispatch_due
    from digest.workers import publisher

    try:
        result.alerts = send_alerts(app, now, renderer=renderer, held_only=True, check=check)
        result.dispatched = len(
            dispatch_due(app, now, publisher(app.settings), check=check).subscribers
        )
    except Stopped as exc:
        log.info("send_due stopped: %s; the rest waits for the next run", exc)
        result.stopped = True
    return result


def serve_slot(
    app: App, renderer: Renderer, digest: Digest, now: datetime, *, signer: LinkSigner | None = None
) -> bool:
    """Queue a reader's digest for their current slot, then move them to the next slot.

    Returns whether a message was queued: not if the digest is empty (and `send_empty` is
    off), nor if that slot's digest was queued already, by this process or another.
    """
    subscriber = digest.subscriber
    slot = subscriber.next_digest_at or now
    queued = False
    if not digest.is_empty or app.settings.digest.send_empty:
        key = digest_key(subscriber.id, slot)
        queued = enqueue(app, renderer, digest, key=key, now=now, signer=signer)
    app.store.advance_digest(
        subscriber.id, subscriber.next_digest_at, following_slot(subscriber, now)
    )
    return queued


def send_now(
    app: App, now: datetime, subscribers: Sequence[Subscriber], *, lease: Lease | None = None
) -> SendResult:
    """Compose and deliver these subscribers' digests now, whatever their cadence.

    Their schedule does not move: the next scheduled digest covers what arrives after this.
    """
    result = SendResult()
    renderer = Renderer(app.settings)
    signer = signer_for(app.settings)
    try:
        for subscriber, digest in zip(
            subscribers, compose_digests(app.store, app.settings, subscribers, now), strict=True
        ):
            if lease is not None:
                lease.check()
            if digest.is_empty and not app.settings.digest.send_empty:
                result.skipped_empty.append(subscriber)
            elif enqueue(
                app, renderer, digest, key=forced_key(subscriber.id, now), now=now, signer=signer
            ):
                result.queued.append(digest)
        result.flushed = flush(app, now, lease)
    except Stopped as exc:
        log.info("send stopped: %s", exc)
        result.stopped = True
    return result


def flush(app: App, now: datetime, lease: Lease | None) -> FlushResult:
    """Deliver every queued message that is due, checking the lease before each.

    With Celery workers, hand each one to them instead: only a claim sends a message then.
    """
    if app.settings.workers.backend == "celery":
        from digest.fanout import dispatch_messages
        from digest.workers import publisher

        dispatch_messages(app, now, publisher(app.settings))
        return FlushResult()
    return flush_outbox(
        app.store,
        make_mailer(app.settings),
        now,
        max_attempts=app.settings.delivery.smtp.max_attempts,
        check=lease.check if lease is not None else None,
    )


@dataclass(slots=True)
class IngestResult:
    refreshed: list[RefreshResult] = field(default_factory=list)
    alerts: AlertResult = field(default_factory=AlertResult)
    flushed: FlushResult = field(default_factory=FlushResult)
    stopped: bool = False
    dispatched: list[str] = field(default_factory=list)  # sources handed to Celery workers


def due_source_ids(app: App, now: datetime) -> list[str]:
    """Enabled, active sources (config.toml's and added ones) whose next check has come."""
    return [
        s.id for s in _readable_sources(app) if s.next_check_at is None or s.next_check_at <= now
    ]


def never_read_source_ids(app: App) -> list[str]:
    """Enabled, active sources not yet checked even once.

    Sending waits for their first read: a first digest composed before it would be empty,
    skipped, and the reader moved on to their next slot.
    """
    return [s.id for s in _readable_sources(app) if s.last_checked_at is None]


def _readable_sources(app: App) -> list[Source]:
    enabled = {s.id for s in configured_sources(app.settings, app.store) if s.enabled}
    return [s for s in app.store.list_sources() if s.id in enabled and s.status == "active"]


def ingest_due(
    app: App,
    now: datetime,
    *,
    lease: Lease | None = None,
    client: httpx.Client | None = None,
    only: Sequence[str] | None = None,
) -> IngestResult:
    """Refresh the sources that are due (or `only` these), then send the alerts they raise."""
    result = IngestResult()
    if only is None and app.settings.workers.backend == "celery":
        return _ingest_by_workers(app, now, lease, result)
    due = list(only) if only is not None else due_source_ids(app, now)
    if not due:
        return result

    def after_each(done: RefreshResult) -> None:
        result.refreshed.append(done)
        if lease is not None:
            lease.check()

    own_client = client is None
    client = client or make_client(app.settings.ingest)
    try:
        refresh_all(
            app.store,
            app.settings,
            client=client,
            tagger=app.tagger,
            now=now,
            only=due,
            on_done=after_each,
            stop=lease.stop if lease is not None else None,
        )
        if lease is not None:
            lease.check()  # stopped while reading: no alerts now, they wait for the next run
        if any(r.new for r in result.refreshed):
            check = lease.check if lease is not None else _no_check
            result.alerts = send_alerts(app, now, check=check)
            if result.alerts.queued:
                result.flushed = flush(app, now, lease)
    except Stopped as exc:
        left = len(due) - len(result.refreshed)
        log.info(
            "ingest_due stopped: %s; %d %s not refreshed and wait for the next run",
            exc,
            left,
            "source" if left == 1 else "sources",
        )
        result.stopped = True
    finally:
        if own_client:
            client.close()
    return result


def _ingest_by_workers(
    app: App, now: datetime, lease: Lease | None, result: IngestResult
) -> IngestResult:
    """Hand each due source to the Celery workers, then alert what earlier rounds stored."""
    from digest.fanout import dispatch_ingest
    from digest.workers import publisher

    check = lease.check if lease is not None else _no_check
    try:
        result.dispatched = dispatch_ingest(
            app, now, publisher(app.settings), due_source_ids(app, now)
        )
        # One process composes alerts (this one, under the lease), never two workers at once.
        result.alerts = send_alerts(app, now, check=check)
        if result.alerts.queued:
            result.flushed = flush(app, now, lease)
    except Stopped as exc:
        log.info("ingest_due stopped: %s", exc)
        result.stopped = True
    return result


@dataclass(slots=True)
class CycleResult:
    ingest: IngestResult
    sent: SendResult

    @property
    def refreshed(self) -> list[RefreshResult]:
        return self.ingest.refreshed


def run_cycle(
    app: App, *, client: httpx.Client | None = None, lease: Lease | None = None
) -> CycleResult:
    """One full cycle: ingest every enabled source, send alerts, then the digests due."""
    # The scheduler's list: config.toml's sources and the feeds added or imported since.
    everything = [s.id for s in configured_sources(app.settings, app.store) if s.enabled]
    ingested = ingest_due(app, app.clock(), lease=lease, client=client, only=everything)
    return CycleResult(ingested, send_due(app, app.clock(), lease=lease))


def _no_check() -> None:
    return None
