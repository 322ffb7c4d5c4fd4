"""Source kinds, one piece at a time: cleaning, guarding, parsing, stories, polling, OPML."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.sources.clean import canonical_url, clean_title, html_to_text, safe_url, sanitize_html
from digest.sources.discover import feed_links, source_id_for
from digest.sources.documents import read_documents, scan_documents
from digest.sources.feeds import ParsedFeed, parse_feed
from digest.sources.guard import EXPANSION_BUDGET, entity_problem
from digest.sources.opml import OpmlError, read_opml, write_opml
from digest.sources.polling import (
    cache_lifetime,
    next_error_check,
    next_success_check,
    retry_after_seconds,
)
from digest.sources.stories import Known, StoryIndex, signature, similarity
from tests.conftest import FEEDS, REPO

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
RSS = {"content-type": "application/rss+xml"}


def parse(
    body: bytes, headers: dict[str, str] | None = None, url: str = "https://x.example/"
) -> ParsedFeed:
    return parse_feed("f", body, RSS if headers is None else headers, url, NOW)


def rss(items: str, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{head}<rss version="2.0"><channel><title>T</title>'
        f"{items}</channel></rss>"
    ).encode()


# -- cleaning --------------------------------------------------------------------------


def test_sanitize_removes_scripts_handlers_and_javascript_links() -> None:
    dirty = '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(2)">a</a></p>'
    clean = sanitize_html(dirty)
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean
    assert clean.startswith("<p>Hi")


def test_sanitize_drops_svg_mathml_and_forms_with_their_javascript() -> None:
    dirty = (
        '<svg><a xlink:href="javascript:alert(1)">s</a></svg>'
        '<math><mi xlink:href="javascript:alert(2)">m</mi></math>'
        '<form action="javascript:alert(3)"><input value="q"><button>go</button></form><p>ok</p>'
    )
    assert sanitize_html(dirty) == "<p>ok</p>"


def test_sanitize_drops_tracking_pixels_and_resolves_relative_links() -> None:
    dirty = '<img src="https://t.example/p.gif" width="1" height="1"><a href="/a">x</a>'
    assert sanitize_html(dirty, "https://site.example/news/") == (
        '<a href="https://site.example/a" rel="noopener noreferrer nofollow">x</a>'
    )


def test_sanitize_drops_images_from_tracker_hosts_and_data_urls_but_keeps_pictures() -> None:
    dirty = (
        '<img src="https://feeds.feedburner.com/~r/x/~4/abc">'
        '<img src="data:image/png;base64,AAAA"><img src="https://e.example/a.jpg" width="600">'
    )
    assert sanitize_html(dirty) == '<img src="https://e.example/a.jpg" width="600">'


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "java\nscript:x", "vbscript:x", "file:///etc"],
)
def test_unsafe_link_schemes_are_dropped(url: str) -> None:
    assert safe_url(url) == ""


def test_canonical_links_lose_tracking_parameters_only() -> None:
    assert canonical_url("https://Example.org:443/a?utm_source=rss&id=3&fbclid=x#top") == (
        "https://example.org/a?id=3#top"
    )
    assert canonical_url("https://example.org/a?q=a+b") == "https://example.org/a?q=a+b"


def test_titles_become_one_clean_line() -> None:
    assert (
        clean_title("Bad\u2028title\r\nInjected: <b>x</b> &amp; y\u2029")
        == "Bad title Injected: x & y"
    )
    assert clean_title("tab\there\x00\x1b[31m\x85") == "tab here[31m"
    assert len(clean_title("word " * 200)) <= 300


def test_bidi_overrides_are_dropped_but_direction_marks_kept() -> None:
    reversing = "Zebra \u202eedirrevo\u202c and \u2067isolate\u2069 text\u200f"
    assert clean_title(reversing) == "Zebra edirrevo and isolate text\u200f"
    assert sanitize_html(f"<p>{reversing}</p>") == "<p>Zebra edirrevo and isolate text\u200f</p>"
    assert html_to_text(f"<p>{reversing}</p>") == "Zebra edirrevo and isolate text\u200f"


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>One &amp; two</p><p>Three</p>") == "One & two\n\nThree"


# -- guarding feedparser ------------------------------------------------------------------


def test_a_few_small_entities_are_parsed_as_feedparser_means() -> None:
    body = rss(
        "<item><guid>&id;1</guid><title>x</title></item>", '<!DOCTYPE rss [<!ENTITY id "tag:e,">]>'
    )
    assert entity_problem(body) is None
    assert parse(body).entries[0].guid == "tag:e,1"


def test_billion_laughs_is_refused_before_parsing() -> None:
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = rss("<item><title>&l9;</title></item>", f'<!DOCTYPE r [<!ENTITY l0 "lol">{levels}]>')
    with pytest.raises(ParseError, match="would expand to more than"):
        parse(body)


def test_quadratic_blowup_without_nesting_is_refused() -> None:
    big = "a" * 50_000
    body = rss(
        "<item><title>" + "&a;" * 30 + "</title></item>", f'<!DOCTYPE r [<!ENTITY a "{big}">]>'
    )
    assert 30 * 50_000 > EXPANSION_BUDGET
    with pytest.raises(ParseError, match="entity-expansion"):
        parse(body)


def test_a_utf16_entity_bomb_is_found_too() -> None:
    body = rss(
        "<item><title>" + "&a;" * 30 + "</title></item>",
        f'<!DOCTYPE r [<!ENTITY a "{"a" * 50_000}">]>',
    )
    assert "would expand" in str(entity_problem(body.decode().encode("utf-16")))


def test_an_external_entity_is_refused_and_never_fetched() -> None:
    body = rss(
        "<item><title>&xxe;</title></item>",
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    )
    with pytest.raises(ParseError, match="external XML entity 'xxe'"):
        parse(body)


def test_parse_errors_from_feedparser_become_parse_errors() -> None:
    # A surrogate character reference makes feedparser 6 raise instead of setting bozo.
    body = rss("<item><title>&#xD800;</title><guid>1</guid></item>")
    try:
        parsed = parse(body)
    except ParseError as exc:
        assert "could not be parsed" in exc.reason
    else:
        assert parsed.entries


def test_parse_feed_reports_html_that_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="web page, not a feed"):
        parse(b"<html><body><p>Hello</p></body></html>", {"content-type": "text/html"})


def test_a_malformed_feed_with_entries_is_read_with_a_warning() -> None:
    parsed = parse(rss("<item><title>Fine</title><guid>1</guid></item>").replace(b"</rss>", b""))
    assert [e.title for e in parsed.entries] == ["Fine"]
    assert "malformed" in parsed.warnings[0]


def test_a_feed_with_no_items_says_so() -> None:
    assert parse(rss("")).warnings == ["the feed has no items"]


def test_only_the_first_items_of_a_huge_feed_are_read() -> None:
    items = "".join(f"<item><title>n{i}</title><guid>{i}</guid></item>" for i in range(12))
    parsed = parse_feed("f", rss(items), RSS, "https://x.example/", NOW, max_items=5)
    assert len(parsed.entries) == 5 and "12 items" in parsed.warnings[0]


# -- parsing --------------------------------------------------------------------------


def test_parse_feed_cleans_entries_and_resolves_links() -> None:
    body = (FEEDS / "small.xml").read_bytes()
    parsed = parse(body, url="https://small.example/feed")
    assert parsed.title == "Small Test Feed" and parsed.ttl_minutes == 30
    first, _, third = parsed.entries
    assert "script" not in first.summary_html and "javascript" not in first.summary_html
    assert first.url == "https://small.example/news/1"  # utm_source dropped
    assert first.published_at == datetime(2026, 11, 20, 3, tzinfo=UTC)
    assert third.url == "https://small.example/news/3"
    assert third.title == "Relative link & entity test" and third.text == "Markets were calm."


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        ("rss091.xml", ["Ninety-one"]),
        ("rss10.rdf", ["RDF one", "RDF two"]),
        ("atom03.xml", ["Atom zero-three"]),
        ("atom10.atom", ["Atom one"]),
        ("feed.json", ["JSON one", "JSON two"]),
    ],
)
def test_every_format_is_read(name: str, titles: list[str]) -> None:
    kind = "application/feed+json" if name.endswith(".json") else "application/xml"
    parsed = parse((FEEDS / name).read_bytes(), {"content-type": kind}, "https://f.example/feed/")
    assert [e.title for e in parsed.entries] == titles
    assert not parsed.warnings
    assert all(e.url.startswith("https://f.example/") for e in parsed.entries)


def test_json_feed_items_are_cleaned_like_any_other() -> None:
    [first, second] = parse(
        (FEEDS / "feed.json").read_bytes(), {"content-type": "application/json"}
    ).entries
    assert "script" not in first.summary_html and first.published_at == datetime(
        2026, 11, 20, 1, tzinfo=UTC
    )
    assert first.enclosures == ("https://f.example/audio.mp3",) and first.author == "Kim"
    assert second.text == "Plain text, second item." and second.published_at is None


def test_json_that_is_not_a_json_feed_is_an_error() -> None:
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse(json.dumps({"hello": 1}).encode(), {"content-type": "application/json"})
    with pytest.raises(ParseError, match="not valid JSON"):
        parse(b'{"items": [', {"content-type": "application/json"})


def test_link_fields_keep_only_http_and_mailto() -> None:
    body = rss(
        "<item><title>x</title><guid>1</guid><link>javascript:alert(1)</link>"
        '<enclosure url="javascript:alert(2)" type="audio/mpeg" length="1"/>'
        '<enclosure url="https://e.example/a.mp3" type="audio/mpeg" length="1"/></item>'
    )
    [entry] = parse(body).entries
    assert entry.url == "" and entry.enclosures == ("https://e.example/a.mp3",)


def test_dates_become_utc_and_future_dates_are_clamped_to_now() -> None:
    body = rss(
        "<item><title>a</title><guid>1</guid>"
        "<pubDate>Sat, 21 Nov 2026 09:00:00 +0900</pubDate></item>"
        "<item><title>b</title><guid>2</guid>"
        "<pubDate>Sat, 01 Jan 2050 00:00:00 GMT</pubDate></item>"
        "<item><title>c</title><guid>3</guid></item>"
    )
    a, b, c = parse(body).entries
    assert a.published_at == datetime(2026, 11, 21, 0, tzinfo=UTC)
    assert b.published_at == NOW and c.published_at is None


def test_an_item_without_guid_or_link_gets_a_content_guid() -> None:
    [entry] = parse(rss("<item><title>Only a title</title></item>")).entries
    assert entry.guid.startswith("sha256:")


def test_wrongly_encoded_feed_is_read_with_a_warning() -> None:
    body = rss(
        "<item><title>Caf\xe9</title><guid>1</guid></item>".encode("latin-1").decode("latin-1")
    )
    body = body.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="utf-8"?>')
    body = body.replace("Café".encode(), "Café".encode("latin-1"))
    parsed = parse(body)
    assert parsed.entries[0].title == "Café" and "encoding" in parsed.warnings[0]


# -- stories ----------------------------------------------------------------------------

STORY = (
    "North Korea fired a ballistic missile into the sea off its east coast on Sunday, "
    "South Korea's military said, the third launch this month as Pyongyang protests "
    "joint drills by Seoul and Washington. Japan said the missile landed outside its zone."
)


def test_near_duplicate_texts_have_similar_signatures_and_others_do_not() -> None:
    a = signature("Missile launched", STORY)
    b = signature("N. Korea fires missile", STORY.replace("Sunday", "Sunday morning"))
    c = signature(
        "Weather",
        "Heavy snow is expected across the capital region this weekend, "
        "forecasters said, with temperatures falling well below freezing at night.",
    )
    assert similarity(a, b) > 0.6 and similarity(a, c) < 0.2
    assert signature("Short", "Too few words") == b""


def test_a_lower_story_threshold_uses_narrower_bands_and_still_finds_the_pair() -> None:
    extra_a = " ".join(f"alpha{i} beta{i} gamma{i}." for i in range(20))
    extra_b = " ".join(f"delta{i} eps{i} zeta{i}." for i in range(20))
    a, b = signature("A", STORY + " " + extra_a), signature("B", STORY + " " + extra_b)
    assert 0.15 < similarity(a, b) < 0.45
    index = StoryIndex(similarity(a, b) - 0.05, [Known(1, "wire", 1, a)])
    assert index.story_for("paper", b) == 1


def test_story_index_links_only_across_sources() -> None:
    index = StoryIndex(0.5, [Known(1, "wire", 1, signature("Missile", STORY))])
    assert index.story_for("wire", signature("Missile", STORY)) is None
    assert index.story_for("monitor", signature("Missile!", STORY)) == 1


# -- polling ----------------------------------------------------------------------------


def test_a_feed_may_ask_for_longer_but_never_shorter_waits() -> None:
    hour = timedelta(hours=1)
    longest = timedelta(hours=24)
    assert next_success_check(NOW, hour, ttl_minutes=10, max_interval=longest) == NOW + hour
    assert next_success_check(NOW, hour, ttl_minutes=180, max_interval=longest) == NOW + 3 * hour
    cached = {"cache-control": "max-age=604800"}
    assert next_success_check(NOW, hour, headers=cached, max_interval=longest) == NOW + longest


def test_cache_lifetime_reads_cache_control_then_expires() -> None:
    assert cache_lifetime({"cache-control": "public, s-maxage=600"}, NOW) == timedelta(minutes=10)
    assert cache_lifetime({"cache-control": "no-cache, max-age=600"}, NOW) is None
    expires = {"expires": "Sun, 22 Nov 2026 14:00:00 GMT", "date": "Sun, 22 Nov 2026 12:00:00 GMT"}
    assert cache_lifetime(expires, NOW) == timedelta(hours=2)


def test_errors_back_off_exponentially_up_to_a_limit_and_retry_after_counts() -> None:
    hour, day = timedelta(hours=1), timedelta(hours=24)
    waits = [next_error_check(NOW, hour, n, max_backoff=day) - NOW for n in (1, 2, 3, 9)]
    assert waits == [hour, 2 * hour, 4 * hour, day]
    assert next_error_check(NOW, hour, 1, retry_after=7200, max_backoff=day) == NOW + 2 * hour
    assert retry_after_seconds("Sun, 22 Nov 2026 12:30:00 GMT", NOW) == 1800
    assert retry_after_seconds("soon", NOW) is None


# -- more ways in -----------------------------------------------------------------------


def test_feed_links_are_found_in_a_page_and_made_absolute() -> None:
    page = (
        '<html><head><base href="https://site.example/blog/">'
        '<link rel="alternate" type="application/rss+xml" href="feed.xml">'
        '<link rel="alternate" type="text/html" href="/fr/">'
        '<link rel="alternate" type="application/atom+xml" href="javascript:x">'
        "</head></html>"
    )
    assert feed_links(page, "https://site.example/") == ["https://site.example/blog/feed.xml"]


def test_new_source_ids_come_from_the_title_and_never_collide() -> None:
    assert source_id_for("Allied Monitor!", "https://a.example/f", set()) == "allied-monitor"
    assert source_id_for("", "https://www.news.example/f", {"news-example"}) == "news-example-2"


def test_opml_round_trips_and_skips_what_is_not_http() -> None:
    text = write_opml([("Wire & Co", "https://w.example/feed")], title="T", now=NOW)
    outlines, skipped = read_opml(text.encode(), "x.opml")
    assert [(o.title, o.url) for o in outlines] == [("Wire & Co", "https://w.example/feed")]
    nested = (
        b'<opml version="1.0"><body><outline text="News"><outline text="A" xmlUrl="https://a.example/r"/>'
        b'<outline text="Local" xmlUrl="file:///etc/passwd"/></outline></body></opml>'
    )
    outlines, skipped = read_opml(nested, "x.opml")
    assert [(o.url, o.category) for o in outlines] == [("https://a.example/r", "News")]
    assert "only http(s)" in skipped[0]


def test_opml_with_entities_or_broken_xml_is_refused_clearly() -> None:
    with pytest.raises(OpmlError, match="DTD or entities"):
        read_opml(b'<!DOCTYPE o [<!ENTITY a "b">]><opml><body/></opml>', "x.opml")
    with pytest.raises(OpmlError, match="x.opml: not valid XML"):
        read_opml(b"<opml><body>", "x.opml")


# -- documents --------------------------------------------------------------------------


def test_documents_take_their_title_from_the_first_heading_or_line(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Intro line\n\n# The Heading\n\nBody text.")
    (tmp_path / "b.txt").write_text("First line is the title\n\nBody.")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page</title></head><body><h1>Head</h1><p>P</p></body></html>"
    )
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    titles = [e.title for e in read_documents("docs", tmp_path)]
    assert titles == ["The Heading", "First line is the title", "Page"]


def test_a_document_too_large_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000)
    (tmp_path / "ok.txt").write_text("Fine")
    entries, warnings = scan_documents("docs", tmp_path, max_bytes=1024)
    assert [e.title for e in entries] == ["Fine"] and "big.txt" in warnings[0]


def test_seed_documents_get_readable_titles() -> None:
    entries = read_documents("seed", REPO / "sources" / "documents")
    assert len(entries) == 3
    for entry in entries:
        assert 20 < len(entry.title) <= 141 and " > " not in entry.title


def test_a_saved_pages_chrome_does_not_open_its_summary(tmp_path: Path) -> None:
    (tmp_path / "page.txt").write_text(
        "Home > News > Will talks resume in Geneva? What comes next?\n142 views 9 min 0 Comment\n\n"
        "Will talks resume in Geneva? What comes next?\n\n- March 27, 2021\n\n"
        "Negotiators met in Geneva on Thursday for the first time in a year, officials said.\n"
    )
    [entry] = read_documents("docs", tmp_path)
    assert entry.title == "Will talks resume in Geneva? What comes next?"
    assert entry.summary_html.startswith("<p>Negotiators met in Geneva on Thursday")
    assert "142 views" in entry.text  # tagging still reads everything
