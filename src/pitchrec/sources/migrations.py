"""Bring an existing database up to the schema of :mod:`pitchrec.sources.schema`.

Alembic is not a dependency; the schema changes pitchrec makes to a TalentPitch database
are few and additive, so each is a small idempotent step here:

1. create the tables that do not exist yet (:func:`~pitchrec.sources.database.create_schema`);
2. add ``activity_log.event_id`` (the archiver's idempotency key) when it is missing;
3. on MySQL/MariaDB, make an existing ``event_id`` compare bytes (``utf8mb4_bin``) when it
   does not: under a case-insensitive collation its UNIQUE index takes ``evtAbc`` and
   ``evtabc`` for one event and the archiver's ``INSERT IGNORE`` drops the second. The
   conversion is done only online (``ALGORITHM=INPLACE, LOCK=NONE``, which MariaDB 10.3+
   grants); where the server would copy the table under a lock, or the account may not
   ALTER, :func:`migrate` raises :class:`~pitchrec.errors.DataSourceError` naming the
   statement to run instead;
4. create its UNIQUE index ``uq_activity_log_event_id`` unless a UNIQUE index on exactly
   the whole ``event_id`` exists. An index that would break exactly-once (our name on a
   non-unique or composite index, a prefix index, a case-insensitive SQLite index) is
   refused the same way, with the statements that fix it: dropping an index someone made
   is the operator's decision.

Every step first inspects the database, so :func:`migrate` can be run at every start, and a
run interrupted between steps (MySQL DDL is not transactional) completes on the next one.
Legacy rows keep a NULL ``event_id``: a UNIQUE index admits any number of NULLs on MySQL,
MariaDB and SQLite.

On MariaDB 10.3+ and MySQL 8.0.12+ the nullable column is added in place (``INSTANT``);
the unique index is built online (``INPLACE``: reads and writes go on while it builds).

The steps are here; the ``ALTER TABLE`` elements they run are in
:mod:`~pitchrec.sources.alter_table`, and what they read of the live column and indexes
in :mod:`~pitchrec.sources.event_id_shape`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Column, Engine, Index, MetaData, Table, inspect
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, ExecutableDDLElement

from pitchrec.errors import DataSourceError
from pitchrec.sources.alter_table import AddColumn, ModifyColumn
from pitchrec.sources.database import create_schema
from pitchrec.sources.event_id_shape import (
    EVENT_ID_LENGTH,
    IndexShape,
    activity_log_indexes,
    is_mysql,
    mysql_event_id_column,
)
from pitchrec.sources.schema import activity_log, metadata

log = logging.getLogger(__name__)

EVENT_ID_INDEX = "uq_activity_log_event_id"

#: Public names (AddColumn and ModifyColumn live in alter_table, re-exported).
__all__ = ["EVENT_ID_INDEX", "AddColumn", "ModifyColumn", "migrate"]

#: MySQL/MariaDB errors that mean "not online" or "not allowed", not "unreachable":
#: 1845/1846 ALGORITHM/LOCK not supported (the change needs a locking table copy),
#: 1142 command denied (the archiver's account has no ALTER).
_NOT_ONLINE = {1845, 1846}
_DENIED = {1142, 1143}


def _error_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _statement(engine: Engine, ddl: ExecutableDDLElement) -> str:
    return str(ddl.compile(dialect=engine.dialect))


def _event_id_of_length(length: int) -> Column[Any]:
    """``activity_log.event_id`` as schema.py declares it, but ``length`` characters long
    when that is longer (a MODIFY must not cut the ids already archived)."""
    if length <= EVENT_ID_LENGTH:
        return activity_log.c.event_id
    longer = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin")
    return Table(activity_log.name, MetaData(), Column("event_id", longer, nullable=True)).c[
        "event_id"
    ]


def _make_event_id_binary(engine: Engine) -> list[str]:
    """Convert a MySQL ``event_id`` of another collation (or shorter) to ``utf8mb4_bin``,
    online.

    Converting from a case-insensitive collation cannot fail on duplicates (ids distinct
    under the old collation are distinct bytes). MariaDB 10.3+ rebuilds only the index,
    online; where the server would copy the table under a lock (MySQL, another charset,
    another length) it refuses the ``LOCK=NONE`` request, and so does this function:
    with a :class:`DataSourceError` that names the statement to run in a maintenance
    window. Events archived before the conversion cannot be recovered: an id that
    collided was dropped as a duplicate.
    """
    current = mysql_event_id_column(engine)
    if current.sound:
        return []
    target = _event_id_of_length(current.length or 0)
    manual = _statement(engine, ModifyColumn(activity_log, target))
    problem = (
        f"activity_log.event_id is {current.describe()}, where pitchrec.sources.schema "
        "declares VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin: under a "
        "case-insensitive collation its UNIQUE index takes ids that differ in case or "
        "accents (evtAbc, evtabc) for one event, and the archiver would drop the second as "
        "a duplicate; a shorter column cuts or refuses long ids."
    )
    todo = f"Stop the archivers, run `{manual};` and start them again (deploy/README.md)."
    if current.data_type != "varchar":
        raise DataSourceError(f"{problem} {todo}")  # another type: the operator decides
    try:
        with engine.begin() as conn:
            conn.execute(ModifyColumn(activity_log, target, online=True))
    except DBAPIError as exc:
        code = _error_code(exc)
        if code in _NOT_ONLINE:
            why = "the server cannot convert it online (it would copy the table under a lock)"
        elif code in _DENIED:
            why = "this account may not ALTER activity_log"
        else:
            raise  # unreachable server, lock wait timeout: retried by the caller
        raise DataSourceError(f"{problem} Not converted: {why}. {todo}") from exc
    return ["convert activity_log.event_id to utf8mb4_bin"]


def _check_indexes(engine: Engine, shapes: list[IndexShape]) -> None:
    """Refuse an index on ``event_id`` that breaks exactly-once (see :class:`IndexShape`)."""
    for shape in shapes:
        ours = shape.name == EVENT_ID_INDEX
        if shape.merges_ids or (ours and not shape.keys_event_id):
            name = engine.dialect.identifier_preparer.quote(shape.name)
            create = _statement(engine, CreateIndex(_event_id_index()))
            drop = f"DROP INDEX {name}" + (" ON activity_log" if is_mysql(engine) else "")
            refill = "" if not ours else f"; {create}"
            raise DataSourceError(
                f"index {shape.name} on activity_log {shape.flaw()}: the archive would not be "
                "exactly once (distinct event ids collide, or repeats are not refused). Stop "
                f"the archivers, run `{drop}{refill};` and start them again."
            )


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
    if is_mysql(engine):
        steps.extend(_make_event_id_binary(engine))
    shapes = activity_log_indexes(engine)
    _check_indexes(engine, shapes)
    if not any(shape.keys_event_id for shape in shapes):
        with engine.begin() as conn:
            conn.execute(CreateIndex(_event_id_index()))
        steps.append(f"create unique index {EVENT_ID_INDEX}")
        # SQLite: an index inherits a NOCASE column's collation; check what was made.
        if not any(shape.keys_event_id for shape in activity_log_indexes(engine)):
            raise DataSourceError(
                f"{EVENT_ID_INDEX} was created but does not compare event_id byte by byte "
                "(the column has a case-insensitive collation): recreate activity_log.event_id "
                "as pitchrec.sources.schema declares it"
            )
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
