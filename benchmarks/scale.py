"""Digests delivered per second: in-process, with one Celery worker, and with two.

    .venv/bin/python -m benchmarks.scale                 # 1,000 readers per run
    .venv/bin/python -m benchmarks.scale --readers 300   # a quick look

Every part is real and on loopback, started here and stopped at the end: a PostgreSQL
cluster (`.ci/postgres`, needs Debian's postgresql), Redis (`redis-server`), an aiosmtpd
server in its own process, and `digest worker` processes (`--concurrency 1` each). Each
run gets a fresh database with the sample sources ingested, then the clock starts: the
in-process run calls `send_due` (compose in chunks, one SMTP connection); the Celery
runs dispatch one task per reader and the workers compose, render and send. The clock
stops when every digest is marked sent. A cProfile of one worker's unit of work
(`deliver_subscriber`, in this process) shows where a task's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text

from digest.app import App
from digest.fanout import deliver_subscriber, dispatch_due
from digest.ingest import refresh_all
from digest.render import Renderer
from digest.schedule import send_due
from digest.sources.fetch import make_client
from digest.store.schema import deliveries
from digest.workers import publisher
from tests.scale_fixtures import scale_deployment
from tests.servers import free_port, postgres_cluster

REPO = Path(__file__).resolve().parents[1]


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def process(args: list[str], **kwargs: Any) -> Any:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def prepared(
    base_url: str, name: str, folder: Path, readers: int, smtp: int, broker: str, backend: str
) -> App:
    """A fresh database `name` with the deployment synced and its sources ingested."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["DIGEST_DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + name
    folder.mkdir(parents=True, exist_ok=True)
    config = scale_deployment(
        folder, readers=readers, smtp_port=smtp, backend=backend, broker_url=broker
    )
    app = App.open(config)
    with make_client(app.settings.ingest) as client:
        refresh_all(app.store, app.settings, client=client, tagger=app.tagger, now=app.clock())
    return app


def sent(app: App) -> int:
    with app.store.read() as conn:
        query = select(func.count()).select_from(deliveries).where(deliveries.c.status == "sent")
        return int(conn.execute(query).scalar() or 0)


def wait_sent(app: App, readers: int, started: float) -> float:
    while sent(app) < readers:
        if time.monotonic() - started > 600:
            raise RuntimeError("timed out")
        time.sleep(0.05)
    return time.monotonic() - started


def cpu_by_program() -> dict[str, float]:
    """CPU seconds so far of every process on this machine, summed by program name."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        name = "digest worker" if name == "digest" else name
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def cpu_share(before: dict[str, float], seconds: float) -> str:
    after = cpu_by_program()
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    top = sorted(((v, k) for k, v in used.items() if v > 0.05 * seconds), reverse=True)
    return ", ".join(f"{k} {v / seconds:.2f}" for v, k in top)


def run_inprocess(app: App, readers: int) -> float:
    started = time.monotonic()
    send_due(app, app.clock())
    return wait_sent(app, readers, started)


def run_celery(app: App, config: Path, readers: int, workers: int) -> tuple[float, str]:
    digest = str(Path(sys.executable).parent / "digest")
    command = [digest, "--config", str(config), "worker", "--concurrency", "1"]
    with ExitStack() as stack:
        for _ in range(workers):
            stack.enter_context(process(command, env=dict(os.environ)))
        time.sleep(4)  # let the workers connect and open the database
        before = cpu_by_program()
        started = time.monotonic()
        dispatch_due(app, app.clock(), publisher(app.settings))
        dispatched = time.monotonic() - started
        print(f"{'':>13}(the scheduler handed out {readers} tasks in {dispatched:.2f} s)")
        seconds = wait_sent(app, readers, started)
        # Measured while the workers and their database sessions still exist.
        return seconds, cpu_share(before, seconds)


def profile_task(app: App, count: int) -> str:
    """cProfile of `count` units of work as a worker does them, top functions by own time."""
    renderer = Renderer(app.settings)
    subs = app.store.due_subscribers(app.clock())[:count]
    statements = [0]

    def counted(*_args: Any) -> None:
        statements[0] += 1

    event.listen(app.store.engine, "before_cursor_execute", counted)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for sub in subs:
        slot = sub.next_digest_at or app.clock()
        deliver_subscriber(app, sub.id, slot, renderer=renderer)
    profiler.disable()
    each = (time.perf_counter() - started) / max(1, len(subs))
    event.remove(app.store.engine, "before_cursor_execute", counted)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(
        r"digest/(fanout|compose|outgoing|smtp|deliver|render|mime|store/\w+)\.py", 16
    )
    stats.sort_stats("tottime").print_stats(8)
    head = (
        f"one task (compose, render, queue, claim, send, record): {each * 1000:.1f} ms under "
        f"cProfile, {statements[0] / max(1, len(subs)):.1f} SQL statements"
    )
    return head + "\n" + out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    args = parser.parse_args()
    readers = args.readers
    results: dict[str, float] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        base = stack.enter_context(postgres_cluster())
        redis_port, smtp_port = free_port(), free_port()
        stack.enter_context(
            process(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
            )
        )
        stack.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "aiosmtpd",
                    "-n",
                    "-l",
                    f"127.0.0.1:{smtp_port}",
                    "-c",
                    "aiosmtpd.handlers.Sink",
                ]
            )
        )
        wait_port(redis_port)
        wait_port(smtp_port)
        broker = f"redis://127.0.0.1:{redis_port}/0"
        runs: list[tuple[str, str, int]] = [
            ("in-process", "inprocess", 0),
            ("1 worker", "celery", 1),
            ("2 workers", "celery", 2),
        ]
        for n, (label, backend, workers) in enumerate(runs):
            folder = Path(tmp) / f"run{n}"
            app = prepared(base, f"bench{n}", folder, readers, smtp_port, broker, backend)
            try:
                if workers == 0:
                    before = cpu_by_program()
                    seconds = run_inprocess(app, readers)
                    cores = cpu_share(before, seconds)
                else:
                    seconds, cores = run_celery(app, folder / "config.toml", readers, workers)
            finally:
                app.close()
            results[label] = readers / seconds
            print(f"{label:>11}: {readers} digests in {seconds:5.1f} s = {results[label]:6.1f}/s")
            print(f"{'':>13}cores busy, by program: {cores}")
        app = prepared(base, "profile", Path(tmp) / "profile", 200, smtp_port, broker, "celery")
        try:
            profile = profile_task(app, 200)
        finally:
            app.close()
    print(f"scaling 1 -> 2 workers: {results['2 workers'] / results['1 worker']:.2f}x")
    print(f"2 workers vs in-process: {results['2 workers'] / results['in-process']:.2f}x")
    print(f"cores: {os.cpu_count()}; started {datetime.now():%Y-%m-%d %H:%M}")
    print(profile)


if __name__ == "__main__":
    main()
