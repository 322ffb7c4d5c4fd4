"""What differs between SQLite and PostgreSQL: connection setup and upserts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from digest.errors import StoreError


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def configure(engine: Engine) -> None:
    """WAL mode, foreign keys and BEGIN IMMEDIATE on SQLite; NUL-free text on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (the documented
        # pysqlite recipe), so that every transaction can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if not conn.info.get("readonly") else "BEGIN")


def _without_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> tuple[str, Any]:
    """Drop NUL characters from text parameters: PostgreSQL text cannot hold them, and one
    in a hostile feed must not stop its ingest (SQLite would have kept it)."""
    if isinstance(parameters, dict):
        return statement, _clean(parameters)
    if isinstance(parameters, list | tuple) and parameters and isinstance(parameters[0], dict):
        return statement, [_clean(p) for p in parameters]
    return statement, parameters


def _clean(parameters: dict[str, Any]) -> dict[str, Any]:
    if not any(isinstance(v, str) and "\x00" in v for v in parameters.values()):
        return parameters
    return {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in parameters.items()}


@contextmanager
def migrating(conn: Connection) -> Iterator[None]:
    """Foreign keys off while migrations run on SQLite, checked when they are done.

    SQLite's batch migrations copy a table, drop the old one and rename the copy; with
    foreign keys on, the drop would cascade into every table that references it (outbox
    messages included). The pragma only takes effect outside a transaction.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(f"A migration left rows with broken references: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def insert(engine_or_name: str, table: Table) -> Any:
    """An INSERT that supports on_conflict_do_update/do_nothing on this dialect."""
    if engine_or_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# The PostgreSQL advisory lock that exclusive write transactions hold (any fixed number).
EXCLUSIVE_LOCK = 0x6469_6765


def exclusive(conn: Connection) -> None:
    """Wait for, then hold until commit, the lock of exclusive writers (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EXCLUSIVE_LOCK})")


def skip_locked(dialect: str, query: Select[Any]) -> Select[Any]:
    """Lock the selected rows, skipping rows another transaction holds (PostgreSQL).

    SQLite has one writer at a time (BEGIN IMMEDIATE), so it needs no row locks.
    """
    if dialect == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def redact(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown as typed
        return url
