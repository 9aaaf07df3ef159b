"""Bring an existing database up to the schema of :mod:`pitchrec.sources.schema`.

Alembic is not a dependency; the schema changes pitchrec makes to a TalentPitch database
are few and additive, so each is a small idempotent step here:

1. create the tables that do not exist yet (:func:`~pitchrec.sources.database.create_schema`);
2. add ``activity_log.event_id`` (the archiver's idempotency key) when it is missing;
3. create its UNIQUE index ``uq_activity_log_event_id`` when it is missing.

Every step first inspects the database, so :func:`migrate` can be run at every start, and a
run interrupted between steps (MySQL DDL is not transactional) completes on the next one.
Legacy rows keep a NULL ``event_id``: a UNIQUE index admits any number of NULLs on MySQL,
MariaDB and SQLite.

On MariaDB 10.3+ and MySQL 8.0.12+ the nullable column is added in place (``INSTANT``);
the unique index is built online (``INPLACE``: reads and writes go on while it builds).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Column, Engine, Index, Table, inspect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler

from pitchrec.sources.database import create_schema
from pitchrec.sources.schema import activity_log, metadata

log = logging.getLogger(__name__)

EVENT_ID_INDEX = "uq_activity_log_event_id"


class AddColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> ADD COLUMN <column spec>`` for a column of our own metadata.

    Compiled by the dialect's DDL compiler, so the identifiers are quoted and the type is
    rendered by SQLAlchemy. Identifiers cannot be bound parameters, so DDL is always text in
    the end; here the only names in it are our own constants from ``schema.py``, never
    input.
    """

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: DDLCompiler, **_kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    return f"ALTER TABLE {table} ADD COLUMN {compiler.get_column_specification(element.column)}"


def _event_id_index() -> Index:
    return next(i for i in activity_log.indexes if i.name == EVENT_ID_INDEX)


def _add_event_id(engine: Engine) -> list[str]:
    steps: list[str] = []
    # A fresh inspector per read: inspectors cache what they have seen.
    columns = {c["name"] for c in inspect(engine).get_columns(activity_log.name)}
    if "event_id" not in columns:
        with engine.begin() as conn:
            conn.execute(AddColumn(activity_log, activity_log.c.event_id))
        steps.append("add column activity_log.event_id")
    has_index = any(
        i["name"] == EVENT_ID_INDEX or (i["unique"] and i["column_names"] == ["event_id"])
        for i in inspect(engine).get_indexes(activity_log.name)
    )
    if not has_index:
        with engine.begin() as conn:
            conn.execute(CreateIndex(_event_id_index()))
        steps.append(f"create unique index {EVENT_ID_INDEX}")
    return steps


def migrate(engine: Engine) -> list[str]:
    """Apply the missing steps to the database behind ``engine``; return what was done.

    An up-to-date database gives ``[]``.
    """
    steps: list[str] = []
    existing = set(inspect(engine).get_table_names())
    missing = [t.name for t in metadata.sorted_tables if t.name not in existing]
    if missing:
        create_schema(engine)
        steps.extend(f"create table {name}" for name in missing)
    if activity_log.name in existing:  # else it was just created, column and index included
        steps.extend(_add_event_id(engine))
    for step in steps:
        log.info("migration applied: %s", step)
    return steps
