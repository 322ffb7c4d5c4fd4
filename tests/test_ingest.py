from pathlib import Path

from digest.app import App
from digest.ingest import refresh_all
from digest.sources.fetch import make_client
from tests.conftest import FeedServer, write_config

THEMES = """
[themes.missile_tests]
label = "Missile tests"
context = ["north korea", "pyongyang"]
[themes.missile_tests.phrases]
"missile" = 0.8
"""


def config_with(tmp_path: Path, *feeds: tuple[str, str]) -> Path:
    sources = "".join(
        f'[[sources]]\nid = "{source_id}"\nkind = "feed"\nurl = "{url}"\n\n'
        for source_id, url in feeds
    )
    return write_config(tmp_path, sources + THEMES)


def ingest(app: App) -> dict[str, object]:
    with make_client(app.settings.ingest) as client:
        results = refresh_all(
            app.store, app.settings, client=client, tagger=app.tagger, now=app.clock()
        )
    return {r.source_id: r for r in results}


def test_feed_over_http_is_stored_and_tagged(
    tmp_path: Path, feed_server: FeedServer, open_app
) -> None:
    app = open_app(config_with(tmp_path, ("small", feed_server.url("small.xml"))))
    result = ingest(app)["small"]
    assert (result.new, result.error) == (3, None)
    tagged = app.store.list_items(theme="missile_tests")
    assert [item.title for item, _ in tagged] == [
        "North Korea test-fires Hwasong-19 missile into the sea"
    ]


def test_second_fetch_sends_the_etag_and_a_304_costs_no_parse(
    tmp_path: Path, feed_server: FeedServer, open_app
) -> None:
    app = open_app(config_with(tmp_path, ("etag", feed_server.url("small.xml?etag-test"))))
    ingest(app)
    second = ingest(app)["etag"]
    assert second.not_modified and (second.new, second.updated, second.unchanged) == (0, 0, 0)
    assert feed_server.hits("small.xml")[-1].get("if-none-match", "").startswith('"')


def test_a_failing_source_is_recorded_and_the_others_go_on(
    tmp_path: Path, feed_server: FeedServer, open_app
) -> None:
    app = open_app(
        config_with(
            tmp_path, ("broken", feed_server.url("500")), ("good", feed_server.url("small.xml"))
        )
    )
    results = ingest(app)
    assert results["broken"].error == "the server answered HTTP 500"
    assert results["good"].new == 3
    broken = app.store.get_source("broken")
    assert (broken.error_count, broken.last_error) == (1, "the server answered HTTP 500")
    assert broken.next_check_at is not None and broken.next_check_at > app.clock()


def test_gone_feed_is_disabled(tmp_path: Path, feed_server: FeedServer, open_app) -> None:
    app = open_app(config_with(tmp_path, ("gone", feed_server.url("410"))))
    ingest(app)
    assert app.store.get_source("gone").status == "disabled"


def test_retry_after_sets_the_next_check(tmp_path: Path, feed_server: FeedServer, open_app) -> None:
    app = open_app(config_with(tmp_path, ("busy", feed_server.url("429"))))
    ingest(app)
    source = app.store.get_source("busy")
    assert source.next_check_at is not None
    assert (source.next_check_at - app.clock()).total_seconds() == 3600


def test_redirect_to_a_file_url_is_refused(
    tmp_path: Path, feed_server: FeedServer, open_app
) -> None:
    app = open_app(config_with(tmp_path, ("sneaky", feed_server.url("to-file"))))
    assert "refused a redirect" in str(ingest(app)["sneaky"].error)


def test_redirect_loop_stops(tmp_path: Path, feed_server: FeedServer, open_app) -> None:
    app = open_app(config_with(tmp_path, ("loop", feed_server.url("loop"))))
    assert ingest(app)["loop"].error == "more than 5 redirects"


def test_ingesting_the_sample_sources_twice_stores_nothing_new(
    sample_config: Path, open_app
) -> None:
    app = open_app(sample_config)
    first = ingest(app)
    second = ingest(app)
    assert sum(r.new for r in first.values()) == 33
    assert all(r.new == 0 and r.updated == 0 for r in second.values())
    assert app.store.count_items() == 33


def test_timeout_is_a_recorded_error(tmp_path: Path, feed_server: FeedServer, open_app) -> None:
    path = config_with(tmp_path, ("slow", feed_server.url("slow")))
    path.write_text(path.read_text() + "\n[ingest]\ntimeout_seconds = 0.5\n")
    app = open_app(path)
    assert "timed out" in str(ingest(app)["slow"].error)
