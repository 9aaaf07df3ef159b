"""What ``activity_log.event_id`` and its indexes look like in a live database.

:mod:`pitchrec.sources.migrations` reads them before every step: the column's type,
character set and collation (MySQL/MariaDB, from ``information_schema``), and each index
on ``activity_log`` (MySQL/MariaDB from ``information_schema``, SQLite from its pragmas),
with whether it keys each event exactly once (:attr:`IndexShape.keys_event_id`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Engine, column, func, inspect, select, table

from pitchrec.sources.schema import EventId, activity_log

#: The length schema.py declares for ``activity_log.event_id``.
EVENT_ID_LENGTH = EventId.length or 64

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


class EventIdColumn(NamedTuple):
    """``activity_log.event_id`` as a MySQL/MariaDB server has it (``information_schema``)."""

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
            and (self.length or 0) >= EVENT_ID_LENGTH
        )


class IndexShape(NamedTuple):
    """One index on ``activity_log``: its name, whether it is UNIQUE, its columns, whether
    it indexes only a prefix of them, and whether it compares the bytes of the id."""

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


def is_mysql(engine: Engine) -> bool:
    """Whether ``engine`` talks to MySQL or MariaDB (else SQLite)."""
    return engine.dialect.name in ("mysql", "mariadb")


def mysql_event_id_column(engine: Engine) -> EventIdColumn:
    """Read ``activity_log.event_id``'s type, length, charset and collation (MySQL/MariaDB)."""
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
    return EventIdColumn(str(row[0]).lower(), length, row[2], row[3])


def _mysql_indexes(engine: Engine, binary: bool) -> list[IndexShape]:
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
        IndexShape(
            name=name,
            unique=not int(rows[0][1]),
            columns=tuple(str(r[2]) for r in rows),
            prefix=any(r[3] is not None for r in rows),
            # An index compares with its column's collation, checked before.
            binary=binary,
        )
        for name, rows in parts.items()
    ]


def _sqlite_indexes(engine: Engine) -> list[IndexShape]:
    shapes = []
    for index in inspect(engine).get_indexes(activity_log.name):
        name = str(index["name"])
        info = func.pragma_index_xinfo(name).table_valued("key", "coll")
        with engine.connect() as conn:
            # The key columns' collations (NOCASE would merge "evtAbc" and "evtabc").
            collations = list(conn.execute(select(info.c.coll).where(info.c.key == 1)).scalars())
        shapes.append(
            IndexShape(
                name=name,
                unique=bool(index["unique"]),
                columns=tuple(str(c) for c in index["column_names"]),
                prefix=False,
                binary=all(str(coll).upper() == "BINARY" for coll in collations),
            )
        )
    return shapes


def activity_log_indexes(engine: Engine) -> list[IndexShape]:
    """Every index on ``activity_log``, read afresh (no inspector cache)."""
    if is_mysql(engine):
        return _mysql_indexes(engine, binary=mysql_event_id_column(engine).sound)
    return _sqlite_indexes(engine)
