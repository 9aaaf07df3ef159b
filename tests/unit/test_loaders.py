"""The loaders on a hand-made SQLite world (see tests/loader_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

import loader_world as world
from pitchrec.errors import DataSourceError
from pitchrec.progress import Advance
from pitchrec.sources._loading import lookup as _lookup
from pitchrec.sources.database import create_schema, make_engine
from pitchrec.sources.loaders import (
    load_profiles,
    load_sources,
    to_epoch_seconds,
    utc_naive,
)
from pitchrec.sources.schema import RESUME_MODEL_TYPE


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    world.build_world(engine)
    yield engine
    engine.dispose()


def test_world_loads_exactly_the_expected_rows(engine: Engine) -> None:
    data = load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST)
    world.assert_world(data)


def test_profiles(engine: Engine) -> None:
    world.assert_profiles(load_profiles(engine, now=world.NOW))


def test_without_blacklist_the_quoted_url_comes_back(engine: Engine) -> None:
    data = load_sources(engine, now=world.NOW)
    assert 104 in data.resumes.id.tolist()
    assert world.QUOTED_URL in data.resumes.video
    assert "resumes.blacklisted" not in data.report.skipped
    assert 211 in data.challenges.id.tolist()


def test_aware_now_is_converted_to_utc(engine: Engine) -> None:
    bogota = timezone(timedelta(hours=-5))
    aware = world.NOW.replace(tzinfo=UTC).astimezone(bogota)
    data = load_sources(engine, now=aware, blacklist=world.BLACKLIST)
    world.assert_world(data)


def test_one_second_later_the_boundary_rows_drop_out(engine: Engine) -> None:
    data = load_sources(engine, now=world.NOW + timedelta(seconds=1), blacklist=world.BLACKLIST)
    assert 101 not in data.resumes.id.tolist()
    assert 201 not in data.challenges.id.tolist()
    # Edge 1 -> 2 survives through its newer duplicate, which is no longer a duplicate.
    assert data.connections.created_at[0] == world.epoch(world.ago(5))
    assert "connections.duplicate_edge" not in data.report.skipped
    assert len(data.interactions) == 10 - 3  # the 90-day rating and save, the 30-day view


def test_reporter_gets_one_stage_per_query(engine: Engine) -> None:
    stages: list[tuple[str, int]] = []

    class Recorder:
        @contextmanager
        def stage(self, name: str, total: int | None) -> Iterator[Advance]:
            done = [0]
            yield lambda n: done.__setitem__(0, done[0] + n)
            stages.append((name, done[0]))

    load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST, reporter=Recorder())
    names = [name for name, _ in stages]
    assert names == [
        "load resumes",
        "load resume_ratings",
        "load resume_matches",
        "load resume_likes",
        "load resume_exhibited",
        "load resume_views",
        "load challenges",
        "load history_ratings",
        "load history_saves",
        "load history_matches",
        "load history_views",
        "load history_feedback",
        "load connections",
        "load declared_skills",
    ]
    assert dict(stages)["load connections"] == 5  # rows fetched before de-duplication


def test_empty_database_gives_empty_tables(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    data = load_sources(engine, now=world.NOW)
    assert len(data.resumes) == len(data.challenges) == 0
    assert len(data.interactions) == len(data.connections) == 0
    assert data.resumes.id.dtype == np.int64 and data.resumes.avg_rating.dtype == np.float64
    assert data.interactions.kind.dtype == np.uint8
    assert data.report.skipped == {}
    assert len(load_profiles(engine, now=world.NOW)) == 0
    engine.dispose()


def test_missing_table_is_a_data_source_error(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE views"))
    with pytest.raises(DataSourceError, match="resume_views"):
        load_sources(engine, now=world.NOW)
    engine.dispose()


def test_unopenable_database_is_a_data_source_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}")  # a directory: sqlite cannot open it
    with pytest.raises(DataSourceError, match="OperationalError"):
        load_profiles(engine, now=world.NOW)
    with pytest.raises(DataSourceError, match="OperationalError"):
        load_sources(engine, now=world.NOW)
    engine.dispose()


# --------------------------------------------------------------------------- helpers


def test_to_epoch_seconds_treats_naive_as_utc_and_tolerates_junk() -> None:
    stamps = to_epoch_seconds(
        [
            datetime(1970, 1, 1, 0, 0, 1),
            None,
            datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            "0000-00-00 00:00:00",
            "1970-01-02 00:00:00",
            date(1970, 1, 3),
        ]
    )
    assert stamps[0] == 1.0
    assert np.isnan(stamps[1]) and np.isnan(stamps[3])
    assert stamps[2] == 0.0
    assert stamps[4] == 86400.0
    assert stamps[5] == 2 * 86400.0
    assert to_epoch_seconds([]).shape == (0,)
    assert to_epoch_seconds([datetime(2024, 1, 1, 0, 0, 0, 500000)])[0] == 1704067200.5


def test_utc_naive() -> None:
    assert utc_naive(world.NOW) is world.NOW
    now = utc_naive(None)
    assert now.tzinfo is None and now.microsecond == 0
    assert abs((datetime.now(UTC).replace(tzinfo=None) - now).total_seconds()) < 5


def test_lookup_merges_by_id() -> None:
    ids = np.array([5, 1, 9, 3], dtype=np.int64)
    keys = np.array([3, 7, 5], dtype=np.int64)
    values = np.array([30, 70, 50], dtype=np.int64)
    assert _lookup(ids, keys, values).tolist() == [50, 0, 0, 30]
    assert _lookup(ids, keys[:0], values[:0]).tolist() == [0, 0, 0, 0]
    assert _lookup(ids[:0], keys, values).tolist() == []


def test_join_fan_out_does_not_duplicate_rows(sqlite_url: str) -> None:
    # A replica whose users table lost its primary key holds user 1 twice: the join fans
    # out, and each resume and challenge must still come back once.
    engine = make_engine(sqlite_url)
    world.build_world(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users_copy AS SELECT * FROM users"))
        connection.execute(text("DROP TABLE users"))
        connection.execute(text("ALTER TABLE users_copy RENAME TO users"))
        connection.execute(text("INSERT INTO users SELECT * FROM users WHERE id = 1"))
    data = load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST)
    assert data.resumes.id.tolist() == world.EXPECTED_RESUME_IDS
    assert data.challenges.id.tolist() == world.EXPECTED_CHALLENGE_IDS
    assert data.report.skipped["resumes.duplicate_id"] == 2  # 101 and 104 of user 1
    # User 1 owns 7 challenges that pass the SQL filters (201, 204, 206-209, 211).
    assert data.report.skipped["challenges.duplicate_id"] == 7
    profiles = load_profiles(engine, now=world.NOW)
    assert profiles.user_id.tolist() == [1, 2, 3, 5]
    engine.dispose()


def test_a_load_as_of_a_past_time_reads_nothing_that_happened_later(engine: Engine) -> None:
    """Rows dated after ``now`` are invisible to every loader: a resume created later, a
    later like (not in the history, not in the like count), a later view, a later
    connection. What a snapshot built as of an offline-evaluation cut must not see."""
    later = world.NOW + timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO resumes (id, user_id, video, description, status, created_at,"
                " skills) VALUES (9901, 1, 'https://media.example/r/9901.mp4', 'Futuro',"
                " 'send', :at, '[]')"
            ),
            {"at": later},
        )
        conn.execute(
            text(
                "INSERT INTO likes (user_id, model_id, model_type, type, created_at)"
                " VALUES (3, :resume, :model, 'save', :at)"
            ),
            {"resume": 101, "model": RESUME_MODEL_TYPE, "at": later},
        )
        conn.execute(
            text(
                "INSERT INTO activity_log (causer_id, subject_id, subject_type, description,"
                " log_name, created_at) VALUES (3, :resume, :model, '#video #view #VMP',"
                " 'app', :at)"
            ),
            {"resume": 101, "model": RESUME_MODEL_TYPE, "at": later},
        )
    before = load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST, as_of=True)
    world.assert_world(before)  # exactly what the world holds without the later rows
    after = load_sources(engine, now=later, blacklist=world.BLACKLIST, as_of=True)
    assert 9901 in after.resumes.id.tolist()  # the planted rows are readable later on
    planted = after.interactions.created_at == world.epoch(later)
    assert planted.sum() == 2 and set(after.interactions.user_id[planted].tolist()) == {3}


def test_v1_feedback_on_served_items_is_history(engine: Engine) -> None:
    """Likes, saves, matches and shares posted to /v1/events are taste the collaborative
    model and the user's history learn from (they used to be archived and never read);
    only on items the service served to that user (a client cannot plant likes), and
    never twice for the same user and item."""
    world.add_v1_feedback(engine)
    data = load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST)
    world.assert_v1_feedback(data)
