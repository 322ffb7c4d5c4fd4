"""The store: every SQL statement digest runs lives in this package.

`Store.open(url)` connects, upgrades the schema with the packaged Alembic migrations on
first use, and returns one object shared by the CLI, the scheduler and the web app.
Methods are grouped by capability in the mixin modules beside this one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from digest.errors import StoreError
from digest.store import dialects
from digest.store.base import StoreBase
from digest.store.claims import ClaimsMixin
from digest.store.items import ItemsMixin
from digest.store.leases import LeasesMixin
from digest.store.outbox import OutboxMixin
from digest.store.sources import SourcesMixin
from digest.store.subscribers import SubscribersMixin
from digest.store.web import WebMixin

MIGRATIONS = Path(__file__).parent / "migrations"


class Store(
    SourcesMixin,
    ItemsMixin,
    SubscribersMixin,
    OutboxMixin,
    ClaimsMixin,
    LeasesMixin,
    WebMixin,
    StoreBase,
):
    """All persistent state, behind methods named for what they do."""

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to `url` and, unless told not to, bring its schema up to date."""
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(url, **dialects.engine_options(url))
        except (ArgumentError, ImportError) as exc:
            raise StoreError(
                f"Cannot use database '{dialects.redact(url)}': {exc}",
                hint="Check [digest] database in config.toml.",
            ) from None
        dialects.configure(engine)
        store = cls(engine)
        if upgrade:
            store.upgrade()
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------

    def _alembic(self, conn: Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    def schema_status(self) -> tuple[str | None, str]:
        """The database's schema revision and the newest one this version ships."""
        with self.read() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            head = ScriptDirectory.from_config(self._alembic(conn)).get_current_head()
        return current, head or ""

    def upgrade(self) -> None:
        """Apply every migration the database has not had yet."""
        try:
            current, head = self.schema_status()
            if current == head:
                return
            with self._write_lock, self.engine.connect() as conn, dialects.migrating(conn):
                with conn.begin():
                    dialects.exclusive(conn)  # two processes starting on a new database
                    if MigrationContext.configure(conn).get_current_revision() != head:
                        command.upgrade(self._alembic(conn), "head")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot open the database '{dialects.redact(str(self.engine.url))}': {exc}",
                hint="Check [digest] database in config.toml and that the folder is writable.",
            ) from None


__all__ = ["Store"]
