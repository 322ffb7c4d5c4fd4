import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, inspect, text

from digest.models import Entry
from digest.store import Store
from tests.databases import ON_POSTGRES, sqlite_only

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def open_store(database_url: str) -> Store:
    store = Store.open(database_url)
    store.sync_sources([("feed", "feed", "x.xml", "Feed")], NOW)
    return store


def entry(guid: str, title: str = "Title", text: str = "Body", url: str = "") -> Entry:
    return Entry("feed", guid, url, title, f"<p>{text}</p>", text)


@sqlite_only
def test_first_open_creates_the_schema_in_wal_mode(tmp_path: Path, database_url: str) -> None:
    store = open_store(database_url)
    current, head = store.schema_status()
    store.close()
    assert current == head != ""
    with sqlite3.connect(tmp_path / "data" / "digest.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_upserting_the_same_entries_twice_stores_nothing_new(database_url: str) -> None:
    store = open_store(database_url)
    first = store.upsert_entries("feed", [entry("a"), entry("b", "Other", "Text")], NOW)
    second = store.upsert_entries("feed", [entry("a"), entry("b", "Other", "Text")], NOW)
    assert (len(first.new), len(second.new), second.unchanged) == (2, 0, 2)
    assert store.count_items() == 2


def test_changed_content_updates_the_item_and_keeps_first_seen(database_url: str) -> None:
    store = open_store(database_url)
    [item_id] = store.upsert_entries("feed", [entry("a", text="v1")], NOW).new
    later = NOW + timedelta(hours=1)
    result = store.upsert_entries("feed", [entry("a", text="v2")], later)
    [item] = store.get_items([item_id])
    assert result.updated == [item_id]
    assert (item.text, item.first_seen_at) == ("v2", NOW)


def test_an_entry_with_a_new_guid_but_known_link_is_not_duplicated(database_url: str) -> None:
    store = open_store(database_url)
    store.upsert_entries("feed", [entry("a", url="https://x.example/1")], NOW)
    result = store.upsert_entries("feed", [entry("a2", url="https://x.example/1")], NOW)
    assert result.new == [] and store.count_items() == 1


def test_an_entry_with_new_guid_and_link_but_same_content_is_not_duplicated(
    database_url: str,
) -> None:
    store = open_store(database_url)
    store.upsert_entries("feed", [entry("a", "Same", "Same text")], NOW)
    result = store.upsert_entries("feed", [entry("b", "Same", "Same  text")], NOW)
    assert result.new == [] and store.count_items() == 1


def test_lease_is_exclusive_until_it_expires(database_url: str) -> None:
    store = open_store(database_url)
    ttl = timedelta(minutes=5)
    assert store.acquire_lease("scheduler", "a", NOW, ttl)
    assert not store.acquire_lease("scheduler", "b", NOW + timedelta(minutes=1), ttl)
    assert store.acquire_lease("scheduler", "b", NOW + timedelta(minutes=6), ttl)


texts = st.text(min_size=0, max_size=200)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=texts, text=texts, published=st.none() | st.datetimes(timezones=st.just(UTC)))
def test_an_entry_survives_a_store_round_trip(
    database_url: str, title: str, text: str, published: datetime | None
) -> None:
    store = Store.open(database_url)
    try:
        store.sync_sources([("feed", "feed", "x.xml", "Feed")], NOW)
        original = Entry("feed", f"g-{title}-{text}", "", title, text, text, published)
        [item_id, *_] = store.upsert_entries("feed", [original], NOW).new or [0]
        if item_id == 0:  # same content as an earlier example: stored once already
            return
        [item] = store.get_items([item_id])
        # PostgreSQL text cannot hold NUL: the store drops it there.
        kept: Callable[[str], str] = (
            (lambda s: s.replace("\x00", "")) if ON_POSTGRES else (lambda s: s)
        )
        assert (item.title, item.text, item.summary_html) == (kept(title), kept(text), kept(text))
        assert item.published_at == published
    finally:
        store.close()


def test_an_unsubscribed_address_is_never_resubscribed_by_sync_or_cli(database_url: str) -> None:
    import pytest

    from digest.errors import SubscriptionError
    from digest.models import Subscriber

    store = open_store(database_url)
    reader = Subscriber(0, "a@example.org", "A", ("t",), "daily 07:00", "UTC")
    store.sync_subscribers([reader], NOW)
    [stored] = store.list_subscribers()
    store.set_status(stored.id, "unsubscribed", now=NOW)
    store.sync_subscribers([reader], NOW)
    with pytest.raises(SubscriptionError):
        store.add_subscriber(reader, origin="cli", now=NOW)
    with pytest.raises(SubscriptionError):
        store.set_status(stored.id, "active", now=NOW)
    assert store.get_subscriber(stored.id).status == "unsubscribed"
    assert store.set_status(stored.id, "active", now=NOW, by_owner=True).status == "active"


# -- migrations ------------------------------------------------------------------------------

BEFORE_DROP = "0002_ingestion"  # the head before deliveries.message was dropped


