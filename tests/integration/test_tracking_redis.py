"""Tracking against the real Redis: the legacy keys with their TTLs, one round trip per
feed, and learning statistics that add up exactly under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import time

import numpy as np
import pytest
import redis

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest, Pool
from pitchrec.learning.feedback import FeedbackLoop
from pitchrec.learning.learner import PolicyLearner
from pitchrec.learning.stats_window import StatsWindow
from pitchrec.policies.deltas import flatten_delta
from pitchrec.ranking.pool_policies import LEGACY_REWARD_SCALE, pool_policy_factory
from pitchrec.service import Recommender, RequestInfo, ServiceConfig, build_service
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import (
    STREAM_KEY,
    impression_field,
    impression_key,
    policy_stats_key,
)

pytestmark = pytest.mark.integration


def _replica(url: str) -> tuple[Recommender, FeedbackLoop]:
    snapshot = random_snapshot(2, n_resumes=300, n_challenges=10, n_creators=200)
    service = build_service(ServiceConfig(), RedisStore.from_url(url), snapshot=snapshot)
    assert service.recommender is not None
    return service.recommender, service.feedback


def test_feed_writes_legacy_keys_with_ttls_in_one_round_trip(redis_url: str) -> None:
    recommender, tracker = _replica(redis_url)
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=42, seed=3, now=NOW)
    info = RequestInfo(request_id="rq1", endpoint="discover", raw_user=42, params={"size": 20})
    feed = recommender.serve(request, info)
    tracker.process_once()
    assert tracker.tracker.stats.round_trips == 1
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    events = [json.loads(e) for e in client.lrange("user_activity:42", 0, -1)]
    assert events[-1] == {**events[-1], "event_type": "feed_request", "params": {"size": 20}}
    assert {e["feed_type"] for e in events[:-1]} == {"resume"}  # spec 4.3 for /discover
    assert 86_000 < client.ttl("user_activity:42") <= 86_400
    assert client.hlen("pitchrec:imp:rq1") == len(feed.items)
    assert client.ttl("pitchrec:imp:rq1") > 0
    assert client.xlen(STREAM_KEY) == 1 + len(feed.items)
    session_keys = list(client.scan_iter("session:42:*:videos"))
    assert len(session_keys) == 1 and 3_500 < client.ttl(session_keys[0]) <= 3_600


def _publish(url: str, worker: int, batches: int) -> None:
    """One process: learn and publish ``batches`` deltas for the VMP pool."""
    store = RedisStore.from_url(url)
    learner = PolicyLearner(store, pool_policy_factory(LEGACY_REWARD_SCALE))
    rng = np.random.default_rng(worker)
    for _ in range(batches):
        for _ in range(5):
            learner.observe("VMP", rng.random(18), 1, float(rng.random()))
        assert learner.sync()


def test_concurrent_publishers_sum_exactly(redis_url: str) -> None:
    """Several processes publish at once: the global totals equal the exact sum."""
    workers, batches = 4, 25
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_publish, args=(redis_url, w, batches)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    expected = pool_policy_factory(LEGACY_REWARD_SCALE)()[Pool.VMP]
    for worker in range(workers):
        rng = np.random.default_rng(worker)
        for _ in range(batches * 5):
            expected.update(
                rng.random(18).reshape(1, -1), np.asarray([1]), np.asarray([float(rng.random())])
            )
    store = RedisStore.from_url(redis_url)
    totals = store.read_stats([policy_stats_key(1, "VMP")])[policy_stats_key(1, "VMP")]
    want = flatten_delta(expected.pending_delta())
    assert totals["n_updates"] == workers * batches * 5
    for name, value in want.items():
        assert totals[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_a_retried_batch_is_applied_once(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    increments = {policy_stats_key(1, "AU"): {"n_updates": 1.0, "b[0]": 0.5}}
    assert store.add_stats("batch-1", increments) is True
    assert store.add_stats("batch-1", increments) is False
    totals = store.read_stats([policy_stats_key(1, "AU")])[policy_stats_key(1, "AU")]
    assert totals == {"n_updates": 1.0, "b[0]": 0.5}


def test_windowed_statistics_expire_and_fade_on_every_replica(redis_url: str) -> None:
    """With a learning window, each epoch's statistics get a TTL in Redis, and replicas
    serve the same weighed totals."""
    now = {"t": 500 * 3_600.0}
    window = StatsWindow(3_600.0)
    factory = pool_policy_factory(LEGACY_REWARD_SCALE)
    first, second = (
        PolicyLearner(
            RedisStore.from_url(redis_url), factory, window=window, clock=lambda: now["t"]
        )
        for _ in range(2)
    )
    for _ in range(4):
        first.observe("VMP", np.ones(18), 1, 1.0)
    assert first.sync()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = policy_stats_key(1, "VMP") + ":w500"
    assert client.hget(key, "n_updates") == "4"
    assert window.ttl - 5 <= client.ttl(key) <= window.ttl
    assert not client.exists(policy_stats_key(1, "VMP"))  # nothing outside the window keys
    now["t"] += 1.5 * 3_600.0  # half of epoch 500 still inside the window
    assert first.sync() and second.sync()
    assert first.describe() == second.describe()
    assert first.serving["VMP"].n_updates == 2


def test_replica_b_learns_from_events_posted_to_replica_a(redis_url: str) -> None:
    replica_a, tracker_a = _replica(redis_url)
    replica_b, tracker_b = _replica(redis_url)
    tracker_a.start()
    tracker_b.start()
    try:
        request = FeedRequest(kind=FeedKind.TOTAL, user_id=7, seed=1, now=NOW)
        feed = replica_a.serve(request, RequestInfo(request_id="rA", endpoint="total"))
        reader = RedisStore.from_url(redis_url)
        lookups = [
            (impression_key("rA"), impression_field(i.kind.value, i.item_id)) for i in feed.items
        ]
        deadline = time.monotonic() + 5  # the feed's pipeline reaches Redis
        while None in reader.read_impressions(lookups):
            assert time.monotonic() < deadline, "the feed's impressions never reached Redis"
            time.sleep(0.01)
        events = [
            FeedbackEvent(f"e{i}", "like", 7, item.item_id, item.kind.value, request_id="rA")
            for i, item in enumerate(feed.items)
            if item.pool.value in ("VMP", "AU", "NU")
        ]
        started = time.monotonic()
        tracker_a.record_events(events)
        while time.monotonic() - started < 5:
            if sum(p.n_updates for p in replica_b.policies.values()) == len(events):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        assert sum(p.n_updates for p in replica_b.policies.values()) == len(events)
        assert elapsed <= 2.5, f"replica B saw the learning after {elapsed:.2f} s"
        print(f"[tracking] replica B learned {len(events)} rewards in {elapsed:.2f} s")
    finally:
        tracker_a.stop()
        tracker_b.stop()


def test_taste_profiles_on_redis_add_up_expire_and_come_back_with_the_session(
    redis_url: str,
) -> None:
    """The request state is one round trip (session set + profile hash); profile
    increments are additive across replicas and keep the profile alive for its TTL."""
    store_a, store_b = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    store_a.add_profiles({"pitchrec:profile:42": {"5": 1.0, "6": 0.5}}, ttl=2_592_000)
    store_b.add_profiles({"pitchrec:profile:42": {"5": 1.0}}, ttl=2_592_000)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.sadd("session:42:s:videos", "5", "9")
    members, fields = store_a.read_request_state("session:42:s:videos", "pitchrec:profile:42")
    assert members == {"5", "9"}
    assert {k: float(v) for k, v in fields.items()} == {"5": 2.0, "6": 0.5}
    assert 2_591_000 < client.ttl("pitchrec:profile:42") <= 2_592_000
    assert store_a.read_request_state(None, "pitchrec:profile:43") == (set(), {})
    assert store_a.read_request_state(None, None) == (set(), {})
    _, tracker = _replica(redis_url)
    state = tracker.tracker.request_state(42, "s")
    assert state.seen == frozenset({5, 9})
    assert state.profile.resume_ids.tolist() == [5, 6]


def test_event_claims_are_first_come_across_replicas_and_expire(redis_url: str) -> None:
    a, b = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    keys = ["pitchrec:event:v1:7:e1", "pitchrec:event:v1:7:e2", "pitchrec:event:v1:7:e1"]
    assert a.claim_events(keys, ttl=60) == [True, True, False]  # a repeat in one batch
    assert b.claim_events(keys[:2], ttl=60) == [False, False]  # the other replica
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert 0 < client.ttl(keys[0]) <= 60
