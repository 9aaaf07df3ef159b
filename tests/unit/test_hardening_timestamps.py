"""Hardening: a v1 event's client timestamp becomes ``activity_log.created_at`` only inside
a window around the server clock; outside it the request is a 422 naming the field.

A view dated 2099 used to count as recent until 2099, and year-1 events were accepted and
then dropped by the archiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import pitchrec.api.runtime as runtime_module
from pitchrec.api.v1 import FUTURE_SKEW, PAST_WINDOW
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from served_app import served

#: Room for the time a request takes between the test's clock and the server's.
MARGIN = timedelta(seconds=30)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    kept = MemoryStore(keep_archive=True)
    monkeypatch.setattr(runtime_module, "_make_store", lambda *_a, **_k: kept)
    return kept


@pytest.fixture
def client(tmp_path: Path, store: MemoryStore) -> Iterator[TestClient]:
    with served(tmp_path, Settings()) as test_client:
        yield test_client


def _post(client: TestClient, stamp: datetime | str, event_id: str = "e1") -> Any:
    text = stamp if isinstance(stamp, str) else stamp.isoformat()
    event = {
        "event_id": event_id,
        "type": "view",
        "user_id": 1,
        "item_id": 2,
        "item_type": "resume",
        "value": 0.5,
        "timestamp": text,
    }
    return client.post("/v1/events", json={"events": [event]})


def test_the_window_constants() -> None:
    assert timedelta(days=7) == PAST_WINDOW
    assert timedelta(minutes=5) == FUTURE_SKEW


@pytest.mark.parametrize(
    "offset",
    [-PAST_WINDOW + MARGIN, timedelta(0), FUTURE_SKEW - MARGIN],
    ids=["oldest", "now", "latest"],
)
def test_timestamps_inside_the_window_are_archived_as_given(
    client: TestClient, store: MemoryStore, offset: timedelta
) -> None:
    stamp = datetime.now(UTC) + offset
    assert _post(client, stamp).status_code == 202
    (row,) = [r for r in store.archive if r.url == "/v1/events"]
    assert row.created_at == stamp.replace(tzinfo=None).isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    "offset",
    [-PAST_WINDOW - MARGIN, FUTURE_SKEW + MARGIN, timedelta(days=365 * 70)],
    ids=["too-old", "too-new", "2099"],
)
def test_timestamps_outside_the_window_are_a_422_naming_the_field(
    client: TestClient, store: MemoryStore, offset: timedelta
) -> None:
    response = _post(client, datetime.now(UTC) + offset)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events.0.timestamp"
    assert "window" in response.json()["detail"][0]["message"]
    assert not [r for r in store.archive if r.url == "/v1/events"]


def test_offsets_and_naive_timestamps_are_read_as_utc(
    client: TestClient, store: MemoryStore
) -> None:
    now = datetime.now(UTC)
    east = now.astimezone(timezone(timedelta(hours=14)))  # same instant, +14:00
    assert _post(client, east, "east").status_code == 202
    naive_old = (now - PAST_WINDOW - MARGIN).replace(tzinfo=None)
    assert _post(client, naive_old, "naive").status_code == 422
    (row,) = [r for r in store.archive if r.url == "/v1/events"]
    assert row.created_at == now.replace(tzinfo=None).isoformat(timespec="microseconds")
