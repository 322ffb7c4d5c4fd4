"""`digest run`: APScheduler 3 drives two periodic jobs; the store decides what is due.

The jobs (`ingest_due`, `send_due`) are kept in APScheduler's SQLAlchemy job store in the
digest database, with `coalesce=True` and `max_instances=1`. A job kept in a database can
only name a function, while the work needs this process's open App and its stop flag, so a
small executor hands the running `Runner` to each job. It runs jobs one at a time: an ingest
and a send never overlap inside one process, and the store's lease keeps them from
overlapping between processes.

SIGINT and SIGTERM set the stop flag: the job in flight stops at its next safe point (between
two sources, two readers or two messages) and whatever it did not reach is still due, or
still queued, for the next run. Fetches and parses under way are abandoned within about a
second (see `refresh_all`); nothing is recorded on their sources.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_SCHEDULER_START, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler

from digest.app import App
from digest.errors import DigestError
from digest.schedule import Lease, ingest_due, never_read_source_ids, send_due
from digest.sources.abandon import stop_on_signals

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"


@dataclass(slots=True)
class Runner:
    """What the jobs of one `digest run` process share: the app, its lease, its stop flag."""

    app: App
    lease: Lease

    @property
    def stop(self) -> threading.Event:
        return self.lease.stop

    def run(self, name: str, work: Callable[[datetime], str]) -> None:
        """Run one job's work under the lease; skip it if another process holds the lease."""
        if self.stop.is_set():
            return
        if not self.lease.acquire():
            log.info("%s: another process holds the scheduler lease; skipped", name)
            return
        try:
            summary = work(self.app.clock())
            if summary:
                log.info("%s: %s", name, summary)
        except DigestError as exc:
            # Background failures are data (kept on sources and deliveries); this is the rest.
            log.error("%s failed: %s", name, exc)
        finally:
            self.lease.release()


def ingest_due_job(runner: Runner) -> None:
    """Scheduler job: refresh the sources that are due, then send the alerts they raise."""

    def work(now: datetime) -> str:
        result = ingest_due(runner.app, now, lease=runner.lease)
        if result.dispatched or (result.alerts.queued and not result.refreshed):
            return (
                f"{len(result.dispatched)} sources handed to the workers, "
                f"{len(result.alerts.queued)} alerts queued"
            )
        if not result.refreshed:
            return ""
        new = sum(r.new for r in result.refreshed)
        failed = sum(r.failed for r in result.refreshed)
        return (
            f"{len(result.refreshed)} sources, {new} new items, {failed} failed, "
            f"{len(result.alerts.queued)} alerts queued ({len(result.alerts.held)} held for "
            f"quiet hours), {len(result.flushed.sent)} sent"
        )

    runner.run("ingest_due", work)


def send_due_job(runner: Runner) -> None:
    """Scheduler job: send the digests that are due and the alerts that waited."""

    def work(now: datetime) -> str:
        unread = never_read_source_ids(runner.app)
        if unread:  # their first read is due now, in ingest_due; send after it
            return f"waiting for the first read of {', '.join(unread)}"
        result = send_due(runner.app, now, lease=runner.lease)
        if result.dispatched:
            return f"{result.dispatched} digests handed to the workers"
        if not (result.queued or result.skipped_empty or result.flushed.sent):
            return ""
        return (
            f"{len(result.queued)} digests queued, {len(result.skipped_empty)} empty skipped, "
            f"{len(result.flushed.sent)} sent, {len(result.flushed.failed)} failed"
        )

    runner.run("send_due", work)


class RunnerExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs jobs one at a time in a worker thread, passing each this process's Runner."""

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self._runner = runner
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-job")

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        # After SIGINT/SIGTERM the scheduler's loop may still hand over a job that came due;
        # it is not started (the next `digest run` catches up), and no traceback is logged.
        if self._runner.stop.is_set():
            return
        try:
            future = self._pool.submit(job.func, **{**job.kwargs, "runner": self._runner})
        except RuntimeError:  # the pool shut down between the check and the submit
            return

        def done(finished: Future[None]) -> None:
            exc = finished.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
                return
            event = JobExecutionEvent(
                EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_times[-1], None
            )
            self._run_job_success(job.id, [event])

        future.add_done_callback(done)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait)


def build_scheduler(runner: Runner, *, every_seconds: int) -> BlockingScheduler:
    """A BlockingScheduler with the two jobs, kept in the digest database."""
    store = SQLAlchemyJobStore(engine=runner.app.store.engine, tablename=JOB_TABLE)
    runner.app.store.ensure_table(store.jobs_t)
    scheduler = BlockingScheduler(
        jobstores={"default": store},
        executors={"default": RunnerExecutor(runner)},
        # Late runs always run, once: the store, not the job's timing, decides what is due.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    start = runner.app.clock()
    for offset, (job_id, func) in enumerate(
        (("ingest_due", ingest_due_job), ("send_due", send_due_job))
    ):
        scheduler.add_job(
            func,
            "interval",
            seconds=every_seconds,
            id=job_id,
            name=job_id,
            replace_existing=True,
            # Stored as a placeholder: the executor passes this process's Runner.
            kwargs={"runner": None},
            # Ingest first, then send, on the first round as on every other.
            next_run_time=start + timedelta(milliseconds=offset),
        )
    return scheduler


def run_scheduler(
    app: App,
    *,
    every_seconds: int = 60,
    stop: threading.Event | None = None,
    lease: Lease | None = None,
) -> None:
    """Run the periodic jobs until SIGINT, SIGTERM or `stop` is set, then return cleanly."""
    lease = lease or Lease(app.store, app.clock)
    if stop is not None:
        lease.stop = stop
    runner = Runner(app, lease)
    scheduler = build_scheduler(runner, every_seconds=every_seconds)

    def stop_when_asked() -> None:
        runner.stop.wait()
        log.info("stopping: fetches under way are abandoned; the job stops at a safe point")
        scheduler.shutdown(wait=True)

    def on_start(_event: object) -> None:
        threading.Thread(target=stop_when_asked, name="digest-stop", daemon=True).start()
        log.info("scheduler started as %s; checks every %ss", lease.owner, every_seconds)

    scheduler.add_listener(on_start, EVENT_SCHEDULER_START)
    with stop_on_signals(runner.stop):
        scheduler.start()
