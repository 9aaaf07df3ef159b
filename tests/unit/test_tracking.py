"""Tracking on the in-process store: legacy keys and JSON, session exclusion, impressions,
rewards reaching the policies, shared learning between replicas, and Redis outages."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.learning.feedback import FeedbackLoop, LearningConfig
from pitchrec.ranking.options import RankingOptions
from pitchrec.service import Recommender, RequestInfo, ServiceConfig, build_service
from pitchrec.sources.schema import CHALLENGE_MODEL_TYPE, RESUME_MODEL_TYPE
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import FeedWrites
from pitchrec.tracking.tracker import TrackingConfig, session_key


def _replica(store: MemoryStore, **config: Any) -> tuple[Recommender, FeedbackLoop]:
    """One replica on ``store``, built like the server; ``config``: TrackingConfig
    fields (``taste_profiles`` applies to learning too)."""
    profiles = config.get("taste_profiles", True)
    service = build_service(
        ServiceConfig(
            tracking=TrackingConfig(**config),
            learning=LearningConfig(taste_profiles=profiles),
        ),
        store,
        snapshot=random_snapshot(1, n_resumes=400, n_challenges=12, n_creators=250),
    )
    assert service.recommender is not None
    return service.recommender, service.feedback


def _serve(recommender: Recommender, request_id: str, **info: Any) -> Any:
    request = FeedRequest(kind=FeedKind.TOTAL, user_id=info.pop("user", 7), seed=1, now=NOW)
    return recommender.serve(request, RequestInfo(request_id=request_id, endpoint="total", **info))


def test_legacy_activity_list_session_set_and_archive_rows() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store)
    feed = _serve(recommender, "req1", raw_user=7, params={"excluded_count": 0}, session_id="s/1")
    tracker.process_once()
    events = [json.loads(e) for e in store.activity("user_activity:7")]
    assert len(events) == 1 + len(feed.items)
    assert events[-1]["event_type"] == "feed_request"  # pushed first, so last (newest first)
    assert events[-1]["params"] == {"excluded_count": 0}
    view = events[0]
    assert list(view) == [
        "event_type",
        "user_id",
        "video_id",
        "video_url",
        "position",
        "feed_type",
        "timestamp",
        "session_id",
    ]
    assert view["feed_type"] in ("VMP", "AU", "NU", "FW")
    assert view["session_id"] == "session:7:s_1"  # namespaced, sanitised (D-S10)
    members = store.session_members("session:7:s_1:videos")
    assert members == {str(item.item_id) for item in feed.items}
    rows = list(store.archive)
    assert len(rows) == 1 + len(feed.items)
    assert rows[0].description == "#feed #request #total"
    types = {r.subject_type for r in rows[1:]}
    assert types <= {RESUME_MODEL_TYPE, CHALLENGE_MODEL_TYPE} and CHALLENGE_MODEL_TYPE in types
    assert all(r.description.startswith("#video #view #") for r in rows[1:])
    assert len({r.event_id for r in rows}) == len(rows)


def test_impressions_can_be_archived_as_impressions_only() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store, impressions_as_views=False)
    _serve(recommender, "req1", raw_user=7)
    tracker.process_once()
    assert all(r.description.startswith("#feed #") for r in store.archive)


def test_session_exclusion_across_requests_without_client_lists() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store)
    first = _serve(recommender, "a", raw_user=7, session_id="scroll")
    tracker.process_once()
    second = _serve(recommender, "b", raw_user=7, session_id="scroll")
    assert not {i.item_id for i in first.items} & {i.item_id for i in second.items}
    other_session = _serve(recommender, "c", raw_user=7, session_id="other")
    assert {i.item_id for i in first.items} & {i.item_id for i in other_session.items}


def test_session_keys() -> None:
    assert session_key(5, "abc", 0) == "session:5:abc"
    assert session_key(None, "x y{z}", 0) == "session:anon:x_y_z_"
    assert session_key(5, None, 1234.9) == "session:5:1234"


def _reward_events(feed: Any, request_id: str, n: int, kind: str = "like") -> list[FeedbackEvent]:
    return [
        FeedbackEvent(
            event_id=f"{request_id}-{i}",
            type=kind,
            user_id=7,
            item_id=item.item_id,
            item_type=item.kind.value,
            request_id=request_id,
            position=item.position,
        )
        for i, item in enumerate(feed.items[:n])
        if item.pool.value in ("VMP", "AU", "NU")
    ]


def test_rewards_reach_the_policies_of_every_replica() -> None:
    shared = MemoryStore()
    replica_a, tracker_a = _replica(shared)
    replica_b, tracker_b = _replica(shared)
    feed = _serve(replica_a, "r1", raw_user=7)
    tracker_a.process_once()
    events = _reward_events(feed, "r1", 10)
    assert events
    tracker_b.record_events(events)  # the rewards arrive at the *other* replica
    tracker_b.process_once()
    assert tracker_b.stats.events_matched == len(events)
    tracker_b.sync_now()
    tracker_a.sync_now()
    for tracker, recommender in ((tracker_a, replica_a), (tracker_b, replica_b)):
        updates = sum(p.n_updates for p in tracker.learner.serving.values())
        assert updates == len(events)
        assert recommender.policies[next(iter(recommender.policies))] is not None
    theta_a = [np.asarray(p.describe()["theta"]) for p in tracker_a.learner.serving.values()]
    theta_b = [np.asarray(p.describe()["theta"]) for p in tracker_b.learner.serving.values()]
    for a, b in zip(theta_a, theta_b, strict=True):
        np.testing.assert_allclose(a, b)
    assert any(np.abs(a).sum() > 0 for a in theta_a)
    # Archived: v1 feedback rows, the like as "#resume #like" or "#challenge #like".
    feedback = [r for r in shared.archive if r.url == "/v1/events"]
    assert len(feedback) == len(events)


def test_unmatched_events_are_archived_but_do_not_learn() -> None:
    store = MemoryStore()
    _, tracker = _replica(store)
    event = FeedbackEvent("x", "like", user_id=1, item_id=5, item_type="resume", request_id="u")
    tracker.record_events([event, replace(event, event_id="y", request_id=None)])
    tracker.process_once()
    tracker.sync_now()
    assert tracker.stats.events_matched == 0
    assert sum(p.n_updates for p in tracker.learner.serving.values()) == 0
    assert len(store.archive) == 2


def test_liked_resumes_grow_the_users_taste_profile_on_every_replica() -> None:
    shared = MemoryStore()
    replica_a, tracker_a = _replica(shared)
    _, tracker_b = _replica(shared)
    feed = _serve(replica_a, "r1", raw_user=7)
    liked = [e for e in _reward_events(feed, "r1", 24) if e.item_type == "resume"][:3]
    skipped = [replace(e, event_id=e.event_id + "s", type="skip") for e in liked]
    forged = [replace(liked[0], event_id="forged", user_id=8)]  # another user's impression
    tracker_b.record_events(liked + skipped + forged)
    tracker_b.process_once()
    assert tracker_b.stats.profile_rewards == len(liked)
    state = tracker_a.tracker.request_state(7, None)  # read by the replica that served
    assert sorted(state.profile.resume_ids.tolist()) == sorted(e.item_id for e in liked)
    assert state.profile.weights.tolist() == [1.0] * len(liked)
    assert len(tracker_a.tracker.request_state(8, None).profile) == 0
    assert tracker_a.tracker.request_state(None, None).profile is not None  # anonymous: empty


def test_taste_profiles_can_be_turned_off() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store, taste_profiles=False)
    feed = _serve(recommender, "r1", raw_user=7)
    tracker.record_events(_reward_events(feed, "r1", 10))
    tracker.process_once()
    assert tracker.stats.events_matched > 0 and tracker.stats.profile_rewards == 0
    assert store.read_request_state(None, "pitchrec:profile:7") == (set(), {})


def test_policy_version_bump_resets_learning() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store)
    feed = _serve(recommender, "r1", raw_user=7)
    tracker.process_once()
    tracker.record_events(_reward_events(feed, "r1", 6))
    tracker.process_once()
    tracker.sync_now()
    assert sum(p.n_updates for p in tracker.learner.serving.values()) > 0
    store.set_policy_version(2)
    tracker.sync_now()
    assert tracker.learner.version == 2
    assert sum(p.n_updates for p in tracker.learner.serving.values()) == 0


class FlakyStore(MemoryStore):
    """A store whose writes fail while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def write_feed(self, writes: list[FeedWrites]) -> None:
        if self.down:
            raise ConnectionError("redis is down")
        super().write_feed(writes)

    def session_members(self, key: str) -> set[str]:
        if self.down:
            raise ConnectionError("redis is down")
        return super().session_members(key)

    def read_request_state(
        self, session_key: str | None, profile_key: str | None
    ) -> tuple[set[str], dict[str, str]]:
        if self.down:
            raise ConnectionError("redis is down")
        return super().read_request_state(session_key, profile_key)

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        if self.down:
            raise ConnectionError("redis is down")
        super().add_profiles(increments, ttl)


