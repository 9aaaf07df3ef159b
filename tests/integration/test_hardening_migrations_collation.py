"""``activity_log.event_id`` must compare bytes, or exactly-once breaks (hardening issue 15,
item 10), on the real MariaDB.

The manual migration of deploy/README.md created ``event_id VARCHAR(64)`` without a
collation, so the column took the table's ``utf8mb4_unicode_ci``; ``migrate()`` accepted any
unique index on it; the UNIQUE index then took ``evtAbc`` and ``evtabc`` for one id and the
archiver's ``INSERT IGNORE`` dropped the second event as a duplicate.

Now ``migrate()`` converts such a column to ``utf8mb4_bin`` when the server can do it online
(``ALGORITHM=INPLACE, LOCK=NONE``) and otherwise refuses with the statement to run; it
refuses unique indexes that make distinct ids collide (a prefix index, an index of another
collation); and the README's SQL creates the column exactly as ``schema.py`` declares it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Column, Engine, MetaData, Table, select, text
from sqlalchemy.schema import CreateTable

from pitchrec.archive.archiver import Archiver, ArchiverConfig
from pitchrec.archive.runner import run_archiver
from pitchrec.domain.activity import ArchiveRow
from pitchrec.errors import DataSourceError
from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import EVENT_ID_INDEX, migrate
from pitchrec.sources.schema import activity_log, metadata
from pitchrec.tracking.store import STREAM_KEY

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "deploy" / "README.md"

#: The manual migration as deploy/README.md gave it before this fix.
OLD_README_SQL = (
    "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(64) NULL",
    "CREATE UNIQUE INDEX uq_activity_log_event_id ON activity_log (event_id)",
)

#: activity_log as the TalentPitch database has it: no event_id, utf8mb4_unicode_ci.
legacy_metadata = MetaData()
legacy_activity_log = Table(
    activity_log.name,
    legacy_metadata,
    *(
        Column(
            c.name,
            c.type,
            primary_key=c.primary_key,
            nullable=c.nullable,
            autoincrement=c.autoincrement,
        )
        for c in activity_log.columns
        if c.name != "event_id"
    ),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_unicode_ci",
)


@pytest.fixture
def engine(mariadb_url: str) -> Iterator[Engine]:
    engine = make_engine(mariadb_url)
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t is not activity_log])
    with engine.begin() as conn:
        conn.execute(CreateTable(legacy_activity_log))
    yield engine
    engine.dispose()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(
        redis_url, decode_responses=True, encoding_errors="surrogateescape"
    )
    yield client
    client.close()


def _run(engine: Engine, *statements: str) -> None:
    # Fixed DDL of this file (the operator's manual statements), no input in it.
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _row(event_id: str) -> ArchiveRow:
    return ArchiveRow(
        event_id=event_id,
        log_name="app",
        description="#video #view #VMP",
        subject_id=1,
        subject_type=None,
        causer_id=7,
        causer_type=None,
        properties="{}",
        url="/api/search/feed/video/1",
        created_at="2024-05-01T12:00:00.000000",
    )


def _archive(client: redis.Redis, engine: Engine, ids: list[str]) -> Archiver:
    for event_id in ids:
        client.xadd(STREAM_KEY, _row(event_id).fields())  # type: ignore[arg-type]
    archiver = Archiver(client, engine, ArchiverConfig(consumer="c1", block_ms=50))
    archiver.ensure_group()
    while archiver.run_once():
        pass
    return archiver


def _event_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(activity_log.c.event_id).order_by(activity_log.c.id)))


def _collation(engine: Engine) -> str:
    with engine.connect() as conn:
        value = conn.execute(
            text(
                "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c"
            ),
            {"t": "activity_log", "c": "event_id"},
        ).scalar_one()
    return str(value)


def test_old_readme_column_is_converted_and_ids_differing_in_case_are_both_archived(
    engine: Engine, client: redis.Redis
) -> None:
    _run(engine, *OLD_README_SQL)
    assert _collation(engine) == "utf8mb4_unicode_ci"  # what the old README produced

    steps = migrate(engine)  # before the fix: [] (any unique index was accepted)
    archiver = _archive(client, engine, ["evtAbc", "evtabc", "evtAbc"])

    assert _event_ids(engine) == ["evtAbc", "evtabc"]  # before: ["evtAbc"], 2 "duplicates"
    assert (archiver.inserted, archiver.duplicates) == (2, 1)
    assert steps == ["convert activity_log.event_id to utf8mb4_bin"]
    assert _collation(engine) == "utf8mb4_bin"
    assert migrate(engine) == []


def test_conversion_keeps_archived_rows(engine: Engine, client: redis.Redis) -> None:
    _run(engine, *OLD_README_SQL)
    _archive(client, engine, ["evtAbc", "évt"])
    migrate(engine)
    _archive(client, engine, ["evtabc", "evt", "evtAbc"])
    assert _event_ids(engine) == ["evtAbc", "évt", "evtabc", "evt"]


def test_a_column_the_server_cannot_convert_online_is_refused_with_the_statement(
    engine: Engine,
) -> None:
    """latin1 -> utf8mb4 needs a table copy: migrate() must not lock activity_log; it
    stops and tells the operator what to run."""
    _run(
        engine,
        "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(64) CHARACTER SET latin1 NULL",
        "CREATE UNIQUE INDEX uq_activity_log_event_id ON activity_log (event_id)",
    )
    with pytest.raises(DataSourceError) as refused:
        migrate(engine)
    message = str(refused.value)
    assert "latin1_swedish_ci" in message
    statement = (
        "ALTER TABLE activity_log MODIFY event_id VARCHAR(64) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
    )
    assert statement in message
    # The operator runs it; then migrate() accepts the schema.
    _run(engine, statement)
    assert migrate(engine) == []


@pytest.mark.parametrize(
    ("index_sql", "reason"),
    [
        # A prefix index: ids sharing their first 8 characters collide.
        (f"CREATE UNIQUE INDEX {EVENT_ID_INDEX} ON activity_log (event_id(8))", "prefix"),
        # Our name on a non-unique index: nothing makes archival exactly once.
        (f"CREATE INDEX {EVENT_ID_INDEX} ON activity_log (event_id)", "not UNIQUE"),
        # Our name on a composite index: unique per (event_id, causer), not per event_id.
        (f"CREATE UNIQUE INDEX {EVENT_ID_INDEX} ON activity_log (event_id, causer_id)", "only"),
        # Another name, a prefix again: it still merges ids even next to a good index.
        ("CREATE UNIQUE INDEX uq_other ON activity_log (event_id(16))", "prefix"),
    ],
    ids=["prefix", "non-unique", "composite", "foreign-prefix"],
)
def test_an_index_that_is_not_unique_on_exactly_event_id_is_refused(
    engine: Engine, index_sql: str, reason: str
) -> None:
    column = "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(64) CHARACTER SET utf8mb4 "
    _run(engine, column + "COLLATE utf8mb4_bin NULL", index_sql)
    with pytest.raises(DataSourceError) as refused:
        migrate(engine)
    message = str(refused.value)
    assert reason in message
    assert "DROP INDEX" in message


def test_a_second_good_unique_index_is_accepted(engine: Engine) -> None:
    column = "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(64) CHARACTER SET utf8mb4 "
    _run(
        engine,
        column + "COLLATE utf8mb4_bin NULL",
        "CREATE UNIQUE INDEX uq_dba_event ON activity_log (event_id)",
    )
    assert migrate(engine) == []


def _readme_manual_sql() -> list[str]:
    section = README.read_text().split("## The `activity_log.event_id` migration", 1)[1]
    block = re.search(r"maintenance window.*?```sql\n(.*?)```", section, re.S)
    assert block is not None, "the manual migration's SQL block is gone from deploy/README.md"
    return [s.strip() for s in block.group(1).split(";") if s.strip()]


def test_the_readme_manual_migration_matches_schema_py(engine: Engine, client: redis.Redis) -> None:
    statements = _readme_manual_sql()
    _run(engine, *statements)

    assert migrate(engine) == []  # before the fix: accepted, yet case-insensitive
    assert _collation(engine) == "utf8mb4_bin"  # before: utf8mb4_unicode_ci
    _archive(client, engine, ["evtAbc", "evtabc"])
    assert _event_ids(engine) == ["evtAbc", "evtabc"]


def test_the_readme_repair_statement_fixes_an_old_manual_migration(engine: Engine) -> None:
    section = README.read_text().split("## The `activity_log.event_id` migration", 1)[1]
    block = re.search(r"earlier statement.*?```sql\n(.*?)```", section, re.S)
    assert block is not None, "the repair statement is gone from deploy/README.md"
    _run(engine, *OLD_README_SQL)
    _run(engine, *(s.strip() for s in block.group(1).split(";") if s.strip()))
    assert _collation(engine) == "utf8mb4_bin"
    assert migrate(engine) == []


def _column_type(engine: Engine) -> str:
    with engine.connect() as conn:
        value = conn.execute(
            text(
                "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c"
            ),
            {"t": "activity_log", "c": "event_id"},
        ).scalar_one()
    return str(value)


def test_a_longer_case_insensitive_column_is_converted_without_cutting_ids(
    engine: Engine, client: redis.Redis
) -> None:
    long_id = "L" * 100
    _run(
        engine,
        "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(255) NULL",
        "CREATE UNIQUE INDEX uq_activity_log_event_id ON activity_log (event_id)",
        f"INSERT INTO activity_log (description, event_id) VALUES ('legacy', '{long_id}')",
    )
    assert migrate(engine) == ["convert activity_log.event_id to utf8mb4_bin"]
    assert _column_type(engine) == "varchar(255)"  # not cut to 64
    assert _collation(engine) == "utf8mb4_bin"
    _archive(client, engine, ["evtAbc", "evtabc"])
    assert _event_ids(engine) == [long_id, "evtAbc", "evtabc"]


@pytest.mark.parametrize(
    ("column", "shown"),
    [
        # Too short for a 64-character id; widening it past 255 bytes copies the table.
        ("VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "VARCHAR(32)"),
        # Bytes, but another type: the archiver and loaders expect text.
        ("VARBINARY(64)", "VARBINARY(64)"),
    ],
    ids=["short", "varbinary"],
)
def test_a_column_of_another_shape_is_refused(engine: Engine, column: str, shown: str) -> None:
    _run(engine, f"ALTER TABLE activity_log ADD COLUMN event_id {column} NULL")
    with pytest.raises(DataSourceError) as refused:
        migrate(engine)
    assert shown in str(refused.value)
    assert "COLLATE utf8mb4_bin NULL" in str(refused.value)


def test_the_archiver_stops_on_a_refused_schema_instead_of_archiving(
    engine: Engine, mariadb_url: str, redis_url: str
) -> None:
    """``pitchrec archive`` runs migrate() first; a refusal ends it (exit code 2 through
    the CLI's error handling) instead of archiving into a column that merges ids."""
    _run(
        engine,
        "ALTER TABLE activity_log ADD COLUMN event_id VARCHAR(64) CHARACTER SET latin1 NULL",
        "CREATE UNIQUE INDEX uq_activity_log_event_id ON activity_log (event_id)",
    )
    stop = threading.Event()
    timer = threading.Timer(5.0, stop.set)  # before the fix: it archived until stopped
    timer.start()
    try:
        with pytest.raises(DataSourceError, match="COLLATE utf8mb4_bin"):
            run_archiver(mariadb_url, redis_url, "c1", 10, stop, block_ms=50)
    finally:
        timer.cancel()
