"""Copy every row of one database into another: how a SQLite deployment moves to PostgreSQL.

Both ends are brought to the same schema revision first; the destination must hold no
rows yet, so a copy never merges two histories. Tables go parents first, in batches, in one
transaction on the destination, so a failed copy leaves it empty. On PostgreSQL the id
sequences then continue after the copied ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError
from digest.store import Store, dialects
from digest.store.schema import metadata

BATCH = 2000


@dataclass(slots=True)
class CopyResult:
    rows: dict[str, int] = field(default_factory=dict)


def copy_database(source: Store, destination: Store) -> CopyResult:
    """Copy every table of `source` into the empty, migrated `destination`."""
    current, head = source.schema_status()
    if current != head:
        raise StoreError(
            f"The source database is at revision {current or 'none'}, not {head}.",
            hint="Run 'digest db upgrade' against it first, or let digest open it once.",
        )
    destination.upgrade()
    result = CopyResult()
    tables = metadata.sorted_tables
    with destination.read() as conn:
        filled = [
            t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar()
        ]
    if filled:
        raise StoreError(
            f"The destination database already has rows in: {', '.join(filled)}.",
            hint="Copy into a new, empty database.",
        )
    try:
        with destination.write() as out, source.read() as src:
            for table in tables:
                copied = 0
                rows = src.execution_options(yield_per=BATCH).execute(select(table))
                for batch in rows.partitions(BATCH):
                    out.execute(table.insert(), [dict(row._mapping) for row in batch])
                    copied += len(batch)
                result.rows[table.name] = copied
            if destination.dialect == "postgresql":
                for table in tables:
                    if "id" in table.c and table.c.id.autoincrement is True:
                        _continue_sequence(out, table.name)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"Copying into '{dialects.redact(str(destination.engine.url))}' failed: {exc}",
            hint="Nothing was kept in the destination; fix the cause and copy again.",
        ) from None
    return result


def _continue_sequence(conn: Connection, table: str) -> None:
    sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
    if sequence is not None:
        conn.execute(
            text(f"SELECT setval(:s, COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"),
            {"s": sequence},
        )
