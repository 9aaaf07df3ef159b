"""Bulk insert of the generated columns: one transaction per table, executemany in chunks
of bound parameters (SQLAlchemy Core ``insert()``; PyMySQL turns each chunk into
multi-row INSERT statements, sqlite3 into one prepared statement)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from pitchrec.errors import DataSourceError
from pitchrec.lab.world.generate import TableRows
from pitchrec.progress import Advance, Reporter
from pitchrec.sources import schema

CHUNK_ROWS = 10_000


def ensure_empty(engine: Engine) -> None:
    """Refuse to seed a database whose ``users`` or ``resumes`` table holds rows."""
    with engine.connect() as conn:
        for table in (schema.users, schema.resumes):
            rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if rows:
                raise DataSourceError(
                    f"refusing to generate a synthetic world: table {table.name!r} already "
                    f"holds {rows} rows; use an empty database"
                )


def _insert(conn: Connection, table_name: str, rows: TableRows, advance: Advance) -> None:
    table = schema.metadata.tables[table_name]
    for lo in range(0, rows.n, CHUNK_ROWS):
        columns = rows.chunk(lo, min(lo + CHUNK_ROWS, rows.n))
        names = list(columns)
        unknown = set(names) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table_name}: columns {sorted(unknown)} are not in the schema")
        values = zip(*(columns[name] for name in names), strict=True)
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in values])
        advance(len(columns[names[0]]))


def write_tables(engine: Engine, tables: dict[str, TableRows], reporter: Reporter) -> None:
    """Insert every table, one transaction per table, reporting one stage per table."""
    for name, rows in tables.items():
        with reporter.stage(name, rows.n) as advance, engine.begin() as conn:
            _insert(conn, name, rows, advance)
