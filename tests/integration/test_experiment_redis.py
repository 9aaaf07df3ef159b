"""Experiments against the real Redis: the counters grow in the feed's own round trip,
the Redis adapter and the in-process store answer alike, and two replicas share the
counters, the guardrail's stop and the variants' learning."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.experiment import assign, parse_experiment
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import (
    EXPERIMENT_HOUR_TTL,
    EXPERIMENT_TTL,
    FeedWrites,
    TrackingStore,
    experiment_key,
)

pytestmark = pytest.mark.integration

SPEC = parse_experiment(
    {
        "name": "r1",
        "variants": {
            "control": {"weight": 1},
            "b": {"weight": 1, "ranking": ["@fresh_share=1"], "reward_scale": 5},
        },
        "min_impressions": 100,
        "effect_size": 0.1,
    }
)
_ids = itertools.count(1)


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[TrackingStore]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        redis_store = RedisStore.from_url(request.getfixturevalue("redis_url"))
        yield redis_store
        redis_store.client.close()


def test_counters_and_stops_answer_alike(store: TrackingStore) -> None:
    total, hour, stopped = (experiment_key("r1", p) for p in ("total", "h:3600", "stopped"))
    writes = FeedWrites(
        counters={total: {"b:impressions": 3, "b:watch": 0.25}, hour: {"b:impressions": 3}},
        counter_ttls={total: EXPERIMENT_TTL, hour: EXPERIMENT_HOUR_TTL},
    )
    assert store.write_feed([writes, writes]) == []
    assert store.read_hashes([total, hour, "pitchrec:exp:r1:none"]) == [
        {"b:impressions": "6", "b:watch": "0.5"},
        {"b:impressions": "6"},
        {},
    ]
    assert store.set_field_once(stopped, "b", "first", 60) is True
    assert store.set_field_once(stopped, "b", "second", 60) is False
    assert store.read_hashes([stopped]) == [{"b": "first"}]


def test_ttls_in_redis(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    total, hour = experiment_key("r1", "total"), experiment_key("r1", "h:0")
    store.write_feed(
        [
            FeedWrites(
                counters={total: {"x:likes": 1}, hour: {"x:likes": 1}},
                counter_ttls={total: EXPERIMENT_TTL, hour: EXPERIMENT_HOUR_TTL},
            )
        ]
    )
    with redis.Redis.from_url(redis_url) as client:
        assert EXPERIMENT_TTL - 10 < client.ttl(total) <= EXPERIMENT_TTL
        assert EXPERIMENT_HOUR_TTL - 10 < client.ttl(hour) <= EXPERIMENT_HOUR_TTL
    store.client.close()


def _replica(url: str) -> Service:
    snapshot = random_snapshot(2, n_resumes=300, n_challenges=10, n_creators=200)
    return build_service(
        ServiceConfig(experiment=SPEC), RedisStore.from_url(url), snapshot=snapshot
    )


def _close(*replicas: Service) -> None:
    for replica in replicas:
        replica.stop()
        store = replica.store
        assert isinstance(store, RedisStore)
        store.client.close()


def _feed_and_react(service: Service, user: int, like: bool) -> str:
    assert service.recommender is not None
    request_id = f"rq{next(_ids)}"
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=user, seed=user, now=NOW, size=10)
    feed = service.recommender.serve(request, RequestInfo(request_id, "v1/discover", user))
    events = [
        FeedbackEvent(
            f"e{next(_ids)}", "like" if like else "skip", user, i.item_id, i.kind.value, request_id
        )
        for i in feed.items
    ]
    service.record_events(events)
    assert feed.variant is not None
    return feed.variant


def test_two_replicas_share_counters_the_stop_and_learning(redis_url: str) -> None:
    a, b = _replica(redis_url), _replica(redis_url)
    users = range(1, 80)
    for user in users:  # control's users like everything, b's nothing: b must stop
        replica = a if user % 2 else b
        variant = _feed_and_react(replica, user, like=assign(SPEC, user, None).variant == "control")
        assert variant == assign(SPEC, user, None).variant
    for replica in (a, b):
        replica.feedback.process_once()
        replica.feedback.sync_now()
    report = a.experiment.report().as_dict() if a.experiment else {}
    control, variant = report["variants"]
    expected = {
        v: 10 * sum(assign(SPEC, u, None).variant == v for u in users) for v in ("control", "b")
    }
    assert control["impressions"] == expected["control"] and variant["impressions"] == expected["b"]
    assert control["likes"] == expected["control"] and variant["likes"] == 0
    assert variant["difference"]["high"] < 0
    assert b.experiment is not None and a.experiment is not None
    assert b.experiment.refresh() and b.experiment.stopped == {"b"}  # b's replica decides ...
    assert a.experiment.refresh() and a.experiment.stopped == {"b"}  # ... a reads it
    user = next(u for u in users if assign(SPEC, u, None).variant == "b")
    assert _feed_and_react(a, user, like=True) == "control"
    # The variant learned into its own statistics, which both replicas serve.
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        keys = set(client.scan_iter("pitchrec:policy:v1:*"))
    _close(a, b)
    variant_keys = {k for k in keys if ":exp:" in k}
    assert variant_keys, keys
    assert variant_keys <= {f"pitchrec:policy:v1:{p}:exp:r1:b" for p in ("VMP", "AU", "NU")}
    assert {k for k in keys if ":exp:" not in k} <= {
        *(f"pitchrec:policy:v1:{p}" for p in ("VMP", "AU", "NU")),
        "pitchrec:policy:v1:VMP:blend",  # the blend search's (the control's options)
        "pitchrec:policy:v1:VMP:items",  # the live prior's (every variant's resumes)
    }  # the control's: the keys of a deployment without an experiment


def test_the_variant_reaches_activity_log_on_mariadb(redis_url: str, mariadb_url: str) -> None:
    """Feed rows and feedback rows carry the variant in ``properties`` through the Redis
    stream and ``pitchrec archive``'s archiver into the legacy table (no new column)."""
    import time

    import orjson
    from sqlalchemy import select

    from pitchrec.archive.archiver import Archiver, ArchiverConfig
    from pitchrec.sources.database import make_engine
    from pitchrec.sources.migrations import migrate
    from pitchrec.sources.schema import activity_log

    engine = make_engine(mariadb_url)
    migrate(engine)
    replica = _replica(redis_url)
    users = {
        v: next(u for u in range(1, 99) if assign(SPEC, u, None).variant == v)
        for v in ("control", "b")
    }
    for user in users.values():
        _feed_and_react(replica, user, like=True)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    archiver = Archiver(client, engine, ArchiverConfig(consumer="t1", block_ms=50))
    archiver.ensure_group()
    deadline = time.monotonic() + 30
    while archiver.run_once() or client.xlen("pitchrec:events"):
        assert time.monotonic() < deadline
    with engine.connect() as connection:
        rows = connection.execute(select(activity_log.c.causer_id, activity_log.c.properties)).all()
    engine.dispose()
    client.close()
    _close(replica)
    assert len(rows) == 2 * (1 + 10 + 10)  # per user: the request, 10 items, 10 reactions
    for causer, properties in rows:
        tags = orjson.loads(properties)
        variant = next(v for v, u in users.items() if u == causer)
        assert (tags["experiment"], tags["variant"], tags["assigned"]) == ("r1", variant, variant)


def test_a_feed_still_takes_one_round_trip(redis_url: str) -> None:
    """The variant's counters ride in the feed's own pipeline; assignment reads nothing."""
    replica = _replica(redis_url)
    assert replica.recommender is not None
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=3, seed=1, now=NOW, size=10)
    feed = replica.recommender.serve(request, RequestInfo("one-trip", "v1/discover", 3))
    assert replica.tracker.stats.round_trips == 1
    totals = replica.store.read_hashes([experiment_key("r1", "total")])[0]
    assert totals == {f"{feed.variant}:impressions": "10"}
    _close(replica)
