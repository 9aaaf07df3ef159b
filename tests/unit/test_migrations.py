"""migrate() on SQLite: a legacy activity_log (no event_id) gets the column and its unique
index, legacy rows keep NULL, and a second run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Column, Engine, MetaData, Table, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import DropIndex

from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import EVENT_ID_INDEX, migrate
from pitchrec.sources.schema import activity_log, metadata

#: activity_log as the legacy database has it: today's columns without event_id, no indexes.
legacy_metadata = MetaData()
legacy_activity_log = Table(
    activity_log.name,
    legacy_metadata,
    *(
        Column(
            column.name,
            column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
            autoincrement=column.autoincrement,
        )
        for column in activity_log.columns
        if column.name != "event_id"
    ),
)

WHEN = datetime(2024, 5, 1, 12, 0, 0)


def _legacy_row(n: int) -> dict[str, object]:
    return {
        "log_name": "app",
        "description": "#video #view #VMP",
        "subject_id": n,
        "causer_id": 7,
        "properties": '{"event_type": "video_view"}',
        "url": f"/api/search/feed/video/{n}",
        "created_at": WHEN,
        "updated_at": WHEN,
    }


@pytest.fixture
def legacy_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    legacy_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(legacy_activity_log), [_legacy_row(1), _legacy_row(2)])
    yield engine
    engine.dispose()


def test_legacy_table_gets_column_and_unique_index(legacy_engine: Engine) -> None:
    steps = migrate(legacy_engine)

    assert "add column activity_log.event_id" in steps
    assert f"create unique index {EVENT_ID_INDEX}" in steps
    # The other tables were missing and are created.
    assert "create table resumes" in steps
    assert "create table activity_log" not in steps
    inspector = inspect(legacy_engine)
    assert set(inspector.get_table_names()) == set(metadata.tables)
    event_id = next(c for c in inspector.get_columns("activity_log") if c["name"] == "event_id")
    assert event_id["nullable"]
    index = next(i for i in inspector.get_indexes("activity_log") if i["name"] == EVENT_ID_INDEX)
    assert index["unique"]
    assert index["column_names"] == ["event_id"]


def test_second_run_is_a_no_op(legacy_engine: Engine) -> None:
    assert migrate(legacy_engine)
    assert migrate(legacy_engine) == []


def test_fresh_database_is_created_whole(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        steps = migrate(engine)
        assert sorted(steps) == sorted(f"create table {t}" for t in metadata.tables)
        assert migrate(engine) == []
    finally:
        engine.dispose()


def test_half_applied_migration_completes(legacy_engine: Engine) -> None:
    """A run that added the column but died before the index finishes the job."""
    migrate(legacy_engine)
    with legacy_engine.begin() as conn:
        conn.execute(DropIndex(next(i for i in activity_log.indexes if i.name == EVENT_ID_INDEX)))
    assert migrate(legacy_engine) == [f"create unique index {EVENT_ID_INDEX}"]


def test_legacy_rows_keep_null_and_nulls_may_repeat(legacy_engine: Engine) -> None:
    migrate(legacy_engine)
    with legacy_engine.begin() as conn:
        # More rows without an id: NULL is allowed any number of times.
        conn.execute(insert(activity_log), [_legacy_row(3), _legacy_row(4)])
        conn.execute(insert(activity_log), [{**_legacy_row(5), "event_id": "ev-1"}])
    with legacy_engine.connect() as conn:
        ids = conn.execute(select(activity_log.c.event_id).order_by(activity_log.c.id)).all()
        assert [r.event_id for r in ids] == [None, None, None, None, "ev-1"]
        nulls = conn.execute(
            select(func.count()).where(activity_log.c.event_id.is_(None))
        ).scalar_one()
        assert nulls == 4
    # A repeated non-NULL id is refused by the index.
    with pytest.raises(IntegrityError), legacy_engine.begin() as conn:
        conn.execute(insert(activity_log), [{**_legacy_row(6), "event_id": "ev-1"}])
