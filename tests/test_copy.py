"""`digest db copy`: a deployment's database moved to another (SQLite to PostgreSQL in CI)."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from digest.cli import cli
from digest.store import Store
from digest.store.schema import metadata


def run(*args: str, config: Path | None = None) -> click.testing.Result:
    head = ["--config", str(config)] if config else []
    return CliRunner().invoke(cli, [*head, *args])


def counts(url: str) -> dict[str, int]:
    store = Store.open(url, upgrade=False)
    try:
        with store.read() as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                for t in metadata.sorted_tables
            }
    finally:
        store.close()


@pytest.fixture
def filled_sqlite(sample_config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sample deployment after one full cycle, on its own SQLite file."""
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)
    assert run("run", "--once", config=sample_config).exit_code == 0
    return f"sqlite:///{sample_config.parent / 'data' / 'digest.db'}"


def test_copy_moves_every_row_and_the_copy_keeps_working(
    filled_sqlite: str,
    empty_database_url: str,
    sample_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = run("db", "copy", filled_sqlite, empty_database_url)
    assert result.exit_code == 0, result.output
    before = counts(filled_sqlite)
    assert counts(empty_database_url) == before and before["deliveries"] > 0
    monkeypatch.setenv("DIGEST_DATABASE_URL", empty_database_url)
    assert run("send", config=sample_config).exit_code == 0
    assert counts(empty_database_url)["deliveries"] == before["deliveries"]  # none sent twice
    added = run(
        "subscribers", "add", "new@example.org", "--themes", "missile_tests", config=sample_config
    )
    assert added.exit_code == 0, added.output  # the id sequence continues after the copied ids
    assert counts(empty_database_url)["subscribers"] == before["subscribers"] + 1


def test_copy_refuses_a_destination_that_has_rows(filled_sqlite: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run("db", "copy", filled_sqlite, other).exit_code == 0
    result = run("db", "copy", filled_sqlite, other)
    assert result.exit_code == 1
    assert "already has rows in: sources" in result.output and "Traceback" not in result.output


def test_copy_from_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexist.db"
    result = run("db", "copy", f"sqlite:///{missing}", f"sqlite:///{tmp_path / 'copy.db'}")
    assert result.exit_code == 1
    assert f"There is no database file at {missing}" in result.output
    assert not missing.exists() and not (tmp_path / "copy.db").exists()
