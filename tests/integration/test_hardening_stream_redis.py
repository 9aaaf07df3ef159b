"""The archive stream on the real Redis and MariaDB is never trimmed past what the archiver
acknowledged (issue 15, item 4 "stream cap").

* With the archiver down, events beyond the stream's cap are refused (counted, spooled),
  and every accepted one stays in the stream: the ``MAXLEN ~`` on XADD used to trim the
  oldest, never archived.
* An archiver that keeps acknowledged entries (``delete_acked=False``) trims them (XTRIM
  MINID), and only them: nothing pending, nothing another group has not read.
* The backlog (entries not yet acknowledged by the archiver group) is what the gauge says.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from pitchrec.archive.archiver import ARCHIVE_GROUP, Archiver, ArchiverConfig
from pitchrec.archive.runner import progress_reporter
from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent
from pitchrec.legacy.events import stable_event_id
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import migrate
from pitchrec.sources.schema import activity_log
from pitchrec.tracking import redis_store
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import STREAM_KEY, FeedWrites
from pitchrec.tracking.tracker import Tracker
from served_app import served

pytestmark = pytest.mark.integration

CAP = 300  # entries the stream holds at most, in these tests
POST = 100  # events per archive_feedback call


def _events(post: int) -> list[FeedbackEvent]:
    return [
        FeedbackEvent(
            event_id=f"cap-{post:03d}-{i:03d}",
            type="view",
            user_id=7,
            item_id=1_000 + i,
            item_type="resume",
            value=0.5,
            timestamp="2025-10-09T12:00:00",
        )
        for i in range(POST)
    ]


def _archive_ids(events: list[FeedbackEvent]) -> list[str]:
    return [stable_event_id("v1", e.user_id, e.event_id) for e in events]


def _row(i: int) -> ArchiveRow:
    return ArchiveRow(
        event_id=f"row-{i:05d}",
        log_name="app",
        description="#video #view",
        subject_id=i,
        subject_type=None,
        causer_id=7,
        causer_type=None,
        properties=json.dumps({"i": i}),
        url="/v1/events",
        created_at="2025-10-09T12:00:00",
    )


def _produce(client: redis.Redis, count: int) -> list[str]:
    """XADD ``count`` rows directly (no cap); their stream ids, oldest first."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(STREAM_KEY, _row(i).fields())  # type: ignore[arg-type]
    return [str(entry_id) for entry_id in pipe.execute()]


def _stream_event_ids(client: redis.Redis) -> list[str]:
    return [fields["event_id"] for _, fields in client.xrange(STREAM_KEY)]


def _stream_ids(client: redis.Redis) -> list[str]:
    return [str(entry_id) for entry_id, _ in client.xrange(STREAM_KEY)]


def _pending(client: redis.Redis) -> int:
    return int(client.xpending(STREAM_KEY, ARCHIVE_GROUP)["pending"])


def _drain(archiver: Archiver, client: redis.Redis) -> None:
    for _ in range(200):
        if archiver.run_once() == 0 and _pending(client) == 0:
            return
    raise AssertionError(f"not drained; {_pending(client)} pending")


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


def _archiver(client: redis.Redis, engine: Engine, consumer: str = "a1", **kw: Any) -> Archiver:
    archiver = Archiver(client, engine, ArchiverConfig(consumer=consumer, block_ms=20, **kw))
    archiver.ensure_group()
    return archiver


def test_a_full_stream_refuses_new_events_and_keeps_every_accepted_one(
    monkeypatch: pytest.MonkeyPatch, client: redis.Redis, engine: Engine, redis_url: str
) -> None:
    """The archiver is down (its group exists, nothing reads) while 6 x 100 events are
    tracked with a cap of 300: the first 300 stay in the stream, in order, none trimmed;
    the other 300 are refused, counted once and spooled. Then the archiver runs: every
    event lands in activity_log exactly once and the stream is empty."""
    monkeypatch.setattr(redis_store, "STREAM_MAXLEN", CAP)
    archiver = _archiver(client, engine, batch_size=500)
    tracker = Tracker(RedisStore.from_url(redis_url))
    posts = [_events(post) for post in range(6)]
    for events in posts:
        tracker.archive_feedback(events)
    every_id = [i for events in posts for i in _archive_ids(events)]

    in_stream = _stream_event_ids(client)
    assert in_stream == every_id[: len(in_stream)], (
        f"{len(in_stream)} entries left of {len(every_id)}: the oldest, never archived, "
        "were trimmed"
    )
    assert len(in_stream) == CAP
    counters = tracker.counters()
    assert counters["stream_refused"] == len(every_id) - CAP
    assert counters["stream_backlog"] == CAP
    assert counters["write_errors"] == 0  # a full stream is not a Redis failure

    tracker.stream.breaker.cooldown = 0.0  # every replay tries the stream again
    tracker.stream.backlog.max_age = 0.0
    for _ in range(20):
        _drain(archiver, client)
        if not len(tracker.spool):
            break
        tracker.replay_spool()
    with engine.connect() as connection:
        archived = list(connection.scalars(select(activity_log.c.event_id)))
        total = connection.scalar(select(func.count()).select_from(activity_log))
    assert sorted(archived) == sorted(every_id) and total == len(every_id)
    assert client.xlen(STREAM_KEY) == 0
    assert tracker.counters()["stream_backlog"] == 0
    assert tracker.counters()["stream_refused"] == len(every_id) - CAP  # not counted twice


