"""Alerts: new high-scoring items at once, batched, with quiet hours and a daily cap."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest

from digest.alerts import quiet_until, send_alerts
from digest.app import App
from digest.schedule import ingest_due, send_due
from tests.conftest import NOW, Clock
from tests.scenario import Items, at, delivered, reader, write_deployment

ALERTS = '[subscribers.alerts]\nthemes = ["alpha"]\nthreshold = 0.8\ndaily_cap = {cap}\n{more}'


def alert_reader(*, cap: int = 5, more: str = "", quiet: str | None = None) -> str:
    extra = (f'quiet_hours = "{quiet}"\n' if quiet else "") + ALERTS.format(cap=cap, more=more)
    return reader("a@example.org", ["alpha", "beta"], extra=extra)


@pytest.fixture
def make(tmp_path: Path, clock: Clock) -> Iterator[Callable[[str], tuple[App, Items]]]:
    opened: list[App] = []

    def _make(subscribers: str) -> tuple[App, Items]:
        app = App.open(write_deployment(tmp_path, subscribers), clock=clock)
        opened.append(app)
        return app, Items(app)

    yield _make
    for app in opened:
        app.close()


def test_new_items_at_the_threshold_go_out_in_one_alert(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader())
    clock.now += timedelta(minutes=5)
    high = [stored.add({"alpha": 0.9}, clock.now), stored.add({"alpha": 0.8}, clock.now)]
    stored.add({"alpha": 0.7}, clock.now)  # under the alert threshold
    stored.add({"beta": 0.95}, clock.now)  # not an alert theme
    result = send_alerts(app, clock.now)
    assert len(result.queued) == 1
    assert delivered(app, "a@example.org", "alert") == [sorted(high)]


def test_items_stored_before_the_reader_subscribed_are_not_alerted(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader())
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=1))
    assert send_alerts(app, clock.now).queued == []


def test_old_news_from_a_new_feed_waits_for_the_digest(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader())
    clock.now += timedelta(minutes=5)
    # First seen now, but published ten days ago (a new feed's backlog): no alert.
    backlog = stored.add({"alpha": 0.9}, clock.now, published=clock.now - timedelta(days=10))
    fresh = stored.add({"alpha": 0.9}, clock.now, published=clock.now - timedelta(hours=3))
    send_alerts(app, clock.now)
    assert delivered(app, "a@example.org", "alert") == [[fresh]]
    send_due(app, clock.now + timedelta(minutes=1))
    assert delivered(app, "a@example.org", "digest") == [[backlog]]


def test_an_alerted_item_is_not_repeated_in_the_next_digest(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader())
    clock.now += timedelta(minutes=5)
    alerted = stored.add({"alpha": 0.9}, clock.now)
    other = stored.add({"alpha": 0.6}, clock.now)
    send_alerts(app, clock.now)
    send_due(app, clock.now + timedelta(minutes=1))
    assert delivered(app, "a@example.org", "digest") == [[other]]
    assert delivered(app, "a@example.org", "alert") == [[alerted]]


def test_a_story_sent_yesterday_is_not_sent_again_when_another_source_reports_it(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(reader("a@example.org"))
    clock.now += timedelta(minutes=5)
    first = stored.add({"alpha": 0.6}, clock.now)
    send_due(app, at("2026-11-23T07:00"))
    assert delivered(app, "a@example.org", "digest") == [[first]]
    # The next day a second source (a feed added later, say) carries the same story.
    again = stored.add({"alpha": 0.6}, at("2026-11-23T09:00"), source="other", story_of=first)
    fresh = stored.add({"alpha": 0.6}, at("2026-11-23T09:00"))
    send_due(app, at("2026-11-24T07:00"))
    assert again not in delivered(app, "a@example.org", "digest")[-1]
    assert delivered(app, "a@example.org", "digest") == [[first], [fresh]]


def test_repeat_in_digest_lists_alerted_items_again(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader(more="repeat_in_digest = true\n"))
    clock.now += timedelta(minutes=5)
    alerted = stored.add({"alpha": 0.9}, clock.now)
    send_alerts(app, clock.now)
    send_due(app, clock.now + timedelta(minutes=1))
    assert delivered(app, "a@example.org", "digest") == [[alerted]]


def test_quiet_hours_hold_alerts_until_they_end(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader(quiet="22:00-07:00"))
    clock.now = at("2026-11-22T23:00")
    item = stored.add({"alpha": 0.9}, clock.now)
    held = send_alerts(app, clock.now)
    early = send_alerts(app, at("2026-11-23T06:59"), held_only=True)
    on_time = send_alerts(app, at("2026-11-23T07:00"), held_only=True)
    assert held.queued == [] and [until for _, until in held.held] == [at("2026-11-23T07:00")]
    assert early.queued == [] and len(on_time.queued) == 1
    assert delivered(app, "a@example.org", "alert") == [[item]]


def test_held_alerts_go_out_with_the_send_job_when_quiet_hours_end(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader(quiet="22:00-07:00"))
    send_due(app, clock.now)  # the first digest, so that the next one is not due yet
    clock.now = at("2026-11-22T23:00")
    stored.add({"alpha": 0.9}, clock.now)
    send_alerts(app, clock.now)
    result = send_due(app, at("2026-11-23T07:00:30"))
    assert [d.kind for d in result.queued] == ["digest"]  # 07:00 is also the digest slot
    assert delivered(app, "a@example.org", "alert") == []  # the digest carried the item


def test_quiet_hours_in_the_readers_zone_across_midnight() -> None:
    seoul = "Asia/Seoul"  # UTC+9
    assert quiet_until("22:00-07:00", seoul, at("2026-11-22T14:00")) == at("2026-11-22T22:00")
    assert quiet_until("22:00-07:00", seoul, at("2026-11-22T12:59")) is None
    assert quiet_until("01:00-05:00", "UTC", at("2026-11-22T05:00")) is None
    assert quiet_until(None, seoul, NOW) is None


def test_the_daily_cap_counts_alert_emails_per_local_day(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader(cap=1))
    clock.now = at("2026-11-22T13:00")
    stored.add({"alpha": 0.9}, clock.now)
    first = send_alerts(app, clock.now)
    clock.now = at("2026-11-22T18:00")
    capped_item = stored.add({"alpha": 0.9}, clock.now)
    capped = send_alerts(app, clock.now)
    clock.now = at("2026-11-23T00:30")  # a new day in UTC
    stored.add({"alpha": 0.9}, clock.now)
    next_day = send_alerts(app, clock.now)
    assert (len(first.queued), len(capped.queued), len(next_day.queued)) == (1, 0, 1)
    assert [s.email for s in capped.capped] == ["a@example.org"]
    # The capped item was not alerted, so the digest still has it.
    send_due(app, at("2026-11-23T07:00"))
    digest_items = {i for ids in delivered(app, "a@example.org", "digest") for i in ids}
    assert capped_item in digest_items


def test_paused_readers_get_no_alerts_and_none_for_the_pause(
    make: Callable[[str], tuple[App, Items]], clock: Clock
) -> None:
    app, stored = make(alert_reader())
    sub = app.store.get_subscriber("a@example.org")
    app.store.set_status(sub.id, "paused", now=clock.now)
    clock.now += timedelta(minutes=5)
    stored.add({"alpha": 0.9}, clock.now)
    assert send_alerts(app, clock.now).queued == []
    app.store.set_status(sub.id, "active", now=clock.now + timedelta(minutes=1))
    assert send_alerts(app, clock.now + timedelta(minutes=2)).queued == []


def test_ingest_sends_alerts_at_once_through_the_outbox(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(
        tmp_path,
        reader(
            "a@example.org",
            ["alpha"],
            extra='[subscribers.alerts]\nthemes = ["alpha"]\nthreshold = 0.7\n',
        ),
    )
    app = App.open(config, clock=clock)
    (tmp_path / "feeds" / "wire.xml").write_text(
        "<rss version='2.0'><channel><title>wire</title>"
        "<item><title>Alpha news</title><guid>a1</guid>"
        "<description>alpha happened. more alpha.</description></item>"
        "</channel></rss>"
    )
    clock.now += timedelta(minutes=1)
    result = ingest_due(app, clock.now)
    app.close()
    assert len(result.alerts.queued) == 1 and len(result.flushed.sent) == 1
    [eml] = (tmp_path / "outbox").glob("*-alert-*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Auto-Submitted"] == "auto-generated"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "Alpha news" in plain.get_content()