def test_outage_spools_writes_and_replays_them_when_back() -> None:
    store = FlakyStore()
    recommender, tracker = _replica(store)
    tracker.tracker.breaker.cooldown = 0.0
    store.down = True
    feeds = [_serve(recommender, f"r{i}", raw_user=7, session_id="s") for i in range(5)]
    for _ in range(5):
        tracker.process_once()
    assert len(tracker.tracker.spool) == 5 and not store.archive
    store.down = False
    tracker.process_once()
    assert len(tracker.tracker.spool) == 0
    assert len(store.archive) == sum(1 + len(f.items) for f in feeds)
    assert tracker.tracker.spool.dropped == 0


def test_spool_overflow_is_counted() -> None:
    """Past its byte budget the spool drops its oldest writes, counted in entries and in
    bytes (the RSS this bounds is measured in test_spool_bytes.py)."""
    store = FlakyStore()
    budget = 100_000  # estimated bytes: two 25-item feeds (about 36 KB each), not four
    recommender, tracker = _replica(store, spool_max_bytes=budget)
    store.down = True
    for i in range(5):
        _serve(recommender, f"r{i}", raw_user=7)
        tracker.process_once()
    spool = tracker.tracker.spool
    counters = tracker.tracker.counters()
    assert spool.dropped >= 2 and len(spool) >= 1 and len(spool) + spool.dropped == 5
    assert counters["spool_dropped"] == spool.dropped
    assert 0 < counters["spool_bytes"] == sum(spool.sizes()) <= budget
    assert counters["spool_dropped_bytes"] >= 10_000 * spool.dropped  # a feed is >10 KB


