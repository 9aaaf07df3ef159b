"""The stream archiver on the real MariaDB and Redis: every event lands exactly once,
redeliveries are ignored, malformed entries are dead-lettered, and the entries of a dead
consumer (or of this one before a restart) are picked up again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from pitchrec.archive.archiver import (
    ARCHIVE_GROUP,
    DEAD_ERROR,
    DEAD_ID,
    DEAD_LETTER_KEY,
    Archiver,
    ArchiverConfig,
)
from pitchrec.archive.runner import run_archiver
from pitchrec.domain.activity import ArchiveRow
from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import migrate
from pitchrec.sources.schema import RESUME_MODEL_TYPE, USER_MODEL_TYPE, activity_log
from pitchrec.tracking.store import STREAM_KEY

pytestmark = pytest.mark.integration

TEXT = "ñandú café 日本語 🎬 «quoted» \\back\\slash"


def make_row(i: int, prefix: str = "ev") -> ArchiveRow:
    event = {
        "event_type": "video_view",
        "user_id": 1000 + i % 7,
        "video_id": i,
        "video_url": f"https://cdn.example/{TEXT}/{i}.mp4",
        "position": i % 24,
        "feed_type": "VMP",
        "timestamp": f"2024-05-01T12:{i // 60 % 60:02d}:{i % 60:02d}.123456",
        "session_id": "s-1",
    }
    return ArchiveRow(
        event_id=f"{prefix}-{i:07d}",
        log_name="app",
        description=f"#video #view #VMP {TEXT}",
        subject_id=i,
        subject_type=RESUME_MODEL_TYPE,
        causer_id=1000 + i % 7,
        causer_type=USER_MODEL_TYPE,
        properties=json.dumps(event, ensure_ascii=False),
        url=f"/api/search/feed/video/{i}",
        created_at=event["timestamp"],
    )


def produce(client: redis.Redis, rows: list[ArchiveRow]) -> None:
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.xadd(STREAM_KEY, row.fields())  # type: ignore[arg-type]
    pipe.execute()


def pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM_KEY, ARCHIVE_GROUP)["pending"])


def drain(archiver: Archiver, client: redis.Redis, timeout: float = 60.0) -> None:
    """run_once until a call finds nothing new and the group has nothing pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if archiver.run_once() == 0 and pending(client) == 0:
            return
    raise AssertionError(f"not drained in {timeout} s; {pending(client)} pending")


def event_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(activity_log.c.event_id).order_by(activity_log.c.id)))


