"""The dashboard's archive figures against the real Redis: the stream backlog and the
archiver's lag (the age of the oldest entry of the event stream)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import redis

from pitchrec.api.stats import StreamAge
from pitchrec.settings import Settings
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import STREAM_KEY
from served_app import served

pytestmark = pytest.mark.integration

TOKEN = "dashboard-token-0123456789"


def _add(client: redis.Redis, seconds_ago: float, event_id: str) -> None:
    stamp = int((time.time() - seconds_ago) * 1000)
    client.xadd(STREAM_KEY, {"event_id": event_id, "row": "{}"}, id=f"{stamp}-0")


def test_the_stream_age_is_its_oldest_entry(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = RedisStore(client)
    assert StreamAge(store).reading.value() == math.inf  # no stream: nothing waits
    _add(client, 120.0, "old")
    _add(client, 5.0, "new")
    oldest = StreamAge(store).reading.value()
    assert time.time() - oldest == pytest.approx(120.0, abs=2.0)
    client.xdel(STREAM_KEY, client.xrange(STREAM_KEY, count=1)[0][0])  # archived: deleted
    assert time.time() - StreamAge(store).reading.value() == pytest.approx(5.0, abs=2.0)
    client.close()


def test_stats_report_the_backlog_and_lag_of_the_stream(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    _add(client, 30.0, "waiting")
    added = time.monotonic()
    settings = Settings(redis_url=redis_url, dashboard_token=TOKEN, refresh_seconds=0)
    with served(tmp_path, settings) as app:
        stats = app.get("/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    waited = time.monotonic() - added
    client.close()
    assert stats["archiver"]["kind"] == "redis stream"
    assert stats["archiver"]["backlog"] == 1  # no archiver group yet: the stream's length
    assert 29.5 <= stats["archiver"]["lag_seconds"] <= 30.5 + waited
    assert stats["tracking"]["redis"] is True