@pytest.mark.parametrize("kind", ["view", "like", "skip", "share", "save", "match"])
def test_reward_mapping(kind: str) -> None:
    from pitchrec.learning.rewards import reward

    value = reward(kind, 0.4)
    assert value is not None and 0.0 <= value <= 1.0
    assert reward("view", 0.4) == 0.4 and reward("view", 7.0) == 1.0
    assert reward("skip", None) == 0.0 and reward("nope", None) is None


def test_a_reward_queued_with_its_own_feed_still_learns() -> None:
    store = MemoryStore()
    recommender, tracker = _replica(store)
    feed = _serve(recommender, "same-batch", raw_user=7)
    events = _reward_events(feed, "same-batch", 5)
    tracker.record_events(events)  # queued before the feed's impressions were written
    tracker.process_once()
    assert tracker.stats.events_matched == len(events)


def test_memory_store_evicts_the_least_recently_written_keys_past_its_bytes() -> None:
    """The byte budget in small (the RSS it bounds: test_memory_store_bytes.py)."""
    store = MemoryStore(keep_archive=False, max_bytes=100_000)
    event = "e" * 1_000  # about 1 KB an entry: a key of 10 entries holds about 11 KB
    for i in range(50):
        store.write_feed([FeedWrites(f"user_activity:{i}", [event] * 10, 60)])
        if i == 3:
            store.write_feed([FeedWrites("user_activity:0", [event], 60)])  # rewritten
    assert 90_000 < store.bytes_held() <= 100_000
    assert store.activity("user_activity:49") == [event] * 10
    assert store.activity("user_activity:1") == []  # the least recently written went first
    kept = [i for i in range(50) if store.activity(f"user_activity:{i}")]
    assert kept == list(range(kept[0], 50)) and len(kept) < 10
    assert not store.archive  # nothing archives: rows are not kept


def test_memory_store_keeps_profiles_apart_from_impression_churn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pitchrec.tracking import memory_profiles, memory_store

    clock = {"now": 0.0}
    store = MemoryStore(lambda: clock["now"], keep_archive=False)
    store.add_profiles({"pitchrec:profile:1": {"5": 1.0}}, ttl=100)
    churn = [  # twice the bytes the keys may hold
        FeedWrites(None, [], 60, f"s:{i}", ["1"], 60, f"imp:{i}", {"r:1": "x" * 10_000}, 60)
        for i in range(2 * memory_store.MAX_BYTES // 10_000)
    ]
    store.write_feed(churn)  # evicts every older key of the capped kinds
    assert store.read_request_state(None, "pitchrec:profile:1")[1] == {"5": "1.0"}
    clock["now"] = 101.0
    assert store.read_request_state(None, "pitchrec:profile:1") == (set(), {})
    store.add_profiles({"pitchrec:profile:1": {"6": 1.0}}, ttl=100)  # expired: afresh
    assert store.read_request_state(None, "pitchrec:profile:1")[1] == {"6": "1.0"}
    monkeypatch.setattr(memory_profiles, "PROFILE_CAP", 3)
    store.add_profiles({f"pitchrec:profile:{u}": {"1": 1.0} for u in range(2, 6)}, ttl=100)
    assert store.read_request_state(None, "pitchrec:profile:1") == (set(), {})  # oldest
    assert store.read_request_state(None, "pitchrec:profile:5")[1] == {"1": "1.0"}


def test_posted_skips_reach_the_profile_when_the_ranking_reads_them() -> None:
    """A skip posted for a served resume is read back with the next request's profile as
    a skip (not a reward), and only by a service whose ranking folds skips in."""
    for folds, expected in ((True, 1.0), (False, None)):
        store = MemoryStore()
        ranking = replace(RankingOptions.service(), fold_in_skips=folds)
        service = build_service(
            ServiceConfig(ranking=ranking),
            store,
            snapshot=random_snapshot(1, n_resumes=400, n_challenges=12, n_creators=250),
        )
        assert service.recommender is not None
        feed = _serve(service.recommender, "r-skip", raw_user=7)
        skips = _reward_events(feed, "r-skip", 10, kind="skip")
        service.feedback.record_events(skips)
        service.feedback.process_once()
        profile = service.feedback.tracker.request_state(7, None).profile
        assert len(profile) == 0  # no reward: still cold
        counted = dict(zip(profile.skipped_ids.tolist(), profile.skips.tolist(), strict=True))
        assert skips and counted.get(skips[0].item_id) == expected