def _outbox_rows(conn: Connection) -> dict[str, object]:
    """Everything an upgrade must keep: row counts and every message's bytes."""
    count = "SELECT count(*) FROM {}"
    return {
        **{
            table: conn.execute(text(count.format(table))).scalar_one()
            for table in ("deliveries", "delivery_messages", "delivery_items")
        },
        "bytes": dict(
            conn.execute(
                text("SELECT delivery_id, message FROM delivery_messages ORDER BY delivery_id")
            ).all()
        ),
        "statuses": dict(conn.execute(text("SELECT id, status FROM deliveries")).all()),
    }


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def test_dropping_deliveries_message_keeps_every_queued_message(empty_database_url: str) -> None:
    from alembic import command

    from digest.store import dialects

    store = Store.open(empty_database_url, upgrade=False)
    t = {"t": NOW.replace(tzinfo=None)}
    with store.engine.begin() as conn:
        command.upgrade(store._alembic(conn), BEFORE_DROP)
        # Rows as that revision knew them: raw SQL, not today's table definitions.
        conn.execute(
            text(
                "INSERT INTO sources (id, kind, location, title, status, error_count, in_config,"
                " created_at) VALUES ('feed', 'feed', 'x.xml', 'Feed', 'active', 0, true, :t)"
            ),
            t,
        )
        for item in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO items (id, source_id, guid, url, title, summary_html, text,"
                    " author, first_seen_at, updated_at, content_hash) VALUES"
                    " (:id, 'feed', :guid, '', 'T', '', '', '', :t, :t, :hash)"
                ),
                {**t, "id": item, "guid": f"g{item}", "hash": f"h{item}"},
            )
        _insert_subscriber(conn)
        for delivery, status in ((1, "queued"), (2, "queued"), (3, "sent"), (4, "failed")):
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, key, kind, subscriber_id, window_start,"
                    " window_end, recipient, subject, message_id, message, status, attempts,"
                    " queued_at) VALUES (:id, :key, 'digest', 1, :t, :t, 'a@example.org', 's',"
                    " :mid, :empty, :status, 0, :t)"
                ),
                {
                    **t,
                    "id": delivery,
                    "key": f"digest:1:{delivery}",
                    "mid": f"<{delivery}@x>",
                    "empty": b"",
                    "status": status,
                },
            )
            # 60 KB of every byte value, different per message.
            body = bytes((delivery + i) % 256 for i in range(60_000))
            conn.execute(
                text("INSERT INTO delivery_messages (delivery_id, message) VALUES (:id, :m)"),
                {"id": delivery, "m": b"From: x\r\n\r\n" + body},
            )
            conn.execute(
                text(
                    "INSERT INTO delivery_items (delivery_id, item_id, subscriber_id) VALUES"
                    " (:id, :item, 1)"
                ),
                {"id": delivery, "item": 1 + delivery % 2},
            )
        before = _outbox_rows(conn)
    assert before["deliveries"] == before["delivery_messages"] == before["delivery_items"] == 4

    store.upgrade()  # as on first use: foreign keys off on SQLite, checked afterwards
    current, head = store.schema_status()
    with store.engine.connect() as conn:
        after = _outbox_rows(conn)
        columns = _columns(conn, "deliveries")
    assert current == head != BEFORE_DROP
    assert after == before
    assert "message" not in columns and {"sending_at", "interrupted"} <= columns
    queued = store.due_messages(NOW)
    assert [(m.id, m.message) for m in queued] == [(i, before["bytes"][i]) for i in (1, 2)]  # type: ignore[index]

    # And back: the column returns, empty, and still nothing is lost.
    with store.engine.connect() as conn, dialects.migrating(conn), conn.begin():
        command.downgrade(store._alembic(conn), BEFORE_DROP)
    with store.engine.connect() as conn:
        assert _outbox_rows(conn) == before
        assert "message" in _columns(conn, "deliveries")
        assert set(conn.execute(text("SELECT message FROM deliveries")).scalars()) == {b""}
    store.close()


def test_migration_0004_moves_queued_bytes_to_their_own_table(empty_database_url: str) -> None:
    from alembic import command

    store = Store.open(empty_database_url, upgrade=False)
    with store.engine.begin() as conn:
        command.upgrade(store._alembic(conn), "0001")
        # Rows as revision 0001 knew them: raw SQL, not today's table definitions.
        _insert_subscriber(conn)
        conn.execute(
            text(
                "INSERT INTO deliveries (id, key, kind, subscriber_id, window_start, window_end,"
                " recipient, subject, message_id, message, status, attempts, queued_at) VALUES"
                " (1, 'digest:1:x', 'digest', 1, :t, :t, 'a@example.org', 's', '<m@x>', :m,"
                " 'queued', 0, :t)"
            ),
            {"t": NOW.replace(tzinfo=None), "m": b"From: x\r\n\r\nbody\r\n"},
        )
    store.upgrade()
    (message,) = store.due_messages(NOW)
    assert message.message == b"From: x\r\n\r\nbody\r\n" and message.interrupted == 0
    current, head = store.schema_status()
    assert current == head


def _insert_subscriber(conn: Connection) -> None:
    """Subscriber 1 as every revision since 0001 stores it: raw SQL, not today's tables."""
    conn.execute(
        text(
            "INSERT INTO subscribers (id, email, name, themes, cadence, timezone, max_items,"
            " min_score, alert_themes, alert_threshold, alert_daily_cap, status, origin,"
            " created_at, updated_at) VALUES (1, 'a@example.org', '', '[]', 'daily 07:00',"
            " 'UTC', 30, 0.0, '[]', 0.8, 5, 'active', 'cli', :t, :t)"
        ),
        {"t": NOW.replace(tzinfo=None)},
    )
