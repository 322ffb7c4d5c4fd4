"""Celery fan-out: each due subscriber is a task; a worker killed mid-run loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.app import App
from digest.cli import cli
from digest.fanout import DELIVER_SUBSCRIBER, SEND_MESSAGE, deliver_subscriber, dispatch_due
from digest.render import Renderer
from digest.store import Store
from tests.databases import ON_POSTGRES
from tests.scale_fixtures import scale_deployment
from tests.servers import free_port
from tests.smtp_fixtures import SmtpSink, start_sink


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_dispatch_hands_out_each_due_subscriber_once_and_a_rerun_sends_nothing_twice(
    tmp_path: Path, smtp_sink: SmtpSink, open_app: Callable[[Path], App]
) -> None:
    config = scale_deployment(tmp_path, readers=5, smtp_port=smtp_sink.port)
    app = open_app(config)
    from digest.ingest import refresh_all
    from digest.sources.fetch import make_client

    with make_client(app.settings.ingest) as client:
        refresh_all(app.store, app.settings, client=client, tagger=app.tagger, now=app.clock())
    tasks: list[tuple[str, list[object]]] = []
    first = dispatch_due(app, app.clock(), lambda name, args: tasks.append((name, args)))
    again = dispatch_due(app, app.clock(), lambda name, args: tasks.append((name, args)))
    assert len(first.subscribers) == 5 and again.subscribers == [] and len(tasks) == 5
    renderer = Renderer(app.settings)
    from datetime import datetime

    for name, (subscriber_id, slot) in tasks * 2:  # every task delivered twice by the broker
        assert name == DELIVER_SUBSCRIBER
        assert isinstance(subscriber_id, int) and isinstance(slot, str)
        deliver_subscriber(app, subscriber_id, datetime.fromisoformat(slot), renderer=renderer)
    assert sorted(smtp_sink.per_recipient().values()) == [1] * 5
    assert {m.status for m in app.store.list_messages(bodies=False)} == {"sent"}
    assert dispatch_due(app, app.clock(), lambda *a: tasks.append(a)).messages == []
    assert SEND_MESSAGE not in {name for name, _ in tasks}


@pytest.mark.slow
@pytest.mark.skipif(ON_POSTGRES, reason="starts its own PostgreSQL; runs in the SQLite pass")
def test_two_workers_deliver_2000_digests_once_while_one_is_killed(
    tmp_path: Path,
    smtp_sink: SmtpSink,
    redis_url: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readers = 2000
    monkeypatch.setenv("DIGEST_DATABASE_URL", postgres_url)
    config = scale_deployment(
        tmp_path, readers=readers, smtp_port=smtp_sink.port, broker_url=redis_url
    )
    dispatched = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert f"Handed {readers} digests to the Celery workers" in dispatched.output, dispatched.output
    digest = str(Path(sys.executable).parent / "digest")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = [(tmp_path / f"worker-{n}.log").open("wb") for n in range(2)]
    command = [digest, "--config", str(config), "worker", "--concurrency", "2"]
    workers = [
        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    import redis

    broker = redis.Redis.from_url(redis_url)
    try:
        wait_for(lambda: len(smtp_sink.received) >= readers // 4, 120, "the first digests")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        everyone = {f"reader{i:05d}@example.org" for i in range(readers)}
        wait_for(lambda: set(smtp_sink.per_recipient()) >= everyone, 300, "every digest")
        # Nothing left with the broker: no queued task, none taken and unacknowledged.
        wait_for(
            lambda: broker.llen("digest") == 0 and broker.hlen("unacked") == 0, 60, "an idle broker"
        )
    finally:
        for process in workers:
            if process.poll() is None:
                process.terminate()
        for process in workers:
            process.wait(timeout=60)
        for log in logs:
            log.close()
        broker.close()
    counts = smtp_sink.per_recipient()
    repeated = {r: n for r, n in counts.items() if n > 1}
    store = Store.open(postgres_url)
    try:
        messages = {m.recipient: m for m in store.list_messages(limit=readers + 10, bodies=False)}
    finally:
        store.close()
    assert set(counts) == everyone and len(messages) == readers
    assert {m.status for m in messages.values()} == {"sent"}
    # The only repeat allowed: a message the killed worker (two threads) was sending.
    assert len(repeated) <= 2 and all(n == 2 for n in repeated.values()), repeated
    assert all(messages[r].interrupted >= 1 for r in repeated), repeated


def test_a_message_is_claimed_once_until_its_claim_is_stale(
    tmp_path: Path, smtp_sink: SmtpSink, open_app: Callable[[Path], App]
) -> None:
    from datetime import timedelta

    from digest.fanout import send_message

    config = scale_deployment(tmp_path, readers=1, smtp_port=smtp_sink.port)
    app = open_app(config)
    now = app.clock()
    delivery_id = queue_one(app)
    stale = now - timedelta(minutes=5)
    assert [m.id for m in app.store.claim_messages(now, stale, ids=[delivery_id])] == [delivery_id]
    assert app.store.claim_messages(now, stale, ids=[delivery_id]) == []  # a live claim
    assert send_message(app, delivery_id) == "busy"
    later = now + timedelta(minutes=10)
    [taken] = app.store.claim_messages(later, later - timedelta(minutes=5), ids=[delivery_id])
    assert taken.interrupted == 1  # the first claimer may have sent it
    app.store.mark_sent(delivery_id, "250 ok", later, known=taken)
    assert send_message(app, delivery_id) == "done" and smtp_sink.received == []


def test_a_worker_that_cannot_reach_the_smtp_server_charges_the_message_nothing(
    tmp_path: Path, open_app: Callable[[Path], App]
) -> None:
    from digest.fanout import send_message

    port = free_port()  # nobody listens here until the server "comes back"
    app = open_app(scale_deployment(tmp_path, readers=1, smtp_port=port))
    delivery_id = queue_one(app)
    for _ in range(8):  # more than max_attempts
        assert send_message(app, delivery_id) == "unreachable"
    [queued] = app.store.list_messages(status="queued")
    assert (queued.id, queued.attempts) == (delivery_id, 0)
    sink, controller = start_sink(port)
    try:
        assert send_message(app, delivery_id) == "sent"
    finally:
        controller.stop()
    assert len(sink.received) == 1


def test_an_unreachable_broker_is_a_clear_error_and_leaves_readers_due(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    from tests.servers import free_port

    broker = f"redis://127.0.0.1:{free_port()}/0"
    config = scale_deployment(tmp_path, readers=2, smtp_port=smtp_sink.port, broker_url=broker)
    result = CliRunner().invoke(cli, ["--config", str(config), "send"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Cannot hand a task to the Celery broker" in result.output
    app = App.open(config)
    try:
        assert len(app.store.due_subscribers(app.clock())) == 2
    finally:
        app.close()


def test_ingest_hands_each_due_source_out_once_until_its_refresh_is_done(
    tmp_path: Path, smtp_sink: SmtpSink, open_app: Callable[[Path], App]
) -> None:
    from digest.fanout import REFRESH_SOURCE, dispatch_ingest, refresh_one
    from digest.schedule import due_source_ids
    from digest.sources.fetch import make_client

    config = scale_deployment(tmp_path, readers=1, smtp_port=smtp_sink.port)
    app = open_app(config)
    tasks: list[tuple[str, list[object]]] = []
    due = due_source_ids(app, app.clock())
    assert dispatch_ingest(app, app.clock(), lambda n, a: tasks.append((n, a)), due) == due
    assert dispatch_ingest(app, app.clock(), lambda n, a: tasks.append((n, a)), due) == []
    assert {name for name, _ in tasks} == {REFRESH_SOURCE} and len(tasks) == len(due) == 3
    with make_client(app.settings.ingest) as client:
        new = [refresh_one(app, str(s), str(owner), client) for _, (s, owner) in tasks]
    assert sum(new) == app.store.count_items() > 0
    assert due_source_ids(app, app.clock()) == []  # each has its next check now
    assert all(app.store.lease_owner(f"ingest:{s}") is None for s in due)


def queue_one(app: App) -> int:
    """A small message queued for the deployment's one reader; its delivery id."""
    [sub] = app.store.list_subscribers()
    now = app.clock()
    delivery_id = app.store.queue_message(
        key="digest:x",
        kind="digest",
        subscriber_id=sub.id,
        recipient=sub.email,
        window_start=now,
        window_end=now,
        subject="s",
        message_id="<m@x>",
        message=b"Subject: s\r\n\r\nbody\r\n",
        item_ids=[],
        now=now,
    )
    assert delivery_id is not None
    return delivery_id
