"""Subscribers: config sync, the owner's rights, schedule changes, and the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine

from digest.app import App
from digest.cli import cli
from digest.models import Subscriber
from digest.schedule import send_now
from digest.store import Store
from tests.conftest import NOW, Clock
from tests.scenario import Items, at, reader, write_deployment


def run(config: Path, *args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input)


def reopen(config: Path, clock: Clock) -> App:
    """Open the app again, as every command and every start does (syncing config.toml)."""
    app = App.open(config, clock=clock)
    app.close()
    return App.open(config, clock=clock, sync=False)


def test_sync_never_resubscribes_an_unsubscribed_address(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    app = App.open(config, clock=clock)
    sub = app.store.get_subscriber("a@example.org")
    app.store.set_status(sub.id, "unsubscribed", now=NOW)
    app.close()
    # Even with changed settings in config.toml, the address stays unsubscribed.
    write_deployment(tmp_path, reader("a@example.org", ["beta"], cadence="daily 09:00"))
    app = reopen(config, clock)
    after = app.store.get_subscriber("a@example.org")
    app.close()
    assert (after.status, after.themes, after.cadence) == (
        "unsubscribed",
        ("alpha",),
        "daily 07:00",
    )


def test_sync_adds_and_updates_config_subscribers(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    App.open(config, clock=clock).close()
    write_deployment(
        tmp_path,
        reader("a@example.org", ["alpha", "beta"], timezone="Asia/Seoul") + reader("b@example.org"),
    )
    app = reopen(config, clock)
    found = {s.email: s for s in app.store.list_subscribers()}
    app.close()
    assert found["a@example.org"].themes == ("alpha", "beta")
    assert found["a@example.org"].timezone == "Asia/Seoul"
    assert found["b@example.org"].status == "active" and found["b@example.org"].origin == "config"


def test_sync_keeps_a_readers_own_preference_center_changes(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    app = App.open(config, clock=clock)
    sub = app.store.get_subscriber("a@example.org")
    mine = Subscriber(0, sub.email, "Me", ("gamma",), "weekly fri 08:00", "Europe/Paris")
    app.store.update_subscriber(sub.id, mine, now=NOW, origin="web")
    app.close()
    app = reopen(config, clock)
    after = app.store.get_subscriber("a@example.org")
    app.close()
    assert (after.themes, after.cadence, after.origin) == (("gamma",), "weekly fri 08:00", "web")


def test_sync_pauses_subscribers_that_left_config_and_resumes_them_on_return(
    tmp_path: Path, clock: Clock
) -> None:
    config = write_deployment(tmp_path, reader("a@example.org") + reader("b@example.org"))
    App.open(config, clock=clock).close()
    write_deployment(tmp_path, reader("b@example.org"))
    app = reopen(config, clock)
    left = app.store.get_subscriber("a@example.org").status
    app.close()
    write_deployment(tmp_path, reader("a@example.org") + reader("b@example.org"))
    app = reopen(config, clock)
    back = app.store.get_subscriber("a@example.org").status
    app.close()
    assert (left, back) == ("paused", "active")


def test_sync_does_not_resume_a_subscriber_the_operator_paused(
    tmp_path: Path, clock: Clock
) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    app = App.open(config, clock=clock)
    app.store.set_status(app.store.get_subscriber("a@example.org").id, "paused", now=NOW)
    app.close()
    app = reopen(config, clock)
    status = app.store.get_subscriber("a@example.org").status
    app.close()
    assert status == "paused"


def test_a_new_cadence_moves_a_future_slot_but_keeps_a_due_one(
    tmp_path: Path, clock: Clock
) -> None:
    config = write_deployment(tmp_path, reader("a@example.org") + reader("b@example.org"))
    app = App.open(config, clock=clock)
    a, b = app.store.get_subscriber("a@example.org"), app.store.get_subscriber("b@example.org")
    app.store.advance_digest(a.id, a.next_digest_at, at("2026-11-23T07:00"))
    weekly = "weekly wed 09:30"
    moved = app.store.update_subscriber(a.id, _with(a, cadence=weekly), now=NOW)
    still_due = app.store.update_subscriber(b.id, _with(b, cadence=weekly), now=NOW)
    app.close()
    assert moved.next_digest_at == at("2026-11-25T09:30")
    assert still_due.next_digest_at == NOW


def test_resuming_starts_from_the_next_slot_not_a_catch_up(tmp_path: Path, clock: Clock) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    app = App.open(config, clock=clock)
    sub = app.store.get_subscriber("a@example.org")
    Items(app).add({"alpha": 0.9}, NOW - timedelta(hours=1))
    send_now(app, NOW, [sub])  # a first digest was delivered
    app.store.set_status(sub.id, "paused", now=NOW)
    resumed = app.store.set_status(sub.id, "active", now=NOW + timedelta(days=10))
    app.close()
    assert resumed.next_digest_at == at("2026-12-03T07:00")
    assert resumed.alerts_checked_at == NOW + timedelta(days=10)


def _with(sub: Subscriber, **changes: object) -> Subscriber:
    from dataclasses import replace

    return replace(sub, **changes)  # type: ignore[arg-type]


def test_upgrading_an_older_database_schedules_existing_readers(empty_database_url: str) -> None:
    url = empty_database_url
    store = Store.open(url, upgrade=False)
    with store.engine.begin() as conn:
        command.upgrade(store._alembic(conn), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        # The row as version 0001 wrote it (SQLite keeps UTC times without a zone).
        conn.exec_driver_sql(
            "INSERT INTO subscribers (email, name, themes, cadence, timezone, max_items, "
            "min_score, alert_themes, alert_threshold, alert_daily_cap, status, origin, "
            "last_digest_at, created_at, updated_at) VALUES ('a@example.org', '', '[\"alpha\"]', "
            "'daily 07:00', 'Asia/Seoul', 30, 0.0, '[]', 0.8, 5, 'active', 'config', "
            "'2026-11-21 22:00:00.000000', '2026-11-22 12:00:00.000000', "
            "'2026-11-22 12:00:00.000000')"
        )
    engine.dispose()
    store.upgrade()
    sub = store.get_subscriber("a@example.org")
    store.close()
    assert sub.next_digest_at == at("2026-11-22T22:00")  # 07:00 in Seoul


# -- the CLI -------------------------------------------------------------------------------


def test_subscribers_add_list_show_pause_resume_remove(tmp_path: Path) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    added = run(
        config,
        "subscribers",
        "add",
        "New@Example.org",
        "--themes",
        "alpha,beta",
        "--cadence",
        "weekly mon 08:30",
        "--timezone",
        "Europe/Paris",
        "--quiet-hours",
        "22:00-07:00",
        "--alert-themes",
        "alpha",
        "--name",
        "New",
    )
    assert added.exit_code == 0, added.output
    assert "Subscribed New@example.org" in added.output
    listed = run(config, "subscribers", "list", "--json")
    assert [s["email"] for s in __import__("json").loads(listed.output)] == [
        "a@example.org",
        "New@example.org",
    ]
    shown = run(config, "subscribers", "show", "new@example.org").output
    assert "weekly mon 08:30" in shown and "22:00-07:00" in shown and "the CLI" in shown
    assert "Paused" in run(config, "subscribers", "pause", "New").output
    assert "Resumed" in run(config, "subscribers", "resume", "new@example.org").output
    removed = run(config, "subscribers", "remove", "new@example.org", input="y\n")
    assert removed.exit_code == 0 and "Unsubscribed New@example.org." in removed.output
    again = run(config, "subscribers", "add", "new@example.org", "--themes", "alpha")
    assert again.exit_code == 1
    assert again.output.startswith("Error: new@example.org unsubscribed and cannot be")


def test_subscribers_add_reports_every_bad_option_on_one_line(tmp_path: Path) -> None:
    config = write_deployment(tmp_path)
    result = run(
        config,
        "subscribers",
        "add",
        "not-an-address",
        "--themes",
        "alpha,delta",
        "--timezone",
        "Mars/Olympus",
        "--cadence",
        "hourly",
        "--max-items",
        "0",
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    first, hint = result.output.splitlines()
    assert first.startswith('Error: EMAIL: "not-an-address" is not an email address')
    for part in (
        '--cadence: "hourly" is not a cadence',
        '--timezone: "Mars/Olympus" is not an IANA time zone',
        "--max-items: 0 is invalid; expected greater than or equal to 1",
        '--themes: "delta" is not a theme; expected one of alpha, beta, gamma',
    ):
        assert part in first
    assert hint == "Hint: 'digest subscribers add --help' lists the options."


def test_subscribers_update_changes_only_what_is_given(tmp_path: Path) -> None:
    config = write_deployment(tmp_path)
    run(config, "subscribers", "add", "b@example.org", "--themes", "beta", "--max-items", "7")
    result = run(config, "subscribers", "update", "b@example.org", "--cadence", "daily 06:15")
    assert result.exit_code == 0, result.output
    shown = run(config, "subscribers", "show", "b@example.org").output
    assert "daily 06:15" in shown and "beta" in shown and " 7 " in shown


def test_subscribers_update_refuses_a_config_subscriber(tmp_path: Path) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    result = run(config, "subscribers", "update", "a@example.org", "--max-items", "3")
    assert result.exit_code == 1
    assert "is defined in config.toml" in result.output
    assert "Hint: Edit their [[subscribers]] entry in config.toml instead." in result.output


def test_subscribers_resume_cannot_undo_an_unsubscribe(tmp_path: Path) -> None:
    config = write_deployment(tmp_path, reader("a@example.org"))
    run(config, "subscribers", "remove", "a@example.org", "--yes")
    result = run(config, "subscribers", "resume", "a@example.org")
    assert result.exit_code == 1
    assert result.output.startswith("Error: a@example.org unsubscribed; only its owner")
