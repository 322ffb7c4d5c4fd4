from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.sources.clean import clean_title, html_to_text, safe_url, sanitize_html
from digest.sources.documents import read_documents
from digest.sources.feeds import parse_feed
from tests.conftest import FEEDS, REPO

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_sanitize_removes_scripts_handlers_and_javascript_links() -> None:
    dirty = '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(2)">a</a></p>'
    clean = sanitize_html(dirty)
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean
    assert clean.startswith("<p>Hi")


def test_sanitize_drops_tracking_pixels_and_resolves_relative_links() -> None:
    dirty = '<img src="https://t.example/p.gif" width="1" height="1"><a href="/a">x</a>'
    assert sanitize_html(dirty, "https://site.example/news/") == (
        '<a href="https://site.example/a" rel="noopener noreferrer nofollow">x</a>'
    )


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "java\nscript:x", "vbscript:x"]
)
def test_unsafe_link_schemes_are_dropped(url: str) -> None:
    assert safe_url(url) == ""


def test_titles_become_one_clean_line() -> None:
    assert (
        clean_title("Bad\u2028title\r\nInjected: <b>x</b> &amp; y") == "Bad title Injected: x & y"
    )
    assert len(clean_title("word " * 200)) <= 300


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>One &amp; two</p><p>Three</p>") == "One & two\n\nThree"


def test_documents_take_their_title_from_the_first_heading_or_line(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Intro line\n\n# The Heading\n\nBody text.")
    (tmp_path / "b.txt").write_text("First line is the title\n\nBody.")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page</title></head><body><h1>Head</h1><p>P</p></body></html>"
    )
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    titles = [e.title for e in read_documents("docs", tmp_path)]
    assert titles == ["The Heading", "First line is the title", "Page"]


def test_seed_documents_get_readable_titles() -> None:
    entries = read_documents("seed", REPO / "sources" / "documents")
    assert len(entries) == 3
    for entry in entries:
        assert 20 < len(entry.title) <= 141 and " > " not in entry.title


def test_parse_feed_cleans_entries_and_resolves_links() -> None:
    body = (FEEDS / "small.xml").read_bytes()
    parsed = parse_feed(
        "small", body, {"content-type": "application/rss+xml"}, "https://small.example/feed", NOW
    )
    assert parsed.title == "Small Test Feed" and parsed.ttl_minutes == 30
    first, _, third = parsed.entries
    assert "script" not in first.summary_html and "javascript" not in first.summary_html
    assert first.published_at == datetime(2026, 11, 20, 3, tzinfo=UTC)
    assert third.url == "https://small.example/news/3"
    assert third.title == "Relative link & entity test" and third.text == "Markets were calm."


def test_parse_feed_refuses_entity_declarations() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]>'
        b"<rss><channel><title>&a;</title></channel></rss>"
    )
    with pytest.raises(ParseError, match="entities"):
        parse_feed("bomb", bomb, {}, "https://x.example/", NOW)


def test_parse_feed_reports_html_that_is_not_a_feed() -> None:
    with pytest.raises(ParseError):
        parse_feed(
            "page",
            b"<html><body><p>Hello</p></body></html>",
            {"content-type": "text/html"},
            "https://x.example/",
            NOW,
        )


def test_future_dates_are_clamped_to_now() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title><item><title>x</title><guid>1</guid>
    <pubDate>Sat, 01 Jan 2050 00:00:00 GMT</pubDate></item></channel></rss>"""
    [entry] = parse_feed(
        "f", body, {"content-type": "application/rss+xml"}, "https://x.example/", NOW
    ).entries
    assert entry.published_at == NOW
