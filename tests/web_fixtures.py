"""Fixtures for the web app: the sample deployment ingested, a TestClient, a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from digest.app import App
from digest.ingest import refresh_all
from digest.links import LinkSigner
from digest.sources.fetch import make_client
from digest.web import create_app
from digest.web.server import make_server

SECRET = "test-secret-key-not-for-production"
LOCAL = ("127.0.0.1", 50000)
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def web_app(
    open_app: Callable[[Path], App], sample_config: Path, monkeypatch: pytest.MonkeyPatch
) -> App:
    """The sample deployment, its sources read and tagged, nothing sent yet."""
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    monkeypatch.delenv("DIGEST_ADMIN_PASSWORD", raising=False)
    app = open_app(sample_config)
    with make_client(app.settings.ingest) as client:
        refresh_all(app.store, app.settings, client=client, tagger=app.tagger, now=app.clock())
    return app


@pytest.fixture
def client(web_app: App) -> Iterator[TestClient]:
    """A client on this computer (loopback), as a browser beside `digest serve` would be."""
    with TestClient(create_app(web_app), base_url=BASE, client=LOCAL) as test_client:
        yield test_client


def token_for(app: App, email: str) -> str:
    """The signed token that this subscriber's emails carry."""
    sub = app.store.get_subscriber(email)
    return LinkSigner(SECRET, app.settings.digest.public_url).token(
        sub.id, sub.email, now=app.clock()
    )


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@dataclass
class LiveServer:
    app: App
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def live_server(web_app: App) -> Iterator[LiveServer]:
    """`digest serve`'s uvicorn server on 127.0.0.1, on a free port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(web_app, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    yield LiveServer(web_app, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
