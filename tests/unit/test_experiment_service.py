"""An experiment wired through the service (issue 14, item 1): each variant ranks with its
own options and learns into its own statistics (the control keeps today's keys), every
impression and archived row carries the variant, the shared counters count each
impression's first like once and take the variant from the impression, and without an
experiment nothing of it is written."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.experiment import ExperimentSpec, parse_experiment
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.learner import variant_namespace
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import experiment_key, impression_key

SPEC = parse_experiment(
    {
        "name": "x1",
        "variants": {
            "control": {"weight": 1},
            "b": {"weight": 1, "ranking": ["@learned_blend=true"], "reward_scale": 10},
        },
    }
)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return random_snapshot(3, n_resumes=400, n_challenges=12, n_creators=250, n_users=60)


def _service(snapshot: Snapshot, store: MemoryStore, spec: ExperimentSpec | None = SPEC) -> Service:
    return build_service(ServiceConfig(experiment=spec), store, snapshot=snapshot)


def _serve(service: Service, user: int | None, session: str | None = None) -> tuple[Feed, str]:
    assert service.recommender is not None
    request_id = f"req{next(_ids)}"
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=user, seed=1, now=NOW, size=12)
    info = RequestInfo(request_id, "v1/discover", user, session_id=session)
    return service.recommender.serve(request, info), request_id


def _user_in(variant: str) -> int:
    from pitchrec.domain.experiment import assign

    return next(u for u in range(1, 1_000) if assign(SPEC, u, None).variant == variant)


def _event(kind: str, user: int, feed: Feed, request_id: str, index: int = 0) -> FeedbackEvent:
    item = [i for i in feed.items if i.pool.value in ("VMP", "AU", "NU")][index]
    value = 0.5 if kind == "view" else None
    return FeedbackEvent(
        f"e{next(_ids)}", kind, user, item.item_id, item.kind.value, request_id, value=value
    )


def _counters(store: MemoryStore) -> dict[str, str]:
    return store.read_hashes([experiment_key("x1", "total")])[0]


def _impressions(store: MemoryStore, request_id: str) -> list[dict[str, Any]]:
    raw = store._hashes[impression_key(request_id)]
    return [orjson.loads(value) for value in raw.values()]


def test_without_an_experiment_nothing_changes(snapshot: Snapshot) -> None:
    store = MemoryStore()
    service = _service(snapshot, store, spec=None)
    feed, request_id = _serve(service, 5)
    assert feed.variant is None and service.experiment is None
    for impression in _impressions(store, request_id):
        assert list(impression) == [
            "pool", "slot", "position", "score", "propensity", "policy_version", "context",
            "user_id", "ts", "blend_arm",
        ]  # fmt: skip
    rows = list(store.archive)
    assert rows and not any(b"variant" in row.properties.encode() for row in rows)
    service.record_events([_event("like", 5, feed, request_id)])
    service.feedback.process_once()
    service.feedback.sync_now()
    assert not [k for k in store._stats if "exp" in k]
    # The pool's statistics and the blend search's (the default), nothing else.
    assert {k for k in store._stats} == {"pitchrec:policy:v1:VMP", "pitchrec:policy:v1:VMP:blend"}
    assert not store._flags


def test_each_variant_ranks_with_its_own_options(snapshot: Snapshot) -> None:
    service = _service(snapshot, MemoryStore())
    control, _ = _serve(service, _user_in("control"))
    variant, _ = _serve(service, _user_in("b"))
    assert control.variant == "control" and variant.variant == "b"
    scored = [i for i in control.items if i.context]
    assert scored and {len(i.context) for i in scored} == {18}  # the searched blend's points
    assert {len(i.context) for i in variant.items if i.context} == {20}  # learned_blend=true


def test_impressions_and_archive_rows_carry_the_variant(snapshot: Snapshot) -> None:
    store = MemoryStore()
    service = _service(snapshot, store)
    user = _user_in("b")
    feed, request_id = _serve(service, user)
    tags = {"experiment": "x1", "variant": "b", "assigned": "b"}
    for impression in _impressions(store, request_id):
        assert {k: impression[k] for k in tags} == tags
        assert Impression.from_json(orjson.dumps(impression)).assignment is not None
    for row in store.archive:
        assert {k: orjson.loads(row.properties)[k] for k in tags} == tags
    store.archive.clear()
    service.record_events([_event("like", user, feed, request_id)])
    (row,) = store.archive
    assert orjson.loads(row.properties)["variant"] == "b"  # from the impression
    # An anonymous request without a session is served the control, not randomised.
    anonymous, request_id = _serve(service, None)
    assert anonymous.variant == "control"
    assert {i["assigned"] for i in _impressions(store, request_id)} == {None}


def test_each_variant_learns_into_its_own_statistics(snapshot: Snapshot) -> None:
    store = MemoryStore()
    service = _service(snapshot, store)
    for variant, likes in (("control", 2), ("b", 3)):
        user = _user_in(variant)
        feed, request_id = _serve(service, user)
        events = [_event("like", user, feed, request_id, i) for i in range(likes)]
        service.record_events(events)
    service.feedback.process_once()
    service.feedback.sync_now()
    totals = store.read_stats(
        ["pitchrec:policy:v1:VMP", "pitchrec:policy:v1:AU", "pitchrec:policy:v1:NU"]
    )
    assert sum(fields.get("n_updates", 0.0) for fields in totals.values()) == 2  # control's keys
    namespace = variant_namespace("x1", "b")
    assert namespace == ":exp:x1:b"
    keys = [f"pitchrec:policy:v1:{pool}:d20{namespace}" for pool in ("VMP", "AU", "NU")]
    assert sum(f.get("n_updates", 0.0) for f in store.read_stats(keys).values()) == 3
    # ... and serves what it learned: b's policies, not the control's.
    assert service.recommender is not None and service.recommender.variants is not None
    _, policies = service.recommender.variants.arm("b")
    assert sum(p.n_updates for p in policies.values()) == 3
    assert sum(p.n_updates for p in service.recommender.policies.values()) == 2


def test_counters_count_the_first_like_of_an_impression_once(snapshot: Snapshot) -> None:
    store = MemoryStore()
    service = _service(snapshot, store)
    user = _user_in("b")
    feed, request_id = _serve(service, user)
    assert _counters(store) == {"b:impressions": str(len(feed.items))}
    like = _event("like", user, feed, request_id)
    twice = FeedbackEvent("other-id", "like", user, like.item_id, like.item_type, request_id)
    view = _event("view", user, feed, request_id, 1)
    save = _event("save", user, feed, request_id, 2)
    skip = _event("skip", user, feed, request_id, 3)
    foreign = FeedbackEvent("f1", "like", user + 1, like.item_id, like.item_type, request_id)
    no_impression = FeedbackEvent("n1", "like", user, like.item_id, like.item_type, "unknown")
    service.record_events([like, like, twice, view, save, skip, foreign, no_impression])
    service.feedback.process_once()
    counters = _counters(store)
    assert counters["b:likes"] == "1"  # a retry and a second id for the same like: once
    assert counters["b:views"] == "1" and float(counters["b:watch"]) == 0.5
    assert counters["b:saves"] == "1"
    assert "control:likes" not in counters
    assert service.feedback.stats.events_foreign == 1
    # The hour of the impression got the same counts.
    (hour,) = [k for k in store._stats if k.startswith("pitchrec:exp:x1:h:")]
    assert store.read_hashes([hour])[0] == counters
    # This process's series, for Prometheus.
    monitor = service.experiment
    assert monitor is not None
    impressions, feedback, watch = monitor.local.snapshot()
    assert sum(impressions.values()) == len(feed.items)
    assert sum(v for k, v in feedback.items() if k[3] == "like") == 1
    assert sum(watch.values()) == 0.5


def test_a_stopped_variants_users_get_the_control_and_count_nowhere(snapshot: Snapshot) -> None:
    store = MemoryStore()
    service = _service(snapshot, store)
    monitor = service.experiment
    assert monitor is not None
    store.set_field_once(experiment_key("x1", "stopped"), "b", '{"reason": "test"}', 60)
    assert monitor.refresh() and monitor.stopped == {"b"}
    user = _user_in("b")
    feed, request_id = _serve(service, user)
    assert feed.variant == "control"
    assert {i["assigned"] for i in _impressions(store, request_id)} == {"b"}
    assert {len(i.context) for i in feed.items if i.context} == {18}  # control's options
    assert _counters(store) == {}  # counted neither as b nor as control
    service.record_events([_event("like", user, feed, request_id)])
    service.feedback.process_once()
    service.feedback.sync_now()
    assert _counters(store) == {}
    # It learned, as the control's policies served it.
    assert sum(p.n_updates for p in service.learner.serving.values()) == 1


def test_impressions_of_a_variant_no_longer_configured_teach_nobody(snapshot: Snapshot) -> None:
    store = MemoryStore()
    old = _service(snapshot, store)
    user = _user_in("b")
    feed, request_id = _serve(old, user)
    renamed = parse_experiment(
        {"name": "x2", "variants": {"control": {"weight": 1}, "c": {"weight": 1}}}
    )
    new = _service(snapshot, store, renamed)
    new.record_events([_event("like", user, feed, request_id)])
    new.feedback.process_once()
    new.feedback.sync_now()
    assert new.feedback.stats.events_variant_gone == 1
    assert sum(p.n_updates for p in new.learner.serving.values()) == 0
