"""The Celery side of the fan-out: the app, its two tasks, and `digest worker`.

Celery is an optional extra (`pip install 'digest[workers]'`), imported only here. Tasks
are acknowledged after they finish (`acks_late`), one at a time per thread
(`prefetch_multiplier = 1`), and Redis gives an unacknowledged task to another worker
after `[workers] visibility_timeout`: a worker killed with SIGKILL loses nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from digest.app import App
from digest.config import Settings, WorkersSettings
from digest.deliver import Mailer, make_mailer
from digest.errors import DigestError
from digest.fanout import (
    DELIVER_SUBSCRIBER,
    REFRESH_SOURCE,
    SEND_MESSAGE,
    Publish,
    deliver_subscriber,
    refresh_one,
    send_message,
)
from digest.links import signer_for
from digest.render import Renderer
from digest.sources.fetch import make_client
from digest.store.dialects import redact

QUEUE = "digest"


def _celery_class() -> Any:
    try:
        from celery import Celery
    except ImportError:
        raise DigestError(
            '[workers] backend = "celery" needs Celery, which is not installed.',
            hint="Install it with: pip install 'digest[workers]'",
        ) from None
    return Celery


def make_celery(workers: WorkersSettings) -> Any:
    """A Celery app for the broker in `workers`, configured for at-least-once tasks."""
    celery = _celery_class()("digest", broker=workers.broker, set_as_current=False)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        broker_transport_options={
            "visibility_timeout": workers.visibility_timeout,
            # kombu looks for overdue tasks every 10 s but scans only on every 10th look;
            # scan on each look, a few times per visibility timeout (a cheap Redis query).
            "unacked_restore_interval": max(1.0, min(10.0, workers.visibility_timeout / 4)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return celery


# A worker thread's SMTP connection is reused while it is busy; after this long idle, a
# fresh one is opened rather than finding out mid-message that the server hung up.
MAILER_IDLE_SECONDS = 10.0


@dataclass(slots=True)
class WorkerState:
    """What one worker process opens once and its task threads share."""

    config: Path
    _app: App | None = None
    _renderer: Renderer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def mailer(self, app: App) -> Mailer:
        """This thread's mailer, one SMTP connection reused across its tasks."""
        local = self._local
        now = time.monotonic()
        mailer: Mailer | None = getattr(local, "mailer", None)
        if mailer is not None and now - local.used > MAILER_IDLE_SECONDS:
            mailer.__exit__(None, None, None)
            mailer = None
        if mailer is None:
            mailer = make_mailer(app.settings).__enter__()
        local.mailer, local.used = mailer, now
        return mailer

    def app(self) -> tuple[App, Renderer]:
        with self._lock:
            if self._app is None or self._renderer is None:
                self._app = App.open(self.config, sync=False)
                self._renderer = Renderer(self._app.settings)
            return self._app, self._renderer


def register_tasks(celery: Any, state: WorkerState, send_timeout: float) -> None:
    """The tasks `dispatch_due` publishes, bound to this worker's deployment."""

    @celery.task(name=DELIVER_SUBSCRIBER, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def deliver(task: Any, subscriber_id: int, slot: str) -> str:
        app, renderer = state.app()
        signer = signer_for(app.settings)
        outcome = deliver_subscriber(
            app,
            subscriber_id,
            datetime.fromisoformat(slot),
            renderer=renderer,
            signer=signer,
            mailer=state.mailer(app),
        )
        if outcome in ("busy", "unreachable"):  # look again once a claim or an outage passes
            raise task.retry(countdown=send_timeout)
        return outcome

    @celery.task(name=SEND_MESSAGE, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def send(task: Any, delivery_id: int) -> str:
        app, _ = state.app()
        outcome = send_message(app, delivery_id, mailer=state.mailer(app))
        if outcome in ("busy", "unreachable"):  # look again once a claim or an outage passes
            raise task.retry(countdown=send_timeout)
        return outcome


def register_ingest(celery: Any, state: WorkerState) -> None:
    @celery.task(name=REFRESH_SOURCE)  # type: ignore[untyped-decorator]
    def refresh(source_id: str, owner: str) -> int:
        app, _ = state.app()
        with make_client(app.settings.ingest) as client:
            return refresh_one(app, source_id, owner, client)


def publisher(settings: Settings) -> Publish:
    """A function that publishes one task to the broker (used by the scheduler)."""
    celery = make_celery(settings.workers)

    def publish(name: str, args: list[object]) -> None:
        from kombu.exceptions import OperationalError

        try:
            celery.send_task(name, args=args, queue=QUEUE, retry_policy={"max_retries": 2})
        except OperationalError as exc:
            raise DigestError(
                f"Cannot hand a task to the Celery broker {redact(settings.workers.broker)}: {exc}",
                hint="Start Redis, or check [workers] broker_url (or DIGEST_BROKER_URL). "
                "Nothing is lost: what was not handed out is still due.",
            ) from None

    return publish


def run_worker(config: Path, settings: Settings, *, concurrency: int | None = None) -> None:
    """Run a Celery worker for this deployment until it is stopped (SIGTERM, Ctrl-C)."""
    celery = make_celery(settings.workers)
    state = WorkerState(config)
    register_tasks(celery, state, settings.workers.send_timeout)
    register_ingest(celery, state)
    celery.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency or settings.workers.concurrency}",
            f"--queues={QUEUE}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
