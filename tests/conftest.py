"""Shared fixtures: real parts only (SQLite files, an HTTP server, an SMTP server)."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.app import App

pytest_plugins = ["tests.web_fixtures", "tests.smtp_fixtures"]

REPO = Path(__file__).resolve().parents[1]
FEEDS = Path(__file__).resolve().parent / "feeds"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A copy of the sample deployment (config.toml and sources/) in a fresh folder."""
    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    shutil.copytree(REPO / "sources", tmp_path / "sources")
    return tmp_path


@pytest.fixture
def sample_config(sample_dir: Path) -> Path:
    return sample_dir / "config.toml"


class Clock:
    """A clock that tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_app(clock: Clock) -> Iterator[Callable[[Path], App]]:
    opened: list[App] = []

    def _open(config: Path) -> App:
        app = App.open(config, clock=clock)
        opened.append(app)
        return app

    yield _open
    for app in opened:
        app.close()


def write_config(folder: Path, body: str) -> Path:
    """A config.toml with a SQLite database and outbox inside `folder`."""
    path = folder / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


@dataclass
class FeedServer:
    """A real HTTP server on 127.0.0.1 serving tests/feeds plus misbehaving endpoints."""

    base: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    overrides: dict[str, bytes] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == "/" + path.lstrip("/")]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    modified = formatdate(time.mktime(NOW.timetuple()), usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?")[0]
            server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
            if path == "/500":
                return self._reply(500, b"boom")
            if path == "/404":
                return self._reply(404, b"not here")
            if path == "/410":
                return self._reply(410, b"gone")
            if path == "/429":
                return self._reply(429, b"slow down", {"Retry-After": "3600"})
            if path == "/slow":
                time.sleep(3)
                return self._reply(200, b"<rss/>")
            if path.startswith("/redirect/"):
                return self._reply(301, b"", {"Location": "/" + path.removeprefix("/redirect/")})
            if path == "/loop":
                return self._reply(302, b"", {"Location": "/loop"})
            if path == "/to-file":
                return self._reply(302, b"", {"Location": "file:///etc/passwd"})
            body = server.overrides.get(path)
            if body is None:
                file = FEEDS / path.lstrip("/")
                if not file.is_file():
                    return self._reply(404, b"not here")
                body = file.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                return self._reply(304, b"", {"ETag": etag})
            self._reply(
                200,
                body,
                {"Content-Type": "application/rss+xml", "ETag": etag, "Last-Modified": modified},
            )

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer(base="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
