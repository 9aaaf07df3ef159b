"""The archive stream is capped without losing what it holds (issue 15, item 4 "stream cap").

Every tracked event used to be XADDed with ``MAXLEN ~ 10,000,000``: during an archiver or
MySQL outage the cap was reached and the oldest events, never archived, were trimmed
silently (the in-process store's archive queue, a ``deque(maxlen=...)``, did the same).
Now the stream refuses new rows at its cap instead: the refused rows wait in the tracking
spool (bounded in bytes, its drops counted) and are counted in
``pitchrec_tracking_stream_refused``; the backlog is exported as
``pitchrec_tracking_stream_backlog`` and alerted on (``deploy/k8s/monitoring/alerts.yaml``).

These tests use the in-process store (the embedded default) and its archiver; the same
behaviour against the real Redis and MariaDB is in
``tests/integration/test_hardening_stream_redis.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from pitchrec.archive.embedded import EmbeddedArchiver
from pitchrec.domain.events import FeedbackEvent
from pitchrec.legacy.events import stable_event_id
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.schema import activity_log
from pitchrec.tracking import memory_archive
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import STREAM_MAXLEN
from pitchrec.tracking.tracker import Tracker
from served_app import served

CAP = 100  # rows the archive queue holds at most, in these tests
POST = 40  # events per archive_feedback call
ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "monitoring" / "alerts.yaml"


def _events(post: int) -> list[FeedbackEvent]:
    return [
        FeedbackEvent(
            event_id=f"cap-{post:03d}-{i:03d}",
            type="like",
            user_id=7,
            item_id=1_000 + i,
            item_type="resume",
            timestamp="2025-10-09T12:00:00",
        )
        for i in range(POST)
    ]


def _archive_ids(events: list[FeedbackEvent]) -> list[str]:
    return [stable_event_id("v1", e.user_id, e.event_id) for e in events]


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    """An in-process store whose archive queue holds at most :data:`CAP` rows."""
    monkeypatch.setattr(memory_archive, "ARCHIVE_CAP", CAP)
    return MemoryStore(keep_archive=True)


def test_a_full_archive_queue_refuses_new_rows_and_keeps_the_old_ones(
    capped: MemoryStore,
) -> None:
    """The archiver is down while 5 x 40 events arrive, with room for 100: the first 80
    stay queued, in order (none dropped unarchived; a write's rows are all taken or all
    refused), the other 120 are refused, counted once and spooled."""
    tracker = Tracker(capped)
    posts = [_events(post) for post in range(5)]
    for events in posts:
        tracker.archive_feedback(events)
    every_id = [i for events in posts for i in _archive_ids(events)]

    queued = [row.event_id for row in capped.archive]
    assert queued == every_id[: len(queued)], "archived-never rows were dropped from the queue"
    assert len(queued) <= CAP
    refused = len(every_id) - len(queued)
    assert tracker.counters()["stream_refused"] == refused > 0
    assert sum(len(w.archive) for w in tracker.spool.take(1_000)) == refused  # they wait


def test_refused_rows_reach_activity_log_once_the_archiver_runs(
    capped: MemoryStore, sqlite_url: str
) -> None:
    """Once the archiver drains the queue, the spooled rows are replayed: every event
    lands in activity_log exactly once, and the replays are not counted again."""
    tracker = Tracker(capped)
    tracker.stream.breaker.cooldown = 0.0  # every replay tries the stream again
    posts = [_events(post) for post in range(5)]
    for events in posts:
        tracker.archive_feedback(events)
    refused = tracker.counters()["stream_refused"]
    engine = make_engine(sqlite_url)
    archiver = EmbeddedArchiver(capped, engine)
    archiver.start()
    archiver.stop()  # migrated, drained once
    for _ in range(20):
        if not len(tracker.spool):
            break
        tracker.replay_spool()
        archiver.drain()
    every_id = {i for events in posts for i in _archive_ids(events)}
    with engine.connect() as connection:
        ids = list(connection.scalars(select(activity_log.c.event_id)))
        total = connection.scalar(select(func.count()).select_from(activity_log))
    engine.dispose()
    assert set(ids) == every_id and total == len(every_id)
    assert not capped.archive and not len(tracker.spool)
    assert tracker.counters()["stream_refused"] == refused  # replays are not counted again


def test_the_backlog_is_a_gauge(capped: MemoryStore) -> None:
    tracker = Tracker(capped)
    tracker.stream.backlog.max_age = 0.0  # read on every call (a scrape caches it a few seconds)
    assert tracker.counters()["stream_backlog"] == 0
    tracker.archive_feedback(_events(0))
    assert tracker.counters()["stream_backlog"] == POST
    capped.drop_archive(10)
    assert tracker.counters()["stream_backlog"] == POST - 10


def test_the_metrics_endpoint_exports_the_backlog_and_the_refusals(tmp_path: Path) -> None:
    with served(tmp_path, Settings(refresh_seconds=0)) as client:
        text = client.get("/metrics").text
    assert re.search(r"^pitchrec_tracking_stream_backlog \d", text, re.M), text
    assert re.search(r"^pitchrec_tracking_stream_refused \d", text, re.M), text


def test_an_alert_fires_on_the_backlog_before_the_cap_and_on_any_refusal() -> None:
    (document,) = [d for d in yaml.safe_load_all(ALERTS.read_text(encoding="utf-8")) if d]
    assert document["kind"] == "PrometheusRule"
    rules = [rule for group in document["spec"]["groups"] for rule in group["rules"]]
    exprs = {rule["alert"]: " ".join(str(rule["expr"]).split()) for rule in rules}
    backlog = [e for e in exprs.values() if "pitchrec_tracking_stream_backlog" in e]
    thresholds = [float(m) for e in backlog for m in re.findall(r">\s*([0-9.e+]+)", e)]
    assert thresholds and all(0 < t < STREAM_MAXLEN for t in thresholds), exprs
    assert any("pitchrec_tracking_stream_refused" in e for e in exprs.values()), exprs
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
