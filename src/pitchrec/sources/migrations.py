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
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Engine,
    Index,
    MetaData,
    Table,
    column,
    func,
    inspect,
    select,
    table,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateIndex, ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler

from pitchrec.errors import DataSourceError
from pitchrec.sources.database import create_schema
from pitchrec.sources.schema import EventId, activity_log, metadata

log = logging.getLogger(__name__)

EVENT_ID_INDEX = "uq_activity_log_event_id"
_EVENT_ID_LENGTH = EventId.length or 64


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


class ModifyColumn(ExecutableDDLElement):
    """``ALTER TABLE <table> MODIFY <column spec>`` (MySQL/MariaDB), for a column of our own
    metadata; ``online`` appends ``ALGORITHM=INPLACE, LOCK=NONE``, so the server refuses
    (error 1846) instead of copying the table under a lock."""

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any], *, online: bool = False) -> None:
        self.table = table
        self.column = column
        self.online = online


@compiles(ModifyColumn)
def _compile_modify_column(element: ModifyColumn, compiler: DDLCompiler, **_kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    spec = compiler.get_column_specification(element.column)
    if element.column.nullable and not spec.endswith(" NULL"):
        spec += " NULL"  # MODIFY restates the whole column
    online = ", ALGORITHM=INPLACE, LOCK=NONE" if element.online else ""
    return f"ALTER TABLE {table} MODIFY {spec}{online}"


#: information_schema, read through SQLAlchemy Core: every value is a bound parameter.
_IS_COLUMNS = table(
    "COLUMNS",
    column("table_schema"),
    column("table_name"),
    column("column_name"),
    column("data_type"),
    column("character_maximum_length"),
    column("character_set_name"),
    column("collation_name"),
    schema="information_schema",
)
_IS_STATISTICS = table(
    "STATISTICS",
    column("table_schema"),
    column("table_name"),
    column("index_name"),
    column("non_unique"),
    column("seq_in_index"),
    column("column_name"),
    column("sub_part"),
    schema="information_schema",
)

#: MySQL/MariaDB errors that mean "not online" or "not allowed", not "unreachable":
#: 1845/1846 ALGORITHM/LOCK not supported (the change needs a locking table copy),
#: 1142 command denied (the archiver's account has no ALTER).
_NOT_ONLINE = {1845, 1846}
_DENIED = {1142, 1143}


class _EventIdColumn(NamedTuple):
    data_type: str
    length: int | None
    charset: str | None
    collation: str | None

    def describe(self) -> str:
        text = self.data_type.upper() + (f"({self.length})" if self.length is not None else "")
        if self.charset is not None:
            text += f" CHARACTER SET {self.charset}"
        if self.collation is not None:
            text += f" COLLATE {self.collation}"
        return text

    @property
    def sound(self) -> bool:
        """A VARCHAR of at least 64 characters of utf8mb4 compared byte by byte, so
        ``evtAbc`` and ``evtabc`` (or ``é`` and ``e``) are two ids and no id is cut:
        ``utf8mb4_bin`` as schema.py declares it (MySQL 8's ``utf8mb4_0900_bin`` and
        MariaDB's ``utf8mb4_nopad_bin`` compare bytes too)."""
        return (
            self.data_type == "varchar"
            and self.charset == "utf8mb4"
            and (self.collation or "").endswith("_bin")
            and (self.length or 0) >= _EVENT_ID_LENGTH
        )


class _IndexShape(NamedTuple):
    name: str
    unique: bool
    columns: tuple[str, ...]
    prefix: bool  # only a prefix of the column is indexed (MySQL ``event_id(8)``)
    binary: bool  # the index compares the bytes of the id

    @property
    def keys_event_id(self) -> bool:
        """UNIQUE on exactly the whole of ``event_id``, comparing bytes: exactly once."""
        return self.unique and self.columns == ("event_id",) and not self.prefix and self.binary

    @property
    def merges_ids(self) -> bool:
        """UNIQUE on ``event_id`` alone but coarser than its bytes: two distinct ids
        collide, and ``INSERT IGNORE`` drops the second event."""
        return self.unique and self.columns == ("event_id",) and not self.keys_event_id

    def flaw(self) -> str:
        if not self.unique:
            return "is not UNIQUE"
        if self.columns != ("event_id",):
            return f"covers ({', '.join(self.columns)}), not event_id only"
        if self.prefix:
            return "indexes only a prefix of event_id"
        return "compares event_id case-insensitively (not a binary collation)"


def _is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def _mysql_event_id_column(engine: Engine) -> _EventIdColumn:
    c = _IS_COLUMNS.c
    query = select(
        c.data_type, c.character_maximum_length, c.character_set_name, c.collation_name
    ).where(
        c.table_schema == func.database(),
        c.table_name == activity_log.name,
        c.column_name == activity_log.c.event_id.name,
    )
    with engine.connect() as conn:
        row = conn.execute(query).one()
    length = None if row[1] is None else int(row[1])
    return _EventIdColumn(str(row[0]).lower(), length, row[2], row[3])


def _mysql_indexes(engine: Engine, binary: bool) -> list[_IndexShape]:
    s = _IS_STATISTICS.c
    query = (
        select(s.index_name, s.non_unique, s.column_name, s.sub_part)
        .where(s.table_schema == func.database(), s.table_name == activity_log.name)
        .order_by(s.index_name, s.seq_in_index)
    )
    parts: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            parts.setdefault(str(row[0]), []).append(row)
    return [
        _IndexShape(
            name=name,
            unique=not int(rows[0][1]),
            columns=tuple(str(r[2]) for r in rows),
            prefix=any(r[3] is not None for r in rows),
            # An index compares with its column's collation, checked before.
            binary=binary,
        )
        for name, rows in parts.items()
    ]


def _sqlite_indexes(engine: Engine) -> list[_IndexShape]:
    shapes = []
    for index in inspect(engine).get_indexes(activity_log.name):
        name = str(index["name"])
        info = func.pragma_index_xinfo(name).table_valued("key", "coll")
        with engine.connect() as conn:
            # The key columns' collations (NOCASE would merge "evtAbc" and "evtabc").
            collations = list(conn.execute(select(info.c.coll).where(info.c.key == 1)).scalars())
        shapes.append(
            _IndexShape(
                name=name,
                unique=bool(index["unique"]),
                columns=tuple(str(c) for c in index["column_names"]),
                prefix=False,
                binary=all(str(coll).upper() == "BINARY" for coll in collations),
            )
        )
    return shapes


def _error_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _statement(engine: Engine, ddl: ExecutableDDLElement) -> str:
    return str(ddl.compile(dialect=engine.dialect))


def _event_id_of_length(length: int) -> Column[Any]:
    """``activity_log.event_id`` as schema.py declares it, but ``length`` characters long
    when that is longer (a MODIFY must not cut the ids already archived)."""
    if length <= _EVENT_ID_LENGTH:
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
    current = _mysql_event_id_column(engine)
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


def _check_indexes(engine: Engine, shapes: list[_IndexShape]) -> None:
    """Refuse an index on ``event_id`` that breaks exactly-once (see :class:`_IndexShape`)."""
    for shape in shapes:
        ours = shape.name == EVENT_ID_INDEX
        if shape.merges_ids or (ours and not shape.keys_event_id):
            name = engine.dialect.identifier_preparer.quote(shape.name)
            create = _statement(engine, CreateIndex(_event_id_index()))
            drop = f"DROP INDEX {name}" + (" ON activity_log" if _is_mysql(engine) else "")
            refill = "" if not ours else f"; {create}"
            raise DataSourceError(
                f"index {shape.name} on activity_log {shape.flaw()}: the archive would not be "
                "exactly once (distinct event ids collide, or repeats are not refused). Stop "
                f"the archivers, run `{drop}{refill};` and start them again."
            )


def _event_id_index() -> Index:
    return next(i for i in activity_log.indexes if i.name == EVENT_ID_INDEX)


def _indexes(engine: Engine) -> list[_IndexShape]:
    if _is_mysql(engine):
        return _mysql_indexes(engine, binary=_mysql_event_id_column(engine).sound)
    return _sqlite_indexes(engine)


def _add_event_id(engine: Engine) -> list[str]:
    steps: list[str] = []
    # A fresh inspector per read: inspectors cache what they have seen.
    columns = {c["name"] for c in inspect(engine).get_columns(activity_log.name)}
    if "event_id" not in columns:
        with engine.begin() as conn:
            conn.execute(AddColumn(activity_log, activity_log.c.event_id))
        steps.append("add column activity_log.event_id")
    if _is_mysql(engine):
        steps.extend(_make_event_id_binary(engine))
    shapes = _indexes(engine)
    _check_indexes(engine, shapes)
    if not any(shape.keys_event_id for shape in shapes):
        with engine.begin() as conn:
            conn.execute(CreateIndex(_event_id_index()))
        steps.append(f"create unique index {EVENT_ID_INDEX}")
        # SQLite: an index inherits a NOCASE column's collation; check what was made.
        if not any(shape.keys_event_id for shape in _indexes(engine)):
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
