"""Compose: windows, ranking, themes, stories, limits; and no repeats whatever happens."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from digest.app import App
from digest.compose import compose_digest, compose_digests
from digest.models import Digest
from digest.schedule import send_due, send_now
from digest.store.schema import deliveries, delivery_items, items
from tests.conftest import NOW, Clock
from tests.scenario import Items, delivered, reader, write_deployment


@pytest.fixture
def deployment(tmp_path: Path, clock: Clock) -> Iterator[tuple[App, Items]]:
    """An app with three readers: alpha (limit 3), alpha+gamma, and beta with min score."""
    config = write_deployment(
        tmp_path,
        reader("a@example.org", ["alpha"], extra="max_items = 3")
        + reader("ag@example.org", ["gamma", "alpha"])
        + reader("b@example.org", ["beta"], extra="min_score = 0.7"),
    )
    app = App.open(config, clock=clock)
    yield app, Items(app)
    app.close()


def compose(app: App, email: str) -> Digest:
    return compose_digest(app.store, app.settings, app.store.get_subscriber(email), NOW)


def titles(digest: Digest) -> list[str]:
    return [e.item.title for e in digest.entries]


def test_compose_skips_items_outside_window(deployment: tuple[App, Items], clock: Clock) -> None:
    app, stored = deployment
    stored.add({"alpha": 0.9}, NOW - timedelta(days=8), title="too old")
    stored.add({"alpha": 0.9}, NOW - timedelta(days=2), title="in window")
    stored.add({"alpha": 0.9}, NOW + timedelta(hours=1), title="not yet")
    sub = app.store.get_subscriber("a@example.org")
    digest = compose_digest(app.store, app.settings, sub, NOW)
    assert titles(digest) == ["in window"]
    assert digest.window_start == NOW - timedelta(days=7) and digest.window_end == NOW


def test_compose_window_starts_at_the_last_delivered_digest(
    deployment: tuple[App, Items], clock: Clock
) -> None:
    app, stored = deployment
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=3), title="before")
    send_now(app, NOW - timedelta(hours=2), [app.store.get_subscriber("a@example.org")])
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=1), title="after")
    sub = app.store.get_subscriber("a@example.org")
    digest = compose_digest(app.store, app.settings, sub, NOW)
    assert sub.last_digest_at == NOW - timedelta(hours=2)
    assert (digest.window_start, titles(digest)) == (NOW - timedelta(hours=2), ["after"])


def test_compose_ranks_by_score_then_recency(deployment: tuple[App, Items]) -> None:
    app, stored = deployment
    stored.add({"alpha": 0.6}, NOW - timedelta(hours=5), title="low")
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=4), title="high, older")
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=1), title="high, newer")
    digest = compose_digest(
        app.store, app.settings, app.store.get_subscriber("ag@example.org"), NOW
    )
    assert titles(digest) == ["high, newer", "high, older", "low"]


def test_compose_groups_by_theme_in_config_order(deployment: tuple[App, Items]) -> None:
    app, stored = deployment
    stored.add({"gamma": 0.9}, NOW - timedelta(hours=2), title="g")
    stored.add({"alpha": 0.6}, NOW - timedelta(hours=2), title="a")
    digest = compose_digest(
        app.store, app.settings, app.store.get_subscriber("ag@example.org"), NOW
    )
    # The reader listed gamma first; sections follow config.toml's order.
    assert [(s.theme, s.label) for s in digest.sections] == [("alpha", "Alpha"), ("gamma", "Gamma")]


def test_an_item_in_two_themes_appears_once_under_its_best(deployment: tuple[App, Items]) -> None:
    app, stored = deployment
    stored.add({"alpha": 0.6, "gamma": 0.8}, NOW - timedelta(hours=2), title="both")
    digest = compose_digest(
        app.store, app.settings, app.store.get_subscriber("ag@example.org"), NOW
    )
    assert [(s.theme, [e.item.title for e in s.entries]) for s in digest.sections] == [
        ("gamma", ["both"])
    ]
    assert digest.entries[0].score == 0.8


def test_a_story_from_two_sources_appears_once_naming_the_other(
    deployment: tuple[App, Items],
) -> None:
    app, stored = deployment
    first = stored.add({"alpha": 0.7}, NOW - timedelta(hours=3), title="wire report")
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=2), source="other", story_of=first)
    digest = compose_digest(app.store, app.settings, app.store.get_subscriber("a@example.org"), NOW)
    [entry] = digest.entries
    assert (entry.source_title, entry.also_reported_by) == ("Other", ("Wire",))


def test_item_limit_counts_what_was_left_out(deployment: tuple[App, Items]) -> None:
    app, stored = deployment
    for hours in range(5):
        stored.add({"alpha": 0.9}, NOW - timedelta(hours=hours + 1))
    digest = compose_digest(app.store, app.settings, app.store.get_subscriber("a@example.org"), NOW)
    assert (len(digest.entries), digest.omitted) == (3, 2)


def test_min_score_hides_weaker_items_and_theme_threshold_still_applies(
    deployment: tuple[App, Items],
) -> None:
    app, stored = deployment
    stored.add({"beta": 0.65}, NOW - timedelta(hours=1), title="weak")
    stored.add({"beta": 0.75}, NOW - timedelta(hours=1), title="strong")
    stored.add({"gamma": 0.45}, NOW - timedelta(hours=1), title="gamma at its threshold")
    stored.add({"alpha": 0.45}, NOW - timedelta(hours=1), title="alpha under its threshold")
    b = compose_digest(app.store, app.settings, app.store.get_subscriber("b@example.org"), NOW)
    ag = compose_digest(app.store, app.settings, app.store.get_subscriber("ag@example.org"), NOW)
    assert titles(b) == ["strong"]
    assert titles(ag) == ["gamma at its threshold"]


def test_compose_leaves_out_items_already_queued_for_the_reader(
    deployment: tuple[App, Items],
) -> None:
    app, stored = deployment
    stored.add({"alpha": 0.9}, NOW - timedelta(hours=2), title="sent")
    sub = app.store.get_subscriber("ag@example.org")
    send_now(app, NOW - timedelta(hours=1), [sub])
    stored.add({"alpha": 0.9}, NOW - timedelta(minutes=30), title="new")
    # Even composing the first window again (as if the window had not moved) skips it.
    digest = compose_digest(app.store, app.settings, sub, NOW)
    assert titles(digest) == ["new"]


def test_composing_many_readers_together_equals_one_at_a_time(
    deployment: tuple[App, Items],
) -> None:
    app, stored = deployment
    for n in range(12):
        scores = {"alpha": 0.5 + n / 30, "beta": 0.9 - n / 30, "gamma": 0.4 + (n % 3) / 5}
        stored.add(scores, NOW - timedelta(hours=n + 1), source=("wire", "other")[n % 2])
    readers = app.store.list_subscribers()
    together = compose_digests(app.store, app.settings, readers, NOW)
    alone = [compose_digest(app.store, app.settings, s, NOW) for s in readers]
    assert together == alone


def test_an_empty_digest_is_skipped_unless_send_empty(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    app = App.open(config, clock=clock)
    assert send_due(app, NOW).skipped_empty and not delivered(app, "a@example.org")
    app.close()
    write_deployment(tmp_path, reader("a@example.org"), digest_extra="send_empty = true")
    clock.now = NOW + timedelta(days=1)
    app = App.open(config, clock=clock)
    assert len(send_due(app, clock.now).queued) == 1
    assert delivered(app, "a@example.org") == [[]]
    app.close()


# -- the property: no repeats, no leaks, whatever the interleaving ----------------------------

READERS = (
    reader("daily@example.org", ["alpha", "beta"], extra="max_items = 2")
    + reader(
        "cron@example.org",
        ["alpha", "gamma"],
        cadence="*/45 * * * *",
        timezone="Europe/Berlin",
        extra='quiet_hours = "00:00-06:00"\n[subscribers.alerts]\nthemes = ["alpha"]\n'
        "threshold = 0.8\ndaily_cap = 2\n",
    )
    + reader(
        "repeat@example.org",
        ["beta"],
        cadence="weekly tue 09:00",
        timezone="America/New_York",
        extra='[subscribers.alerts]\nthemes = ["beta"]\nrepeat_in_digest = true\n',
    )
)
EMAILS = ("daily@example.org", "cron@example.org", "repeat@example.org")

scores = st.dictionaries(
    st.sampled_from(["alpha", "beta", "gamma"]),
    st.sampled_from([0.3, 0.5, 0.7, 0.85, 1.0]),
    min_size=1,
)
# Every ingest comes a little after the step before it, as it would in life.
ingests = st.tuples(
    st.just("ingest"),
    st.tuples(
        st.integers(min_value=1, max_value=180),
        st.lists(st.tuples(scores, st.booleans()), min_size=1, max_size=4),
    ),
)
steps = st.one_of(
    ingests,
    st.tuples(st.just("wait"), st.sampled_from([20, 45, 6 * 60, 24 * 60, 4 * 24 * 60])),
    st.tuples(st.just("send"), st.none()),
    st.tuples(st.just("force"), st.sampled_from(EMAILS)),
    st.tuples(st.just("alerts"), st.none()),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=st.lists(steps, min_size=1, max_size=14))
def test_compose_never_repeats_an_item_nor_leaks_one_from_outside_its_window(
    plan: list[tuple[str, Any]],
) -> None:
    from digest.alerts import send_alerts

    with tempfile.TemporaryDirectory() as folder:
        clock = Clock(NOW)
        app = App.open(write_deployment(Path(folder), READERS), clock=clock)
        stored = Items(app)
        try:
            for action, arg in plan:
                if action == "ingest":
                    minutes, batch = arg
                    clock.now += timedelta(minutes=minutes)
                    for item_scores, same_story in batch:
                        story = stored.count if same_story and stored.count else None
                        stored.add(item_scores, clock.now, source="other", story_of=story)
                    send_alerts(app, clock.now)
                elif action == "wait":
                    clock.now += timedelta(minutes=arg)
                elif action == "send":
                    send_due(app, clock.now)
                elif action == "force":
                    send_now(app, clock.now, [app.store.get_subscriber(arg)])
                else:
                    send_alerts(app, clock.now, held_only=True)
            check_no_repeats_and_no_leaks(app)
        finally:
            app.close()


def check_no_repeats_and_no_leaks(app: App) -> None:
    query = (
        select(
            deliveries.c.recipient,
            deliveries.c.kind,
            deliveries.c.window_start,
            deliveries.c.window_end,
            items.c.id,
            items.c.first_seen_at,
            items.c.story_id,
        )
        .join(delivery_items, delivery_items.c.delivery_id == deliveries.c.id)
        .join(items, items.c.id == delivery_items.c.item_id)
        .order_by(deliveries.c.id)
    )
    seen: dict[tuple[str, str], set[int]] = {}
    with app.store.read() as conn:
        rows = conn.execute(query).all()
    for email, kind, start, end, item_id, first_seen, _story in rows:
        assert start < first_seen <= end, (email, kind, item_id)
        # Repeats are checked per kind, and across kinds unless the reader asked for them.
        key = (email, kind if email == "repeat@example.org" else "any")
        assert item_id not in seen.setdefault(key, set()), (email, kind, item_id)
        seen[key].add(item_id)
