"""Stopping: SIGINT/SIGTERM abandon fetches under way within about a second.

Each test runs the real `digest` command against the session's HTTP server, whose /hang
accepts the request and never answers. The read timeout is 30 s; a prompt stop exits in
well under 5 s, and the stalled source keeps exactly the state it had.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from digest.app import App
from digest.models import Source
from tests.conftest import FeedServer
from tests.ingest_fixtures import config_with

DIGEST = str(Path(sys.executable).parent / "digest")
SLOW = "timeout_seconds = 60\nread_timeout_seconds = 30\nconnect_timeout_seconds = 30"


def seeded(tmp_path: Path, feed_server: FeedServer) -> tuple[Path, Source]:
    """A config with a good feed and a stalled one; the stalled one has validators, one
    earlier error and a next check that has come."""
    config = config_with(
        tmp_path,
        ("good", feed_server.url("small.xml")),
        ("stalled", feed_server.url("hang")),
        ingest=SLOW,
    )
    app = App.open(config)
    now = app.clock().replace(microsecond=0)
    app.store.record_check(
        "stalled",
        now - timedelta(hours=2),
        next_check_at=now - timedelta(hours=1),
        etag='"v1"',
        last_modified="Sat, 21 Nov 2026 10:00:00 GMT",
        status="active",
    )
    app.store.record_check(
        "stalled", now - timedelta(hours=1), next_check_at=now, error="an earlier failure"
    )
    before = app.store.find_source("stalled")
    app.close()
    assert before is not None and before.error_count == 1 and before.etag == '"v1"'
    return config, before


def stop_when_stalled(
    config: Path, feed_server: FeedServer, args: list[str], sig: signal.Signals
) -> tuple[int, float, str]:
    """Run `digest ARGS`; once /hang is being fetched and 'good' is stored, send `sig`.

    Returns the exit status, the seconds from the signal to the exit, and the output.
    """
    asked = len(feed_server.hits("hang"))
    log = config.parent / "out.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [DIGEST, "--config", str(config), *args],
            cwd=config.parent,
            env={**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60  # a loaded machine starts slowly
            while time.monotonic() < deadline and process.poll() is None:
                if len(feed_server.hits("hang")) > asked and _stored(config, "good"):
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # well inside the fetch of /hang, which lasts 30 s
            assert process.poll() is None, log.read_text()
            sent = time.monotonic()
            process.send_signal(sig)
            status = process.wait(timeout=60)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return status, took, log.read_text()


def _stored(config: Path, source_id: str) -> bool:
    app = App.open(config, sync=False)
    try:
        source = app.store.find_source(source_id)
        return source is not None and source.item_count > 0
    finally:
        app.close()


def after(config: Path) -> dict[str, Source | None]:
    app = App.open(config, sync=False)
    try:
        return {s: app.store.find_source(s) for s in ("good", "stalled")}
    finally:
        app.close()


def test_sigint_stops_ingest_promptly_and_leaves_the_stalled_source_as_it_was(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config, before = seeded(tmp_path, feed_server)
    status, took, output = stop_when_stalled(config, feed_server, ["ingest"], signal.SIGINT)
    assert took < 5, output
    assert status == 130, output
    assert "Stopped; 1 source not refreshed" in output and "Traceback" not in output
    sources = after(config)
    good = sources["good"]
    assert good is not None and good.item_count == 3 and good.error_count == 0
    assert sources["stalled"] == before


def test_sigterm_stops_digest_run_promptly_and_leaves_the_stalled_source_as_it_was(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config, before = seeded(tmp_path, feed_server)
    status, took, output = stop_when_stalled(
        config, feed_server, ["run", "--every", "1"], signal.SIGTERM
    )
    assert took < 5, output
    assert status == 0, output
    assert "1 source not refreshed" in output and "Stopped." in output
    assert "Traceback" not in output
    sources = after(config)
    good = sources["good"]
    assert good is not None and good.item_count == 3 and good.error_count == 0
    assert sources["stalled"] == before
