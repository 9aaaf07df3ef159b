"""migrate() on SQLite refuses a unique ``event_id`` index that compares case-insensitively
(hardening issue 15, item 10; the MariaDB side is
tests/integration/test_hardening_migrations_collation.py): with ``COLLATE NOCASE`` the
embedded archiver's ``INSERT OR IGNORE`` dropped ``evtabc`` after ``evtAbc``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text

from pitchrec.archive.entries import idempotent_insert
from pitchrec.errors import DataSourceError
from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import EVENT_ID_INDEX, migrate
from pitchrec.sources.schema import activity_log, metadata


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if t is not activity_log])
    yield engine
    engine.dispose()


def _legacy_table(engine: Engine, event_id: str, *indexes: str) -> None:
    # Fixed DDL of this test, no input in it.
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE activity_log (id INTEGER PRIMARY KEY, log_name VARCHAR(255), "
                "description TEXT NOT NULL, subject_id BIGINT, subject_type VARCHAR(255), "
                "causer_id BIGINT, causer_type VARCHAR(255), properties TEXT, "
                f"url VARCHAR(1024), created_at DATETIME, updated_at DATETIME, {event_id})"
            )
        )
        for index in indexes:
            conn.execute(text(index))


def _archive(engine: Engine, *ids: str) -> list[str]:
    with engine.begin() as conn:
        for event_id in ids:
            conn.execute(idempotent_insert(engine), {"event_id": event_id, "description": "x"})
    with engine.connect() as conn:
        return list(conn.scalars(select(activity_log.c.event_id).order_by(activity_log.c.id)))


@pytest.mark.parametrize(
    ("column", "index"),
    [
        ("event_id VARCHAR(64) COLLATE NOCASE", "(event_id)"),
        ("event_id VARCHAR(64)", "(event_id COLLATE NOCASE)"),
    ],
    ids=["nocase-column", "nocase-index"],
)
def test_a_case_insensitive_unique_index_is_refused(
    engine: Engine, column: str, index: str
) -> None:
    _legacy_table(engine, column, f"CREATE UNIQUE INDEX {EVENT_ID_INDEX} ON activity_log {index}")
    assert _archive(engine, "evtAbc", "evtabc") == ["evtAbc"]  # the defect, in the database
    with pytest.raises(DataSourceError, match="case-insensitively"):
        migrate(engine)  # before the fix: [] (accepted)


def test_a_nocase_column_without_index_is_refused_after_the_index_is_made(engine: Engine) -> None:
    _legacy_table(engine, "event_id VARCHAR(64) COLLATE NOCASE")
    with pytest.raises(DataSourceError, match="byte by byte"):
        migrate(engine)  # before the fix: ["create unique index ..."], ids merged


def test_a_binary_index_is_accepted_and_keeps_ids_apart(engine: Engine) -> None:
    _legacy_table(engine, "event_id VARCHAR(64)")
    assert migrate(engine) == [f"create unique index {EVENT_ID_INDEX}"]
    assert migrate(engine) == []
    assert _archive(engine, "evtAbc", "evtabc", "evtAbc") == ["evtAbc", "evtabc"]
