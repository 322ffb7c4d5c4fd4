"""Ingestion end to end, against a real HTTP server on 127.0.0.1 and a fresh SQLite file."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from digest.app import App
from digest.compose import compose_digest
from digest.ingest import refresh_source
from digest.sources.fetch import make_client
from tests.conftest import Clock, FeedServer, write_config
from tests.ingest_fixtures import THEMES, config_with, feed, ingest, run

# -- fetching -------------------------------------------------------------------------


def test_feed_over_http_is_stored_and_tagged(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(config_with(tmp_path, ("small", feed_server.url("small.xml"))))
    result = ingest(app)["small"]
    assert (result.new, result.error) == (3, None)
    tagged = app.store.list_items(theme="missile_tests")
    assert [item.title for item, _ in tagged] == [
        "North Korea test-fires Hwasong-19 missile into the sea"
    ]
    assert "digest/" in feed_server.hits("small.xml")[-1]["user-agent"]


def test_second_fetch_sends_the_etag_and_a_304_costs_no_parse(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(config_with(tmp_path, ("etag", feed_server.url("small.xml?etag-test"))))
    ingest(app)
    second = ingest(app)["etag"]
    assert second.not_modified and (second.new, second.updated, second.unchanged) == (0, 0, 0)
    assert feed_server.hits("small.xml")[-1].get("if-none-match", "").startswith('"')


def test_last_modified_is_sent_back_and_honoured(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(config_with(tmp_path, ("lm", feed_server.url("lastmod/small.xml"))))
    ingest(app)
    assert ingest(app)["lm"].not_modified
    assert "if-modified-since" in feed_server.hits("lastmod/small.xml")[-1]


def test_a_failing_source_is_recorded_and_the_others_go_on(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(
        config_with(
            tmp_path, ("broken", feed_server.url("500")), ("good", feed_server.url("small.xml"))
        )
    )
    results = ingest(app)
    assert results["broken"].error == "the server failed (HTTP 500)"
    assert results["broken"].message.startswith(
        f"Source 'broken' ({feed_server.url('500')}): the server failed (HTTP 500). Next try "
    )
    assert results["good"].new == 3
    broken = app.store.get_source("broken")
    assert (broken.error_count, broken.last_error) == (1, "the server failed (HTTP 500)")
    assert broken.next_check_at is not None and broken.next_check_at > app.clock()


def test_gone_feed_is_disabled_until_resumed(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    config = config_with(tmp_path, ("gone", feed_server.url("410")))
    app = open_app(config)
    assert "digest sources resume gone" in ingest(app)["gone"].message
    assert app.store.get_source("gone").status == "disabled"
    assert ingest(app)["gone"].skipped
    assert "Resumed 'gone'" in run(config, "sources", "resume", "gone").output
    assert app.store.get_source("gone").status == "active"


def test_retry_after_sets_the_next_check_on_429_and_503(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    config = config_with(
        tmp_path,
        ("busy", feed_server.url("429")),
        ("down", feed_server.url("503")),
        ingest="interval_minutes = 1",
    )
    app = open_app(config)
    ingest(app)
    busy, down = app.store.get_source("busy"), app.store.get_source("down")
    assert busy.next_check_at == app.clock() + timedelta(seconds=3600)
    assert down.next_check_at == app.clock() + timedelta(seconds=120)


def test_errors_back_off_then_pause_the_source(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App], clock: Clock
) -> None:
    app = open_app(
        config_with(tmp_path, ("flaky", feed_server.url("500")), ingest="error_limit = 3")
    )
    waits = []
    for _ in range(3):
        result = ingest(app)["flaky"]
        waits.append(result.next_check_at and result.next_check_at - clock.now)
        clock.now += timedelta(days=1)
    assert waits == [timedelta(hours=1), timedelta(hours=2), None]
    paused = app.store.get_source("flaky")
    assert (paused.status, paused.error_count) == ("paused", 3)
    assert "digest sources resume flaky" in ingest(app)["flaky"].advice
    assert app.store.due_sources(clock.now) == []


def test_a_feed_ttl_and_cache_control_stretch_the_interval(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(
        config_with(
            tmp_path,
            ("ttl", feed_server.url("atom10.atom")),
            ("cached", feed_server.url("cache/atom10.atom")),
            ingest="interval_minutes = 10",
        )
    )
    results = ingest(app)
    assert results["ttl"].next_check_at == app.clock() + timedelta(minutes=10)
    assert results["cached"].next_check_at == app.clock() + timedelta(hours=2)


def test_redirects_to_other_schemes_and_loops_are_refused(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(
        config_with(
            tmp_path, ("sneaky", feed_server.url("to-file")), ("loop", feed_server.url("loop"))
        )
    )
    results = ingest(app)
    assert "refused a redirect to 'file:///etc/passwd'" in str(results["sneaky"].error)
    assert results["loop"].error == "more than 5 redirects (a redirect loop?)"


def test_a_permanent_redirect_is_remembered_and_a_temporary_one_is_not(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(
        config_with(
            tmp_path,
            ("moved", feed_server.url("redirect/rss10.rdf")),
            ("away", feed_server.url("temporary/atom03.xml")),
        )
    )
    ingest(app)
    moved, away = app.store.get_source("moved"), app.store.get_source("away")
    assert moved.moved_to == feed_server.url("rss10.rdf") and away.moved_to is None
    before = len(feed_server.hits("redirect/rss10.rdf"))
    ingest(app)
    assert len(feed_server.hits("redirect/rss10.rdf")) == before


def test_a_permanent_redirect_updates_the_address_of_an_added_source(
    sample_config: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(sample_config)
    app.store.add_source(
        "added", feed_server.url("redirect/atom10.atom"), title="A", origin="cli", now=app.clock()
    )
    assert ingest(app, ["added"])["added"].new == 1
    assert app.store.get_source("added").location == feed_server.url("atom10.atom")


def test_timeouts_are_recorded_errors(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    app = open_app(
        config_with(
            tmp_path,
            ("slow", feed_server.url("slow")),
            ("drip", feed_server.url("drip-headers")),
            ingest="timeout_seconds = 1.5\nread_timeout_seconds = 0.5",
        )
    )
    results = ingest(app)
    assert results["slow"].error == "the server stopped answering for 0.5s"
    assert results["drip"].error == (
        "the download took longer than 1.5s in all ([ingest] timeout_seconds)"
    )


# -- storing --------------------------------------------------------------------------


def test_ingesting_the_sample_sources_twice_stores_nothing_new(
    sample_config: Path, open_app: Callable[[Path], App]
) -> None:
    app = open_app(sample_config)
    first = ingest(app)
    second = ingest(app)
    assert sum(r.new for r in first.values()) == 34
    assert all(r.new == 0 and r.updated == 0 for r in second.values())
    assert app.store.count_items() == 34


def test_changed_content_updates_in_place_and_keeps_first_seen(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App], clock: Clock
) -> None:
    feed_server.overrides["/changing.xml"] = feed(("g1", "https://e.example/1", "Draft", "v1"))
    app = open_app(config_with(tmp_path, ("c", feed_server.url("changing.xml"))))
    ingest(app)
    first_seen = clock.now
    clock.now += timedelta(hours=1)
    feed_server.overrides["/changing.xml"] = feed(("g1", "https://e.example/1", "Final", "v2"))
    assert ingest(app)["c"].updated == 1
    [(item, _)] = app.store.list_items(source_id="c")
    assert (item.title, item.first_seen_at) == ("Final", first_seen)


def test_links_differing_only_by_tracking_parameters_are_one_item(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    link = "https://e.example/story"
    feed_server.overrides["/tracked.xml"] = feed(("", f"{link}?utm_source=a", "Story", "x"))
    app = open_app(config_with(tmp_path, ("t", feed_server.url("tracked.xml"))))
    ingest(app)
    feed_server.overrides["/tracked.xml"] = feed(("", f"{link}?utm_medium=b", "Story", "y"))
    result = ingest(app)["t"]
    assert (result.new, result.updated) == (0, 1)
    assert [i.url for i, _ in app.store.list_items(source_id="t")] == [link]


def test_items_sharing_a_link_but_not_a_guid_stay_two_items(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    home = "https://e.example/"
    feed_server.overrides["/home.xml"] = feed(("a", home, "One", "x"), ("b", home, "Two", "y"))
    app = open_app(config_with(tmp_path, ("h", feed_server.url("home.xml"))))
    assert ingest(app)["h"].new == 2
    feed_server.overrides["/home.xml"] += b"\n"  # a new ETag: read again, not a 304
    again = ingest(app)["h"]
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)


STORY = (
    "North Korea fired a ballistic missile into the sea off its east coast on Sunday, "
    "South Korea's military said, the third launch this month as Pyongyang protests joint "
    "drills by Seoul and Washington. Japan said the missile fell outside its economic zone."
)


def test_the_same_story_from_two_sources_is_one_story_in_the_digest(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    feed_server.overrides["/wire.xml"] = feed(
        ("w1", "https://w.example/1", "Missile fired", STORY), title="The Wire"
    )
    feed_server.overrides["/paper.xml"] = feed(
        ("p1", "https://p.example/9", "N. Korea fires missile", STORY + " More follows."),
        ("p2", "https://p.example/10", "Snow", "Snow fell in Seoul on a quiet Sunday morning."),
        title="The Paper",
    )
    config = config_with(
        tmp_path, ("wire", feed_server.url("wire.xml")), ("paper", feed_server.url("paper.xml"))
    )
    config.write_text(
        config.read_text()
        + '\n[[subscribers]]\nemail = "a@example.org"\nthemes = ["missile_tests"]\n'
    )
    app = open_app(config)
    ingest(app)
    items = {i.source_id + i.guid: i for i, _ in app.store.list_items()}
    paper, wire, snow = items["paperp1"], items["wirew1"], items["paperp2"]
    assert (paper.story_id or paper.id) == (wire.story_id or wire.id)  # whichever came first
    assert snow.story_id is None
    [subscriber] = app.store.list_subscribers()
    [entry] = compose_digest(app.store, app.settings, subscriber, app.clock()).entries
    assert {entry.source_title, *entry.also_reported_by} == {"The Wire", "The Paper"}


def test_a_copy_read_in_a_later_run_joins_the_story_it_copies(
    tmp_path: Path, feed_server: FeedServer, open_app: Callable[[Path], App]
) -> None:
    feed_server.overrides["/wire.xml"] = feed(
        ("w1", "https://w.example/1", "Missile fired", STORY), title="The Wire"
    )
    feed_server.overrides["/paper.xml"] = feed(title="The Paper")
    config = config_with(
        tmp_path, ("wire", feed_server.url("wire.xml")), ("paper", feed_server.url("paper.xml"))
    )
    app = open_app(config)
    ingest(app)
    # The next run, only the paper has something new: the wire's story, copied.
    feed_server.overrides["/paper.xml"] = feed(
        ("p1", "https://p.example/9", "N. Korea fires missile", STORY), title="The Paper"
    )
    ingest(app, only=["paper"])
    items = {i.source_id + i.guid: i for i, _ in app.store.list_items()}
    assert items["paperp1"].story_id == items["wirew1"].id


def test_a_documents_source_picks_up_new_and_changed_files(
    tmp_path: Path, open_app: Callable[[Path], App], clock: Clock
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# First\n\nOne.")
    config = write_config(
        tmp_path, '[[sources]]\nid = "docs"\nkind = "documents"\npath = "docs"\n' + THEMES
    )
    app = open_app(config)
    assert ingest(app)["docs"].new == 1
    (docs / "a.md").write_text("# First, revised\n\nOne and a half.")
    (docs / "b.txt").write_text("Second\n\nTwo.")
    clock.now += timedelta(hours=1)
    result = ingest(app)["docs"]
    assert (result.new, result.updated, result.unchanged) == (1, 1, 0)


def test_refresh_source_alone_works_as_the_web_and_scheduler_call_it(
    sample_config: Path, open_app: Callable[[Path], App]
) -> None:
    app = open_app(sample_config)
    [feed_source] = [s for s in app.settings.sources if s.id == "peninsula-wire"]
    with make_client(app.settings.ingest) as client:
        result = refresh_source(
            app.store, app.settings, feed_source, client=client, tagger=app.tagger, now=app.clock()
        )
    assert result.new == 16 and app.store.get_source("peninsula-wire").last_success_at


def test_the_store_schema_matches_its_migrations(
    sample_config: Path, open_app: Callable[[Path], App]
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from digest.store.schema import metadata

    app = open_app(sample_config)
    with app.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if "apscheduler" not in str(d)] == []
