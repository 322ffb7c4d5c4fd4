"""Schedule: who is due a digest, the send cycle, and the APScheduler loop that drives it all."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from digest.app import App
from digest.cadence import cadence_trigger, next_run
from digest.compose import compose_digest
from digest.deliver import FlushResult, flush_outbox, make_mailer
from digest.ingest import RefreshResult, refresh_all
from digest.links import signer_for
from digest.models import Digest, Subscriber
from digest.render import Renderer
from digest.sources.fetch import make_client

log = logging.getLogger(__name__)


def next_digest_at(subscriber: Subscriber, now: datetime) -> datetime:
    """When this subscriber's next digest is due: at once if they never had one."""
    if subscriber.last_digest_at is None:
        return now
    trigger = cadence_trigger(subscriber.cadence, ZoneInfo(subscriber.timezone))
    return next_run(trigger, subscriber.last_digest_at)


def due_subscribers(app: App, now: datetime) -> list[Subscriber]:
    """Active subscribers whose next digest time has come (missed slots count once)."""
    return [s for s in app.store.list_subscribers(status="active") if next_digest_at(s, now) <= now]


@dataclass(slots=True)
class SendResult:
    queued: list[Digest] = field(default_factory=list)
    skipped_empty: list[Subscriber] = field(default_factory=list)
    flushed: FlushResult = field(default_factory=FlushResult)


def digest_key(subscriber: Subscriber, now: datetime) -> str:
    """The outbox key of a subscriber's digest: one per subscriber per scheduled slot."""
    slot = next_digest_at(subscriber, now)
    return f"digest:{subscriber.id}:{slot.astimezone(ZoneInfo('UTC')):%Y-%m-%dT%H:%MZ}"


def queue_digest(
    app: App, renderer: Renderer, subscriber: Subscriber, now: datetime
) -> Digest | None:
    """Compose, render and queue one subscriber's digest; None if empty and not sent empty."""
    digest = compose_digest(app.store, app.settings, subscriber, now)
    if digest.is_empty and not app.settings.digest.send_empty:
        return None
    key = digest_key(subscriber, now)
    links = signer_for(app.settings).links(subscriber.id, subscriber.email)
    rendered = renderer.render_digest(digest, links=links, key=key, now=now)
    raw = renderer.build_message(rendered, recipient=subscriber.email, date=now)
    app.store.queue_message(
        key=key,
        kind="digest",
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
    return digest


def send_due(app: App, now: datetime) -> SendResult:
    """Queue a digest for every due subscriber, then deliver everything queued."""
    result = SendResult()
    renderer = Renderer(app.settings)
    for subscriber in due_subscribers(app, now):
        digest = queue_digest(app, renderer, subscriber, now)
        if digest is None:
            result.skipped_empty.append(subscriber)
        else:
            result.queued.append(digest)
    result.flushed = flush_outbox(
        app.store,
        make_mailer(app.settings),
        now,
        max_attempts=app.settings.delivery.smtp.max_attempts,
    )
    return result


@dataclass(slots=True)
class CycleResult:
    refreshed: list[RefreshResult]
    sent: SendResult


def run_cycle(app: App, *, client: httpx.Client | None = None) -> CycleResult:
    """One full cycle: ingest every source, tag, then send what is due."""
    own_client = client is None
    client = client or make_client(app.settings.ingest)
    try:
        refreshed = refresh_all(
            app.store, app.settings, client=client, tagger=app.tagger, now=app.clock()
        )
    finally:
        if own_client:
            client.close()
    return CycleResult(refreshed, send_due(app, app.clock()))


def due_source_ids(app: App, now: datetime) -> list[str]:
    """Configured, active sources whose next check has come."""
    return [
        s.id
        for s in app.store.list_sources()
        if s.status == "active" and (s.next_check_at is None or s.next_check_at <= now)
    ]


def ingest_due_job(config: str) -> None:
    """Scheduler job: refresh the sources that are due, then send what became due."""
    app = App.open(Path(config))
    try:
        now = app.clock()
        due = due_source_ids(app, now)
        if due:
            with make_client(app.settings.ingest) as client:
                refresh_all(
                    app.store, app.settings, client=client, tagger=app.tagger, now=now, only=due
                )
    finally:
        app.close()


def send_due_job(config: str) -> None:
    """Scheduler job: send the digests that are due."""
    app = App.open(Path(config), sync=False)
    try:
        send_due(app, app.clock())
    finally:
        app.close()


def run_scheduler(config: Path, *, every_seconds: int = 60) -> None:
    """Run the periodic jobs until SIGINT or SIGTERM, with jobs kept in the database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    app = App.open(config)
    url = app.settings.database_url
    app.close()
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": every_seconds},
        timezone="UTC",
    )
    for job_id, func in (("ingest_due", ingest_due_job), ("send_due", send_due_job)):
        scheduler.add_job(
            func,
            "interval",
            seconds=every_seconds,
            args=[str(config.resolve())],
            id=job_id,
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the running job, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    scheduler.start()
