"""Real servers a test starts and stops itself: Redis and a PostgreSQL cluster on loopback.

Without Debian's redis-server or postgresql these fixtures skip the test; with
DIGEST_REQUIRE_SERVERS=1, as in CI, they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from glob import glob
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(what: str) -> NoReturn:
    message = f"{what} is not installed (apt-get install {what})"
    if os.environ.get("DIGEST_REQUIRE_SERVERS"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis server of this test's own on 127.0.0.1, nothing saved to disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A PostgreSQL cluster of our own (`.ci/postgres`) on a free port, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="digest-pg-")
    script = str(REPO / ".ci" / "postgres")
    try:
        url = subprocess.run(
            [script, "start", folder, str(free_port())], check=True, capture_output=True, text=True
        ).stdout.strip()
        yield url
    finally:
        subprocess.run([script, "stop", folder], check=False, capture_output=True)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of this test's own, removed afterwards."""
    if not glob("/usr/lib/postgresql/*/bin/initdb"):
        _missing("postgresql")
    with postgres_cluster() as url:
        yield url
