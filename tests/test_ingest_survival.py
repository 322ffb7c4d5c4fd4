"""Survival: hostile servers, every file of the feedparser corpus, bounded parsing processes."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.app import App
from digest.errors import ParseError
from digest.sources.pool import ParseJob, ParserPool
from tests.conftest import CORPUS, FEEDS, FeedServer
from tests.ingest_fixtures import MemoryWatch, config_with, ingest

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
RSS = {"content-type": "application/rss+xml"}


def rss(items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"a" * 100_000 + b'">]>'
    b"<rss><channel><title>t</title><item><title>" + b"&a;" * 5000 + b"</title></item>"
    b"</channel></rss>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<rss><channel><title>t</title><item><title>&x;</title></item></channel></rss>"
)


def test_hostile_servers_each_get_a_clear_error_and_the_run_goes_on(
    tmp_path: Path,
    feed_server: FeedServer,
    open_app: Callable[[Path], App],
    memory_watch: MemoryWatch,
) -> None:
    feed_server.overrides["/bomb.xml"] = ENTITY_BOMB
    feed_server.overrides["/external.xml"] = EXTERNAL
    small = (FEEDS / "small.xml").read_bytes()
    feed_server.overrides["/truncated.xml"] = small[: len(small) // 2]
    feed_server.overrides["/truncated-early.xml"] = small[:120]
    feed_server.overrides["/latin1.xml"] = small.replace(
        b"Seoul weather", "Séoul wéather".encode("latin-1")
    )
    hostile = {
        "bomb": ("bomb.xml", "entity-expansion"),
        "external": ("external.xml", "external XML entity"),
        "gzip": ("gzip-bomb", "larger than the 10,000,000 byte limit"),
        "huge": ("huge", "larger than the 10,000,000 byte limit"),
        "many": ("many", "the feed has 20,000 items; only the first 1,000 were read"),
        "drip": ("drip", "took longer than 3s in all"),
        "hang": ("hang", "stopped answering for 1.5s"),
        "loop": ("loop", "more than 5 redirects"),
        "html": ("page.html", "web page, not a feed"),
        "truncated": ("truncated.xml", "malformed"),
        "truncated-early": ("truncated-early.xml", "not a usable feed"),
        "latin1": ("latin1.xml", "declared character encoding was wrong"),
    }
    config = config_with(
        tmp_path,
        *[(name, feed_server.url(path)) for name, (path, _) in hostile.items()],
        ("good", feed_server.url("small.xml")),
        ingest="timeout_seconds = 3\nread_timeout_seconds = 1.5",
    )
    app = open_app(config)
    results = ingest(app)
    for name, (_, reason) in hostile.items():
        said = results[name].error or "; ".join(results[name].warnings)
        assert reason in said, (name, said)
    assert results["good"].new == 3 and results["many"].new == 1000
    assert results["latin1"].new == 3
    print(f"peak memory {memory_watch.peak_mb:.0f} MB")
    assert memory_watch.peak_mb < 1024


@pytest.mark.slow
def test_every_file_of_the_feedparser_corpus_survives_the_real_code_path(
    tmp_path: Path,
    feed_server: FeedServer,
    open_app: Callable[[Path], App],
    memory_watch: MemoryWatch,
) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the feedparser corpus is not at {CORPUS} (it comes with ../shared/)")
    files = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.*"))
    files = [f for f in files if f.endswith((".xml", ".json"))]
    app = open_app(config_with(tmp_path))
    for i, name in enumerate(files):
        url = feed_server.url(f"corpus/{name}")
        app.store.add_source(f"c{i:04d}", url, title=name, origin="opml", now=app.clock())
    started = time.monotonic()
    results = ingest(app)
    elapsed = time.monotonic() - started
    assert len(results) == len(files) > 2000
    bugs = [
        (r.source_id, r.error)
        for r in results.values()
        if r.error and ("unexpectedly" in r.error or "the parser failed" in r.error)
    ]
    assert bugs == []
    silent = [
        s.title
        for s in app.store.list_sources()
        if not s.item_count and not s.last_error and not s.last_warning
    ]
    assert silent == []  # a feed that yields nothing says why
    print(
        f"corpus: {len(files)} files in {elapsed:.1f}s, peak memory {memory_watch.peak_mb:.0f} MB"
    )
    assert elapsed < 120 and memory_watch.peak_mb < 1024


def test_the_pool_turns_a_slow_parse_into_an_error_and_recovers() -> None:
    with ParserPool(1, timeout=0.01, memory_mb=256) as pool:
        items = "".join(f"<item><title>n{i}</title><guid>{i}</guid></item>" for i in range(3000))
        with pytest.raises(ParseError, match="took longer than"):
            pool.parse(ParseJob("slow", rss(items), RSS, "https://x.example/", NOW, 10))
        pool.timeout = 30
        parsed = pool.parse(
            ParseJob("ok", (FEEDS / "small.xml").read_bytes(), RSS, "https://x.example/", NOW, 10)
        )
    assert len(parsed.entries) == 3


def test_the_pool_bounds_memory() -> None:
    huge = rss("<item><title>" + "x" * 60_000_000 + "</title></item>")
    with ParserPool(1, timeout=60, memory_mb=128) as pool:
        with pytest.raises(ParseError, match="memory|MB"):
            pool.parse(ParseJob("big", huge, RSS, "https://x.example/", NOW, 10))
