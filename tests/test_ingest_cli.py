"""`digest ingest` and `digest sources`: what a person sees and types."""

import json
from pathlib import Path

from tests.conftest import FeedServer, write_config
from tests.ingest_fixtures import config_with, feed, run


def test_ingest_shows_a_summary_table_per_source(tmp_path: Path, feed_server: FeedServer) -> None:
    config = config_with(
        tmp_path, ("good", feed_server.url("small.xml")), ("bad", feed_server.url("404"))
    )
    output = run(config, "ingest").output
    assert "new" in output and "updated" in output and "unchanged" in output
    assert "failed" in output and "the feed was not found (HTTP 404)" in output
    assert "1 of 2 sources failed" in output


def test_sources_shows_health_and_show_explains_one(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config = config_with(tmp_path, ("bad", feed_server.url("404")))
    run(config, "ingest")
    table = run(config, "sources").output
    for column in ("status", "last success", "last error", "errors", "next check", "items"):
        assert column in table.replace("\n", " ") or column.split()[0] in table
    assert "The feed was not found" in table
    shown = run(config, "sources", "show", "bad").output
    assert "Next try" in shown and "config.toml" in shown
    missing = run(config, "sources", "show", "nope")
    assert missing.exit_code == 1 and "No source 'nope'" in missing.output


def test_sources_add_finds_the_feed_behind_a_page_and_ingest_reads_it(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config = config_with(tmp_path)
    added = run(config, "sources", "add", feed_server.url("page.html"))
    assert added.exit_code == 0, added.output
    assert f"Found the feed {feed_server.url('small.xml')}" in added.output
    assert "Added 'small-test-feed'" in added.output
    assert "small-test-feed" in run(config, "sources").output
    assert "3 " in run(config, "ingest", "--source", "small-test-feed").output
    again = run(config, "sources", "add", feed_server.url("small.xml"))
    assert again.exit_code == 1 and "already reads it" in again.output


def test_sources_add_explains_a_page_without_a_feed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    result = run(config_with(tmp_path), "sources", "add", feed_server.url("no-feed.html"))
    assert result.exit_code == 1 and "the page announces no feed" in result.output
    assert "Traceback" not in result.output
    local = run(config_with(tmp_path), "sources", "add", "/etc/passwd")
    assert local.exit_code == 1 and "config.toml" in local.output


def test_opml_import_then_export_round_trips(tmp_path: Path, feed_server: FeedServer) -> None:
    config = config_with(tmp_path, ("small", feed_server.url("small.xml")))
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        f'<opml version="2.0"><body><outline text="Tech">'
        f'<outline text="Atom one" xmlUrl="{feed_server.url("atom10.atom")}"/>'
        f'<outline text="Dup" xmlUrl="{feed_server.url("small.xml")}"/>'
        f"</outline></body></opml>"
    )
    result = run(config, "sources", "import", str(opml))
    assert "Imported 1 feed" in result.output and "already read by 'small'" in result.output
    exported = run(config, "sources", "export").output
    assert feed_server.url("atom10.atom") in exported and feed_server.url("small.xml") in exported
    assert run(config, "sources", "remove", "atom-one").exit_code == 0
    assert "atom-one" not in run(config, "sources").output


def test_run_once_reads_feeds_added_with_sources_add_and_import(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    config = config_with(tmp_path)
    assert run(config, "sources", "add", feed_server.url("small.xml")).exit_code == 0
    opml = tmp_path / "feeds.opml"
    outline = f'<outline text="A" xmlUrl="{feed_server.url("rss10.rdf")}"/>'
    opml.write_text(f'<opml version="2.0"><body>{outline}</body></opml>')
    assert run(config, "sources", "import", str(opml)).exit_code == 0
    result = run(config, "run", "--once")
    assert result.exit_code == 0, result.output
    found = json.loads(run(config, "items", "--json").output)
    assert {i["source_id"] for i in found} == {"small-test-feed", "a"}


def test_items_theme_lists_only_items_scored_at_its_threshold(tmp_path: Path) -> None:
    (tmp_path / "z.xml").write_bytes(
        feed(
            ("1", "http://z.example/1", "Zebra news", "A zebra ran."),
            ("2", "http://z.example/2", "News", "Some stripes."),  # scores 0.18, below 0.5
        )
    )
    config = write_config(
        tmp_path,
        '[[sources]]\nid = "z"\nkind = "feed"\nurl = "z.xml"\n'
        '[themes.zebra]\nlabel = "Zebra"\nthreshold = 0.5\n'
        '[themes.zebra.phrases]\n"zebra" = 0.8\n"stripes" = 0.2\n',
    )
    run(config, "ingest")
    every = json.loads(run(config, "items", "--json").output)
    assert {i["title"]: [t["tagged"] for t in i["tags"]] for i in every} == {
        "Zebra news": [True],
        "News": [False],
    }
    shown = json.loads(run(config, "items", "--theme", "zebra", "--json").output)
    assert [i["title"] for i in shown] == ["Zebra news"]