@pytest.fixture
def engine(mariadb_url: str) -> Iterator[Engine]:
    engine = make_engine(mariadb_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(
        redis_url, decode_responses=True, encoding_errors="surrogateescape"
    )
    yield client
    client.close()


def make_archiver(
    client: redis.Redis, engine: Engine, consumer: str = "a1", **kwargs: Any
) -> Archiver:
    archiver = Archiver(client, engine, ArchiverConfig(consumer=consumer, block_ms=50, **kwargs))
    archiver.ensure_group()
    return archiver


def test_each_event_lands_once_with_its_columns(client: redis.Redis, engine: Engine) -> None:
    rows = [make_row(i) for i in range(1200)]
    produce(client, rows)
    archiver = make_archiver(client, engine, batch_size=500)

    drain(archiver, client)

    assert event_ids(engine) == [r.event_id for r in rows]
    assert archiver.inserted == 1200
    assert archiver.duplicates == archiver.dead_lettered == archiver.missing == 0
    assert archiver.batches == 3
    assert client.xlen(STREAM_KEY) == 0  # acknowledged entries are deleted
    with engine.connect() as conn:
        got = conn.execute(select(activity_log).where(activity_log.c.event_id == "ev-0000061"))
        row = got.one()._asdict()
    want = rows[61]
    created = datetime(2024, 5, 1, 12, 1, 1)  # DATETIME(0): the microseconds are dropped
    assert row == {
        "id": row["id"],
        "event_id": want.event_id,
        "log_name": "app",
        "description": f"#video #view #VMP {TEXT}",
        "subject_id": 61,
        "subject_type": RESUME_MODEL_TYPE,
        "causer_id": 1000 + 61 % 7,
        "causer_type": USER_MODEL_TYPE,
        "properties": want.properties,
        "url": "/api/search/feed/video/61",
        "created_at": created,
        "updated_at": created,
    }
    assert json.loads(row["properties"])["video_url"].startswith(f"https://cdn.example/{TEXT}")


def test_redelivered_events_are_ignored(client: redis.Redis, engine: Engine) -> None:
    rows = [make_row(i) for i in range(300)]
    produce(client, rows)
    archiver = make_archiver(client, engine, batch_size=100)
    drain(archiver, client)

    produce(client, rows)  # the same event ids again
    produce(client, rows[:10])  # and some a third time, in one batch with new ones
    produce(client, [make_row(i) for i in range(300, 310)])
    drain(archiver, client)

    ids = event_ids(engine)
    assert len(ids) == len(set(ids)) == 310
    assert archiver.inserted == 310
    assert archiver.duplicates == 310


def test_crash_between_commit_and_ack_inserts_nothing_twice(
    client: redis.Redis, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [make_row(i) for i in range(50)]
    produce(client, rows)
    archiver = make_archiver(client, engine, batch_size=50)
    real_pipeline = client.pipeline

    def lost(*_args: Any, **_kwargs: Any) -> Any:
        raise redis.ConnectionError("connection lost after commit")

    monkeypatch.setattr(client, "pipeline", lost)
    with pytest.raises(redis.ConnectionError):
        archiver.run_once()
    assert len(event_ids(engine)) == 50  # committed
    assert pending(client) == 50  # but not acknowledged

    monkeypatch.setattr(client, "pipeline", real_pipeline)
    drain(archiver, client)
    assert event_ids(engine) == [r.event_id for r in rows]
    assert archiver.duplicates == 50


def test_malformed_entries_go_to_the_dead_letter_stream(
    client: redis.Redis, engine: Engine, redis_url: str
) -> None:
    good = [make_row(i) for i in range(5)]
    produce(client, good[:2])
    too_long = make_row(90, prefix="x" * 60)
    bad_id = {**json.loads(make_row(91).fields()["row"]), "subject_id": "abc"}
    bad_date = {**json.loads(make_row(92).fields()["row"]), "created_at": "yesterday"}
    extra_key = {**json.loads(make_row(93).fields()["row"]), "colour": "red"}
    malformed: list[dict[str, str]] = [
        {"event_id": "m-1", "row": "not json"},
        {"unexpected": "fields"},
        too_long.fields(),
        {"event_id": "m-3", "row": json.dumps(bad_id)},
        {"event_id": "m-4", "row": json.dumps(bad_date)},
        {"event_id": "m-5", "row": json.dumps(extra_key)},
        {"event_id": "m-6", "row": "[1, 2]"},
        replace(make_row(95), event_id="ev-95 ").fields(),
    ]
    for fields in malformed:
        client.xadd(STREAM_KEY, fields)  # type: ignore[arg-type]
    # A complete row, but with bytes that are not UTF-8, from a foreign producer.
    not_utf8 = {**json.loads(make_row(94).fields()["row"]), "log_name": "@@"}
    not_utf8_row = json.dumps(not_utf8).encode().replace(b"@@", b"\xff\xfe")
    raw = redis.Redis.from_url(redis_url)
    raw.xadd(STREAM_KEY, {b"event_id": b"m-7", b"row": not_utf8_row})
    raw.close()
    produce(client, good[2:])
    archiver = make_archiver(client, engine, batch_size=100)

    drain(archiver, client)

    assert event_ids(engine) == [r.event_id for r in good]
    assert archiver.dead_lettered == 9
    assert pending(client) == 0
    letters = client.xrange(DEAD_LETTER_KEY)
    assert len(letters) == 9
    for (_, letter), fields in zip(letters, malformed, strict=False):
        assert {k: letter[k] for k in fields} == fields  # the raw fields, verbatim
        assert letter[DEAD_ERROR]
        assert letter[DEAD_ID]
    errors = [letter[DEAD_ERROR] for _, letter in letters]
    assert "event_id is longer than 64 characters" in errors
    assert "subject_id is not an integer" in errors
    assert "event_id ends with a space" in errors
    assert any(e.startswith("created_at is not an ISO-8601") for e in errors)
    assert "UTF-8" in errors[-1]
    # The undecodable bytes round-trip into the dead letter unchanged.
    raw = redis.Redis.from_url(redis_url)
    last = raw.xrange(DEAD_LETTER_KEY)[-1][1]
    raw.close()
    assert last[b"row"] == not_utf8_row


def test_ids_differing_only_in_case_or_accents_are_distinct(
    client: redis.Redis, engine: Engine
) -> None:
    """The table collates utf8mb4_unicode_ci; the event_id column must not."""
    ids = ["AbC", "abc", "ABC", "café", "cafe", "CAFÉ", "straße", "strasse", "a b", "ab"]
    rows = [replace(make_row(i), event_id=event_id) for i, event_id in enumerate(ids)]
    produce(client, rows)
    produce(client, rows)
    archiver = make_archiver(client, engine)

    drain(archiver, client)

    assert event_ids(engine) == ids
    assert archiver.duplicates == len(ids)


def test_dead_consumers_entries_are_reclaimed(client: redis.Redis, engine: Engine) -> None:
    rows = [make_row(i) for i in range(400)]
    produce(client, rows[:300])
    client.xgroup_create(STREAM_KEY, ARCHIVE_GROUP, id="0")
    # A consumer reads a batch and dies without acknowledging it.
    taken = client.xreadgroup(ARCHIVE_GROUP, "dead", {STREAM_KEY: ">"}, count=300)
    assert len(taken[0][1]) == 300  # type: ignore[index]
    produce(client, rows[300:])
    archiver = make_archiver(client, engine, consumer="alive", batch_size=100, claim_idle_ms=100)

    drain(archiver, client)

    assert sorted(event_ids(engine)) == [r.event_id for r in rows]
    assert archiver.reclaimed == 300
    consumers = {c["name"]: c["pending"] for c in client.xinfo_consumers(STREAM_KEY, ARCHIVE_GROUP)}
    assert consumers == {"dead": 0, "alive": 0}


def test_own_pending_entries_are_processed_after_a_restart(
    client: redis.Redis, engine: Engine
) -> None:
    rows = [make_row(i) for i in range(250)]
    produce(client, rows)
    client.xgroup_create(STREAM_KEY, ARCHIVE_GROUP, id="0")
    client.xreadgroup(ARCHIVE_GROUP, "same", {STREAM_KEY: ">"}, count=200)  # then killed
    # Restarted under the same name; reclaiming is out of the picture (idle time 1 h).
    archiver = make_archiver(
        client, engine, consumer="same", batch_size=100, claim_idle_ms=3_600_000
    )

    drain(archiver, client)

    assert sorted(event_ids(engine)) == [r.event_id for r in rows]
    assert archiver.reclaimed == 0


def test_trimmed_pending_entries_are_counted_missing(client: redis.Redis, engine: Engine) -> None:
    rows = [make_row(i) for i in range(20)]
    produce(client, rows)
    client.xgroup_create(STREAM_KEY, ARCHIVE_GROUP, id="0")
    taken = client.xreadgroup(ARCHIVE_GROUP, "dead", {STREAM_KEY: ">"}, count=20)
    client.xdel(STREAM_KEY, *[entry_id for entry_id, _ in taken[0][1][:5]])  # type: ignore[index]
    archiver = make_archiver(client, engine, consumer="alive", claim_idle_ms=0)

    drain(archiver, client)

    assert sorted(event_ids(engine)) == [r.event_id for r in rows[5:]]
    assert archiver.missing == 5
    assert client.xlen(DEAD_LETTER_KEY) == 5


def test_run_loop_survives_errors_and_a_lost_group(
    client: redis.Redis, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    archiver = make_archiver(client, engine, batch_size=100)
    real_run_once = archiver.run_once
    failures = iter([redis.ConnectionError("down"), RuntimeError("unexpected")])

    def flaky() -> int:
        for exc in failures:
            raise exc
        return real_run_once()

    monkeypatch.setattr(archiver, "run_once", flaky)
    stop = threading.Event()
    reports: list[int] = []
    thread = threading.Thread(
        target=archiver.run, args=(stop, lambda a: reports.append(a.inserted)), daemon=True
    )
    thread.start()
    try:
        produce(client, [make_row(i) for i in range(100)])
        _wait_for(lambda: len(event_ids(engine)) == 100)
        client.flushdb()  # Redis loses the stream and the group
        produce(client, [make_row(i) for i in range(100, 150)])
        _wait_for(lambda: len(event_ids(engine)) == 150)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert archiver.errors >= 3  # the two injected, and NOGROUP after the flush
    assert reports[-1] == 150


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_sqlite_backend_uses_insert_or_ignore(client: redis.Redis, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        migrate(engine)
        rows = [make_row(i) for i in range(120)]
        produce(client, rows)
        produce(client, rows[:20])
        archiver = make_archiver(client, engine, batch_size=50)
        drain(archiver, client)
        assert event_ids(engine) == [r.event_id for r in rows]
        assert archiver.duplicates == 20
    finally:
        engine.dispose()


def test_run_archiver_migrates_and_stops_on_its_event(
    redis_url: str, mariadb_url: str, client: redis.Redis
) -> None:
    produce(client, [make_row(i) for i in range(30)])
    stop = threading.Event()
    thread = threading.Thread(
        target=run_archiver,
        args=(mariadb_url, redis_url, None, 10, stop),
        kwargs={"block_ms": 100},
        daemon=True,
    )
    thread.start()
    engine = make_engine(mariadb_url)
    try:
        _wait_for(lambda: _count(engine) == 30)
    finally:
        stop.set()
        thread.join(5)
        engine.dispose()
    assert not thread.is_alive()


def _count(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(activity_log)) or 0)
    except Exception:  # the table is not created yet
        return -1