def test_a_feed_is_served_and_tracked_while_its_archive_rows_are_refused(
    monkeypatch: pytest.MonkeyPatch, client: redis.Redis, redis_url: str
) -> None:
    """At the cap only the archive rows wait: the session, activity and impressions of
    the same write still reach Redis."""
    monkeypatch.setattr(redis_store, "STREAM_MAXLEN", 10)
    store = RedisStore.from_url(redis_url)
    _produce(client, 10)
    write = FeedWrites(
        activity_key="user_activity:7",
        activity_events=['{"event_type":"feed_request"}'],
        activity_ttl=60,
        session_key="session:7:s:videos",
        session_members=["1", "2"],
        session_ttl=60,
        impressions_key="pitchrec:imp:rq-cap",
        impressions={"r:1": "{}"},
        impressions_ttl=60,
        archive=[_row(100), _row(101)],
    )
    refused = store.write_feed([write])
    assert refused == [write]
    assert client.xlen(STREAM_KEY) == 10
    assert client.llen("user_activity:7") == 1
    assert client.scard("session:7:s:videos") == 2
    assert client.hlen("pitchrec:imp:rq-cap") == 1


def test_an_archiver_keeping_acked_entries_trims_them_and_nothing_else(
    client: redis.Redis, engine: Engine
) -> None:
    """``delete_acked=False`` (another group reads the stream): after each batch the
    archiver trims what every group has acknowledged, keeping pending entries (a dead
    consumer's batch) and entries another group has not read yet."""
    ids = _produce(client, 250)
    archiver = _archiver(client, engine, batch_size=100, delete_acked=False)

    archiver.run_once()  # 100 archived and acknowledged
    assert _stream_ids(client) == ids[100:]
    _drain(archiver, client)
    assert client.xlen(STREAM_KEY) == 0


def test_trimming_keeps_pending_entries_and_other_groups_unread_ones(
    client: redis.Redis, engine: Engine
) -> None:
    ids = _produce(client, 250)
    archiver = _archiver(client, engine, batch_size=100, delete_acked=False)
    # A consumer that read 50 entries and died: they stay pending in the archiver group.
    client.xreadgroup(ARCHIVE_GROUP, "dead", {STREAM_KEY: ">"}, count=50)
    # Another group has read and acknowledged 120 entries.
    client.xgroup_create(STREAM_KEY, "audit", id="0")
    read = client.xreadgroup("audit", "c", {STREAM_KEY: ">"}, count=120)
    client.xack(STREAM_KEY, "audit", *[entry_id for entry_id, _ in read[0][1]])

    _drain_new(archiver)  # the other 200: archived and acknowledged
    assert _stream_ids(client) == ids, "a pending entry was trimmed"
    # 250 entries kept, 50 of them unacknowledged: the gauge is lag + pending, not XLEN.
    assert RedisStore(client).stream_backlog() == 50

    client.xack(STREAM_KEY, ARCHIVE_GROUP, *ids[:50])  # the dead consumer's batch is done
    _produce(client, 1)
    _drain_new(archiver)
    assert _stream_ids(client)[0] == ids[120], "trimmed past what the other group read"


def _drain_new(archiver: Archiver) -> None:
    """Archive what no consumer has read yet (not the dead consumer's pending entries:
    the reclaim of idle entries is off)."""
    for _ in range(50):
        if archiver.run_once() == 0:
            return
    raise AssertionError("the archiver did not stop finding entries")


def test_the_backlog_counts_unread_and_pending_entries(
    client: redis.Redis, engine: Engine, redis_url: str
) -> None:
    store = RedisStore.from_url(redis_url)
    assert store.stream_backlog() == 0  # no stream yet
    _produce(client, 100)
    assert store.stream_backlog() == 100  # no group: nothing was ever archived
    archiver = _archiver(client, engine, batch_size=40)
    assert store.stream_backlog() == 100
    client.xreadgroup(ARCHIVE_GROUP, "dead", {STREAM_KEY: ">"}, count=30)  # read, not acked
    assert store.stream_backlog() == 100
    archiver.run_once()  # acknowledges (and deletes) 40 entries
    assert store.stream_backlog() == 60
    _drain_new(archiver)
    assert store.stream_backlog() == 30  # the dead consumer's batch is still pending


def test_the_served_metrics_show_the_stream_backlog(
    client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    _produce(client, 42)
    settings = Settings(redis_url=redis_url, refresh_seconds=0)
    with served(tmp_path, settings) as app:
        text = app.get("/metrics").text
    match = re.search(r"^pitchrec_tracking_stream_backlog (\S+)$", text, re.M)
    assert match is not None and float(match.group(1)) == 42.0, text


def test_the_archiver_logs_its_backlog(
    client: redis.Redis, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The archiver has no port: its periodic progress line carries the backlog."""
    _produce(client, 70)
    archiver = _archiver(client, engine, batch_size=50)
    archiver.run_once()
    report = progress_reporter(client, every=0.0)
    with caplog.at_level(logging.INFO, logger="pitchrec.archive.runner"):
        report(archiver)
    (record,) = [r for r in caplog.records if r.name == "pitchrec.archive.runner"]
    assert record.__dict__["backlog"] == 20 and record.__dict__["inserted"] == 50
