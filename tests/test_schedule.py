"""The schedule: next digest times across DST, catch-up, leases, two schedulers, stopping."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from sqlalchemy import func, select

from digest.app import App
from digest.compose import compose_digest
from digest.render import Renderer
from digest.schedule import Lease, send_due, send_now, serve_slot
from digest.scheduler import Runner, run_scheduler, send_due_job
from digest.store.schema import deliveries, leases
from tests.conftest import NOW, REPO, Clock
from tests.scenario import Items, at, reader, write_deployment


@pytest.mark.parametrize("day", ["2026-03-28", "2026-10-24"])
def test_send_due_sends_one_digest_a_day_across_berlin_dst(tmp_path: Path, day: str) -> None:
    config = write_deployment(
        tmp_path,
        reader("a@example.org", cadence="daily 02:30", timezone="Europe/Berlin"),
        digest_extra="send_empty = true",
    )
    clock = Clock(at(f"{day}T12:00"))
    app = App.open(config, clock=clock)
    send_due(app, clock.now)  # the first digest, due at once
    while clock.now < at(f"{day}T12:00") + timedelta(days=2):
        clock.now += timedelta(minutes=15)
        send_due(app, clock.now)
    sent = app.store.list_messages(status="sent")
    days = Counter(f"{m.window_end.astimezone(ZoneInfo('Europe/Berlin')):%m-%d}" for m in sent)
    app.close()
    assert sorted(days.values()) == [1, 1, 1] and len(sent) == 3


def test_after_downtime_one_catch_up_digest_then_the_normal_schedule(
    tmp_path: Path, clock: Clock
) -> None:
    config = write_deployment(tmp_path, reader("a@example.org", cadence="daily 07:00"))
    app = App.open(config, clock=clock)
    stored = Items(app)
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=1))
    assert len(send_due(app, NOW).queued) == 1  # Sunday 12:00: the first digest
    # Down from Sunday to Thursday noon: four 07:00 slots were missed.
    for day in range(1, 5):
        stored.add({"alpha": 0.9}, NOW + timedelta(days=day))
    thursday = NOW + timedelta(days=4)
    first = send_due(app, thursday)
    again = send_due(app, thursday + timedelta(minutes=1))
    sub = app.store.get_subscriber("a@example.org")
    app.close()
    assert len(first.queued) == 1 and len(first.queued[0].entries) == 4
    assert again.queued == [] and again.skipped_empty == []
    assert sub.next_digest_at == at("2026-11-27T07:00")  # Friday, the next slot after now


def test_a_forced_digest_does_not_move_the_schedule(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org", cadence="daily 07:00"))
    app = App.open(config, clock=clock)
    Items(app).add({"alpha": 0.9}, NOW - timedelta(hours=1))
    send_due(app, NOW)
    slot = app.store.get_subscriber("a@example.org").next_digest_at
    Items(app).add({"alpha": 0.9}, NOW + timedelta(hours=1))
    forced = send_now(app, NOW + timedelta(hours=2), [app.store.get_subscriber("a@example.org")])
    sub = app.store.get_subscriber("a@example.org")
    app.close()
    assert len(forced.queued) == 1 and forced.flushed.sent
    assert sub.next_digest_at == slot and sub.last_digest_at == NOW + timedelta(hours=2)


def test_a_slot_served_by_another_process_is_not_queued_again(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    one, two = App.open(config, clock=clock), App.open(config, clock=clock)
    Items(one).add({"alpha": 0.9}, NOW - timedelta(hours=1))
    stale = two.store.get_subscriber("a@example.org")  # read before the other process acts
    digest = compose_digest(two.store, two.settings, stale, NOW)
    send_due(one, NOW)
    queued_again = serve_slot(two, Renderer(two.settings), digest, NOW)
    with two.store.read() as conn:
        count = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
    one.close()
    two.close()
    assert queued_again is False and count == 1


def many_readers(folder: Path, n: int) -> Path:
    return write_deployment(folder, "".join(reader(f"r{i}@example.org") for i in range(n)))


def test_two_schedulers_on_one_database_send_each_digest_once(tmp_path: Path, clock: Clock) -> None:
    config = many_readers(tmp_path, 12)
    apps = [App.open(config, clock=clock) for _ in range(2)]
    Items(apps[0]).add({"alpha": 0.9}, NOW - timedelta(hours=1))
    runners = [Runner(app, Lease(app.store, app.clock)) for app in apps]
    go = threading.Barrier(2)

    def work(runner: Runner) -> None:
        go.wait()
        for _ in range(5):
            send_due_job(runner)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = apps[0].store.list_messages()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    with apps[0].store.read() as conn:
        held = conn.execute(select(leases)).all()
    for app in apps:
        app.close()
    assert len(sent) == 12 and {m.status for m in sent} == {"sent"}
    assert len({m.recipient for m in sent}) == 12 and len(files) == 12
    assert held == []  # each job released the lease


class StoppingClock(Clock):
    """A clock that asks the lease to stop after `calls` readings."""

    def __init__(self, now: datetime, stop: threading.Event, calls: int) -> None:
        super().__init__(now)
        self.stop, self.calls = stop, calls

    def __call__(self) -> datetime:
        self.calls -= 1
        if self.calls <= 0:
            self.stop.set()
        return self.now


def test_a_stopped_send_leaves_the_rest_due_and_nothing_twice(tmp_path: Path, clock: Clock) -> None:
    config = many_readers(tmp_path, 6)
    app = App.open(config, clock=clock)
    Items(app).add({"alpha": 0.9}, NOW - timedelta(hours=1))
    stop = threading.Event()
    lease = Lease(app.store, StoppingClock(NOW, stop, calls=4), stop=stop)
    assert lease.acquire()
    first = send_due(app, NOW, lease=lease)
    lease.release()
    second = send_due(app, NOW + timedelta(minutes=1))
    sent = app.store.list_messages(status="sent")
    app.close()
    assert first.stopped and 0 < len(first.queued) < 6
    assert len(first.queued) + len(second.queued) == 6
    assert sorted(m.recipient for m in sent) == sorted(f"r{i}@example.org" for i in range(6))


def test_run_scheduler_stops_cleanly_when_asked(tmp_path: Path) -> None:
    config = many_readers(tmp_path, 2)
    app = App.open(config)  # the real clock: APScheduler runs on it
    Items(app).add({"alpha": 0.9}, app.clock() - timedelta(minutes=5))
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler, args=(app,), kwargs={"every_seconds": 1, "stop": stop}
    )
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(app.store.list_messages(status="sent")) < 2:
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=30)
    alive = thread.is_alive()
    sent = app.store.list_messages(status="sent")
    with app.store.read() as conn:
        jobs = {row.id for row in conn.execute(select(leases.c.name))} | {
            row[0] for row in conn.exec_driver_sql("SELECT id FROM apscheduler_jobs")
        }
    app.close()
    assert not alive and len(sent) == 2
    assert jobs == {"ingest_due", "send_due"}  # kept in the database; the lease released


@pytest.mark.slow
def test_two_digest_run_processes_share_one_database_and_stop_on_sigterm(
    tmp_path: Path,
) -> None:
    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    shutil.copytree(REPO / "sources", tmp_path / "sources")
    digest = str(Path(sys.executable).parent / "digest")
    command = [digest, "--config", "config.toml", "run", "--every", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    logs = [tmp_path / f"run-{n}.log" for n in range(2)]
    files = [log.open("wb") for log in logs]
    runs = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        for out in files
    ]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            all("scheduler started" in log.read_text() for log in logs)
            and len(list(tmp_path.glob("outbox/*-digest-*.eml"))) >= 3
        ):
            time.sleep(0.25)
        time.sleep(3)  # several more rounds of both schedulers
    finally:
        for process in runs:
            process.send_signal(signal.SIGTERM)
        for process in runs:
            process.wait(timeout=60)
        for out in files:
            out.close()
    outputs = [log.read_text() for log in logs]
    digests = sorted(
        p.name.split("-digest-")[1].rsplit("-", 1)[0]
        for p in tmp_path.glob("outbox/*-digest-*.eml")
    )
    assert [process.returncode for process in runs] == [0, 0], outputs
    assert all("Stopped." in output and "Traceback" not in output for output in outputs), outputs
    assert digests == ["analyst_example.org", "desk_example.org", "editor_example.org"]


# -- the commands ----------------------------------------------------------------------------


def digest_cli(config: Path, clock: Clock, *args: str) -> Result:
    from click.testing import CliRunner

    from digest.cli import cli

    # A wide console, so that table rows are not wrapped.
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["--config", str(config), *args], obj=clock
    )


def test_schedule_shows_next_digests_in_local_time_and_utc(
    sample_config: Path, clock: Clock
) -> None:
    assert digest_cli(sample_config, clock, "run", "--once").exit_code == 0
    out = digest_cli(sample_config, clock, "schedule").output
    lines = {line.split()[1]: line for line in out.splitlines() if "@example.org" in line}
    assert "2026-11-23 07:00 KST" in lines["analyst@example.org"]
    assert "2026-11-22 22:00 UTC" in lines["analyst@example.org"]
    assert "2026-11-23 08:30 EST" in lines["desk@example.org"]
    assert "2026-11-23 13:30 UTC" in lines["desk@example.org"]
    assert "2026-11-23 18:00 GMT" in lines["editor@example.org"]
    assert "peninsula-wire" in out and "2026-11-22 13:00 UTC" in out  # next check


def test_send_force_for_one_subscriber_whatever_the_cadence(
    sample_config: Path, clock: Clock
) -> None:
    digest_cli(sample_config, clock, "ingest")
    result = digest_cli(sample_config, clock, "send", "--force", "--subscriber", "desk@example.org")
    assert result.exit_code == 0, result.output
    assert [p.name.split("-")[2] for p in sample_config.parent.glob("outbox/*.eml")] == [
        "desk_example.org"
    ]
    clock.now += timedelta(minutes=1)
    again = digest_cli(sample_config, clock, "send", "--force", "--subscriber", "Alliance desk")
    assert "nothing new, not sent" in again.output


def test_send_says_when_nothing_is_due(sample_config: Path, clock: Clock) -> None:
    digest_cli(sample_config, clock, "run", "--once")
    clock.now += timedelta(hours=1)
    assert "Nothing is due." in digest_cli(sample_config, clock, "send").output


def test_send_refuses_while_another_process_holds_the_lease(
    sample_config: Path, clock: Clock
) -> None:
    app = App.open(sample_config, clock=clock)
    other = Lease(app.store, clock)
    assert other.acquire()
    result = digest_cli(sample_config, clock, "send")
    other.release()
    app.close()
    assert result.exit_code == 1
    assert result.output.startswith("Error: Another digest process is ingesting or sending")


def test_preview_at_composes_as_of_that_time(sample_config: Path, clock: Clock) -> None:
    digest_cli(sample_config, clock, "ingest")
    before = digest_cli(sample_config, clock, "preview", "analyst", "--at", "2026-11-20T07:00+09")
    after = digest_cli(sample_config, clock, "preview", "analyst", "--at", "2026-11-23T07:00+09")
    assert "0 items in 0 sections" in before.output
    assert "Window: 2026-11-13 07:00 KST to 2026-11-20 07:00 KST" in before.output
    assert "items in 2 sections" in after.output
    assert digest_cli(sample_config, clock, "outbox").output.count("@example.org") == 0


def test_a_digest_key_names_the_reader_and_their_slot(tmp_path: Path, clock: Clock) -> None:
    from digest.schedule import digest_key, next_digest_at

    app = App.open(write_deployment(tmp_path, reader("a@example.org")), clock=clock)
    sub = app.store.get_subscriber("a@example.org")
    app.close()
    assert digest_key(sub.id, sub.next_digest_at or NOW) == f"digest:{sub.id}:2026-11-22T12:00:00Z"
    assert next_digest_at(sub, NOW + timedelta(hours=1)) == NOW + timedelta(hours=1)  # overdue


def test_the_send_job_waits_for_the_first_read_of_every_source(
    sample_config: Path, clock: Clock
) -> None:
    from digest.scheduler import ingest_due_job

    app = App.open(sample_config, clock=clock)
    try:
        runner = Runner(app, Lease(app.store, app.clock))
        slots = [s.next_digest_at for s in app.store.list_subscribers()]
        send_due_job(runner)  # nothing read yet: first digests must not be spent empty
        assert [s.next_digest_at for s in app.store.list_subscribers()] == slots
        ingest_due_job(runner)
        send_due_job(runner)
        outbox = sample_config.parent / "outbox"
        assert len(list(outbox.glob("*-digest-*.eml"))) == 3
    finally:
        app.close()


def test_a_feed_added_from_the_command_line_is_due_for_the_scheduler(
    sample_config: Path, clock: Clock
) -> None:
    from digest.schedule import due_source_ids

    app = App.open(sample_config, clock=clock)
    try:
        app.store.add_source(
            "added", "https://feeds.example/rss", title="Added", origin="cli", now=clock()
        )
        assert "added" in due_source_ids(app, clock())
    finally:
        app.close()
