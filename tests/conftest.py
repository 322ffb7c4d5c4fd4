"""Shared fixtures: real parts only (SQLite files, an HTTP server, an SMTP server)."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.app import App

pytest_plugins = [
    "tests.databases",
    "tests.servers",
    "tests.web_fixtures",
    "tests.smtp_fixtures",
    "tests.ingest_fixtures",
    "tests.render_fixtures",
    "tests.outbox_fixtures",
]

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
    """A real HTTP server on 127.0.0.1 serving tests/feeds plus misbehaving endpoints.

    Besides the files in tests/feeds: /304-style conditional GETs on every file (ETag),
    /lastmod/FILE (Last-Modified only), /500, /404, /410, /429, /503, /slow,
    /redirect/PATH (301), /temporary/PATH (302), /loop, /to-file, /cache/FILE (max-age),
    and the hostile ones: /gzip-bomb, /huge (40 MB, no length), /many (20,000 items),
    /drip (a body byte at a time), /drip-headers, /hang (never answers), /corpus/PATH
    (the feedparser corpus, with the Content-Type its header comment asks for).
    """

    base: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    overrides: dict[str, bytes] = field(default_factory=dict)
    override_types: dict[str, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    cache: dict[str, bytes] = field(default_factory=dict)

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
            try:
                self._route(path)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should with hostile endpoints

        def _route(self, path: str) -> None:
            simple = {
                "/500": (500, {}),
                "/404": (404, {}),
                "/410": (410, {}),
                "/429": (429, {"Retry-After": "3600"}),
                "/503": (503, {"Retry-After": "120"}),
            }
            if path in simple:
                status, headers = simple[path]
                return self._reply(status, b"no feed here", headers)
            if path == "/slow":
                time.sleep(3)
                return self._reply(200, b"<rss/>")
            if path.startswith("/redirect/"):
                return self._reply(301, b"", {"Location": "/" + path.removeprefix("/redirect/")})
            if path.startswith("/temporary/"):
                return self._reply(302, b"", {"Location": "/" + path.removeprefix("/temporary/")})
            if path == "/loop":
                return self._reply(302, b"", {"Location": "/loop"})
            if path == "/to-file":
                return self._reply(302, b"", {"Location": "file:///etc/passwd"})
            if path in _HOSTILE:
                return _HOSTILE[path](self, server)
            if path.startswith("/corpus/"):
                return self._corpus(path.removeprefix("/corpus/"))
            if path.startswith("/lastmod/"):
                return self._last_modified(path.removeprefix("/lastmod"))
            extra = {}
            if path.startswith("/cache/"):
                path = path.removeprefix("/cache")
                extra["Cache-Control"] = "public, max-age=7200"
            body = server.overrides.get(path)
            if body is None:
                file = FEEDS / path.lstrip("/")
                if not file.is_file():
                    return self._reply(404, b"not here")
                body = file.read_bytes()
            kind = server.override_types.get(path, _content_type(path))
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                return self._reply(304, b"", {"ETag": etag, **extra})
            self._reply(
                200,
                body,
                {"Content-Type": kind, "ETag": etag, "Last-Modified": modified, **extra},
            )

        def _last_modified(self, path: str) -> None:
            file = FEEDS / path.lstrip("/")
            if self.headers.get("If-Modified-Since") == modified:
                return self._reply(304, b"", {"Last-Modified": modified})
            self._reply(
                200,
                file.read_bytes(),
                {"Content-Type": _content_type(path), "Last-Modified": modified},
            )

        def _corpus(self, relative: str) -> None:
            file = CORPUS / relative
            if not file.is_file() or CORPUS not in file.resolve().parents:
                return self._reply(404, b"not here")
            body = file.read_bytes()
            headers = {"Content-Type": "application/xml"}
            for name, value in _corpus_headers(body):
                headers[name] = value
            self._reply(200, body, headers)

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler


CORPUS = REPO.parent / "shared" / "corpora" / "feedparser-tests"
_SERVED_HEADERS = {"content-type": "Content-Type", "content-language": "Content-Language"}


def _corpus_headers(body: bytes) -> list[tuple[str, str]]:
    """The HTTP headers a corpus file's comment says it was served with."""
    from digest.sources.guard import wide_codec

    wide = wide_codec(body)
    head = body[:4000].decode(wide[0], "replace") if wide else body[:4000].decode("latin-1")
    found = []
    for name, value in re.findall(r"^Header:\s*([\w-]+):\s*(.*?)\s*$", head, re.M):
        if name.lower() in _SERVED_HEADERS and value:
            found.append((_SERVED_HEADERS[name.lower()], value))
    return found


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/feed+json"
    if path.endswith(".atom"):
        return "application/atom+xml"
    if path.endswith(".html"):
        return "text/html; charset=utf-8"
    return "application/rss+xml"


def _gzip_bomb(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """A 60 KB gzip body that inflates to 64 MB."""
    if "gzip-bomb" not in server.cache:
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = b"\0" * (1 << 20)
        server.cache["gzip-bomb"] = b"".join(packer.compress(zeros) for _ in range(64))
        server.cache["gzip-bomb"] += packer.flush()
    body = server.cache["gzip-bomb"]
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _huge(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """A 40 MB feed without a Content-Length: only counting the bytes can stop it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    handler.close_connection = True
    handler.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>')
    item = b"<item><title>x</title><description>" + b"y" * 65000 + b"</description></item>"
    for _ in range(40 * 1024 * 1024 // len(item)):
        handler.wfile.write(item)
    handler.wfile.write(b"</channel></rss>")


def _many(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """A feed of 20,000 items."""
    if "many" not in server.cache:
        items = "".join(
            f"<item><title>Item {i}</title><guid>many-{i}</guid>"
            f"<link>https://many.example/{i}</link><description>Text {i}.</description></item>"
            for i in range(20_000)
        )
        server.cache["many"] = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>{items}'
            "</channel></rss>"
        ).encode()
    body = server.cache["many"]
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _drip(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """Headers at once, then one body byte every 0.1 s (for 60 s at most)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.end_headers()
    handler.close_connection = True
    for byte in (b"<rss>" + b" " * 600)[:600]:
        if server.stop.wait(0.1):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def _drip_headers(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """The status line and headers one byte every 0.1 s: never a whole response."""
    handler.close_connection = True
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 600:
        if server.stop.wait(0.1):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def _hang(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
    """Accept the request and never answer (for 60 s at most)."""
    handler.close_connection = True
    server.stop.wait(60)


_HOSTILE = {
    "/gzip-bomb": _gzip_bomb,
    "/huge": _huge,
    "/many": _many,
    "/drip": _drip,
    "/drip-headers": _drip_headers,
    "/hang": _hang,
}


@pytest.fixture(scope="session")
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer(base="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.stop.set()
    httpd.shutdown()
    httpd.server_close()
