"""Hardening of what a served feed writes: keys and stored user ids come from the parsed
user only, a request body cannot amplify what is stored, and the ids of impressions and
archive rows are server-made whatever ``X-Request-ID`` the client sends.

Every test goes through the FastAPI app on the in-process store, as a request would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

import pitchrec.api.runtime as runtime_module
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import FeedWrites
from pitchrec.tracking.tracker import FeedContext, Tracker
from served_app import served

HUGE = "x" * 100_000  # the 100 KB SELF_ID of the hardening issue
#: Per tracked event, at most (the legacy JSON of a view is about 250 bytes).
EVENT_BYTES = 512


class RecordingStore(MemoryStore):
    """The in-process store (archive kept), counting the bytes each write sends."""

    def __init__(self) -> None:
        super().__init__(keep_archive=True)
        self.writes: list[FeedWrites] = []

    def write_feed(self, writes: list[FeedWrites]) -> None:
        self.writes.extend(writes)
        super().write_feed(writes)

    def bytes_since(self, start: int) -> int:
        return sum(_size(w) for w in self.writes[start:])


def _size(w: FeedWrites) -> int:
    keys = (w.activity_key or "") + w.session_key + w.impressions_key
    values = sum(map(len, w.activity_events)) + sum(map(len, w.session_members))
    values += sum(len(k) + len(v) for k, v in w.impressions.items())
    values += sum(len(orjson.dumps(row.fields())) for row in w.archive)
    return len(keys) + values


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> RecordingStore:
    recording = RecordingStore()
    monkeypatch.setattr(runtime_module, "_make_store", lambda *_a, **_k: recording)
    return recording


@pytest.fixture
def client(tmp_path: Path, store: RecordingStore) -> Iterator[TestClient]:
    with served(tmp_path, Settings()) as test_client:
        yield test_client


def _post(client: TestClient, store: RecordingStore, body: Any, **kw: Any) -> FeedWrites:
    start = len(store.writes)
    response = client.post("/api/search/total", json=body, **kw)
    assert response.status_code == 200, response.text[:300]
    feeds = [w for w in store.writes[start:] if w.activity_key is not None]
    assert len(feeds) == 1
    return feeds[0]


def _users(writes: FeedWrites) -> set[object]:
    return {orjson.loads(e)["user_id"] for e in writes.activity_events}


def test_a_100_kb_self_id_stores_what_a_cold_start_stores(
    client: TestClient, store: RecordingStore
) -> None:
    start = len(store.writes)
    # The same session key: a session id is kept to its first 128 characters (D-S10).
    baseline = _post(client, store, {"SELF_ID": 0, "session_id": "x" * 128})
    baseline_bytes = store.bytes_since(start)
    start = len(store.writes)
    writes = _post(client, store, {"SELF_ID": HUGE, "session_id": HUGE})
    stored = store.bytes_since(start)
    assert stored < baseline_bytes + 2_048, (stored, baseline_bytes)  # not 5 MB
    assert writes.activity_key == baseline.activity_key == "user_activity:0"
    assert _users(writes) == _users(baseline) == {0}
    assert max(map(len, writes.activity_events)) <= EVENT_BYTES
    assert all(row.causer_id == 0 for row in writes.archive)
    assert max(len(row.properties) for row in writes.archive) <= EVENT_BYTES


@pytest.mark.parametrize(
    ("body", "user"),
    [
        ({}, 0),
        ({"SELF_ID": None}, 0),
        ({"SELF_ID": 0}, 0),
        ({"SELF_ID": "0"}, 0),
        ({"SELF_ID": "abc"}, 0),
        ({"SELF_ID": -5}, 0),
        ({"SELF_ID": 2**64}, 0),
        ({"SELF_ID": "9" * 30}, 0),
        ({"SELF_ID": [[[7]]]}, 0),
        ({"SELF_ID": {"id": 7}}, 0),
        ({"SELF_ID": 7}, 7),
        ({"SELF_ID": "7"}, 7),
        ({"SELF_ID": " 0007 "}, 7),
        ({"SELF_ID": 7.0}, 7),
        ({"SELF_ID": None, "user_id": 8}, 8),
    ],
)
def test_keys_and_stored_ids_come_from_the_parsed_user(
    client: TestClient, store: RecordingStore, body: dict[str, Any], user: int
) -> None:
    writes = _post(client, store, body)
    assert writes.activity_key == f"user_activity:{user}"
    assert _users(writes) == {user}
    assert {row.causer_id for row in writes.archive} == {user}


def test_tracked_params_are_bounded() -> None:
    """Whatever a caller puts in ``params``, a tracked event stays a few hundred bytes."""
    from factories import NOW, random_snapshot
    from pitchrec.ranking.engine import recommend
    from pitchrec.ranking.options import RankingOptions
    from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, legacy_pool_policies

    snapshot = random_snapshot(1, n_resumes=400, n_challenges=12, n_creators=250)
    request = FeedRequest(kind=FeedKind.TOTAL, user_id=None, seed=1, now=NOW)
    policies = legacy_pool_policies(DEFAULT_REWARD_SCALE, RankingOptions.service().blend_prior())
    feed: Feed = recommend(snapshot, request, policies, options=RankingOptions.service())
    store = RecordingStore()
    params: dict[str, Any] = {"size": 20, "nested": [[[[1]]]] * 1_000, "x" * 5_000: 1}
    params |= {"big": -(10**30)} | {f"k{i}": "v" * 10_000 for i in range(50)}
    context = FeedContext(
        raw_user=HUGE,
        endpoint="total",
        params=params,
        session_id=HUGE,
        request_id="r1",
        feed_type=lambda slot: slot,
        urls={},
    )
    Tracker(store).record_feed(feed, context, 1)
    (writes,) = store.writes
    request_event = orjson.loads(writes.activity_events[0])
    assert request_event["params"]["size"] == 20
    assert writes.activity_key == "user_activity:0"
    assert max(map(len, writes.activity_events)) <= EVENT_BYTES
    assert max(len(row.properties) for row in writes.archive) <= EVENT_BYTES


def test_the_same_x_request_id_for_two_users_keeps_their_tracking_apart(
    client: TestClient, store: RecordingStore
) -> None:
    headers = {"X-Request-ID": "same-id"}
    five = _post(client, store, {"SELF_ID": 5}, headers=headers)
    six = _post(client, store, {"SELF_ID": 6}, headers=headers)
    assert five.impressions_key != six.impressions_key
    assert "same-id" not in five.impressions_key + six.impressions_key
    ids_five = {row.event_id for row in five.archive}
    ids_six = {row.event_id for row in six.archive}
    assert not ids_five & ids_six
    archived: dict[int | None, set[str]] = {}
    for row in store.archive:
        archived.setdefault(row.causer_id, set()).add(row.event_id)
    assert archived[5] == ids_five and archived[6] == ids_six
    assert len(ids_five) == len(five.archive) and len(ids_six) == len(six.archive)


def test_v1_feed_request_ids_are_server_made(client: TestClient, store: RecordingStore) -> None:
    headers = {"X-Request-ID": "same-id"}
    first = client.get("/v1/feed/total", params={"user_id": 5, "size": 5}, headers=headers)
    second = client.get("/v1/feed/total", params={"user_id": 6, "size": 5}, headers=headers)
    ids = {first.json()["request_id"], second.json()["request_id"]}
    assert len(ids) == 2 and "same-id" not in ids
    assert first.headers["x-request-id"] == "same-id"  # a sane client id is still echoed
    assert first.headers["x-server-request-id"] == first.json()["request_id"]
    keys = {w.impressions_key for w in store.writes if w.impressions}
    assert keys == {f"pitchrec:imp:{i}" for i in ids}
    plain = client.get("/v1/feed/total", params={"user_id": 5, "size": 5})
    assert plain.json()["request_id"] == plain.headers["x-request-id"]
