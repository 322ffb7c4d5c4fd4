"""The connection and transaction plumbing every part of the store shares."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import OperationalError

from digest.errors import StoreError
from digest.store import dialects


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time; serialising writes in-process avoids busy errors.
        self._write_lock = threading.RLock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Table) -> Any:
        """An INSERT with this dialect's ON CONFLICT support."""
        return dialects.insert(self.dialect, table)

    @contextmanager
    def write(self, *, exclusive: bool = False) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed on success.

        `exclusive` also keeps every other exclusive writer out until it ends, on
        PostgreSQL too: for read-then-write work that processes may start at once (config
        syncs, re-tagging), which SQLite's single writer serialises anyway.
        """
        with self._write_lock:
            try:
                with self.engine.begin() as conn:
                    if exclusive:
                        dialects.exclusive(conn)
                    yield conn
            except OperationalError as exc:
                raise StoreError(f"The database refused a write: {exc.orig}") from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction; on SQLite it takes no write lock."""
        with self.engine.connect() as conn:
            conn.info["readonly"] = True
            try:
                yield conn
            finally:
                conn.info.pop("readonly", None)

    def ensure_table(self, table: Table) -> None:
        """Create a table that lives outside the migrations (APScheduler's), once."""
        with self.write(exclusive=True) as conn:  # two schedulers may start at once
            table.create(conn, checkfirst=True)
