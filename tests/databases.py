"""One switch for the database every test uses: SQLite files, or PostgreSQL when
DIGEST_TEST_DATABASE_URL names a server.

On PostgreSQL each test gets a database of its own, copied from a template that the
migrations built once per session (a file copy: milliseconds), and dropped afterwards.
DIGEST_DATABASE_URL points every config.toml the test writes at that database.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from digest.store import Store

SERVER_URL = os.environ.get("DIGEST_TEST_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith("postgresql")

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="checks a SQLite file or pragma")


class Databases:
    """Creates and drops per-test databases on one PostgreSQL server."""

    def __init__(self, server: str) -> None:
        self.base: URL = make_url(server)
        self.admin: Engine = create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.prefix = f"digest_test_{os.getpid()}"
        self.counter = itertools.count()
        self.template = f"{self.prefix}_template"
        self._create(self.template, "template0")
        store = Store.open(self.url(self.template))
        store.close()

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'))

    def fresh(self, *, migrated: bool = True) -> str:
        """A new database: migrated like the template, or empty."""
        name = f"{self.prefix}_{next(self.counter)}"
        self._create(name, self.template if migrated else "template0")
        return name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop(self.template)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases | None]:
    if not ON_POSTGRES:
        yield None
        return
    databases = Databases(SERVER_URL)
    yield databases
    databases.close()


@pytest.fixture(autouse=True)
def database_url(
    postgres_databases: Databases | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """This test's database URL; on PostgreSQL every config.toml is pointed at it too."""
    if postgres_databases is None:
        yield f"sqlite:///{tmp_path / 'data' / 'digest.db'}"
        return
    name = postgres_databases.fresh()
    url = postgres_databases.url(name)
    monkeypatch.setenv("DIGEST_DATABASE_URL", url)
    yield url
    postgres_databases.drop(name)


@pytest.fixture
def empty_database_url(postgres_databases: Databases | None, tmp_path: Path) -> Iterator[str]:
    """A database without any schema, for migration tests."""
    if postgres_databases is None:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = postgres_databases.fresh(migrated=False)
    yield postgres_databases.url(name)
    postgres_databases.drop(name)
