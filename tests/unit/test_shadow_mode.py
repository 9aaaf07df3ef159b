"""Shadow mode in the service (issue 14, item 2): a sampled request is drawn again under
the served and a candidate configuration, off the request path, and logged as one archive
row; the served feed is the one without shadow mode; nothing shadow mode does can fail a
feed or make it wait."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace

import orjson
import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest
from pitchrec.domain.profile import EMPTY_PROFILE
from pitchrec.domain.shadow import SHADOW_DESCRIPTION, ShadowLog, item_key
from pitchrec.errors import ConfigurationError
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking import shadow as shadow_module
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.shadow import ShadowConfig, parse_candidate, sampled
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore

CANDIDATE = parse_candidate("@collaborative=0@popularity_prior=0")
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return random_snapshot(5, n_resumes=300, n_challenges=12, n_creators=200, n_users=40)


def _service(snapshot: Snapshot, shadow: ShadowConfig | None) -> Service:
    return build_service(ServiceConfig(shadow=shadow), MemoryStore(), snapshot=snapshot)


def _serve(
    service: Service, user: int | None = 7, kind: FeedKind = FeedKind.DISCOVER
) -> tuple[Feed, str]:
    assert service.recommender is not None
    request_id = f"req{next(_ids)}"
    request = FeedRequest(kind=kind, user_id=user, seed=11, now=NOW, size=12)
    return service.recommender.serve(request, RequestInfo(request_id, "v1/discover", user)), (
        request_id
    )


def _shadow_rows(service: Service) -> list[ShadowLog]:
    assert isinstance(service.store, MemoryStore)
    rows = [r for r in service.store.archive if r.description.startswith(SHADOW_DESCRIPTION)]
    return [ShadowLog.from_json(r.properties) for r in rows]


def _positions(counts: dict[str, list[int]]) -> dict[int, int]:
    """Draws per position, summed over items."""
    total: dict[int, int] = {}
    for pairs in counts.values():
        for position, count in zip(pairs[::2], pairs[1::2], strict=True):
            total[position] = total.get(position, 0) + count
    return total


def test_candidate_syntax_is_the_experiments() -> None:
    assert parse_candidate("@collaborative=10@boost_new=false").overrides == (
        "collaborative=10",
        "boost_new=false",
    )
    assert parse_candidate('["@fresh_share=0"]').overrides == ("fresh_share=0",)
    both = parse_candidate('{"ranking": ["temperature=1"], "reward_scale": 10}')
    assert both.overrides == ("temperature=1",) and both.reward_scale == 10.0
    assert both.label == "@temperature=1 reward_scale=10"
    for bad in ("", '{"weight": 1}', '{"ranking": "x=1"}', "[1"):
        with pytest.raises(ValueError):
            parse_candidate(bad)


def test_settings_parse_and_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITCHREC_SHADOW", "@collaborative=10@boost_new=false")
    monkeypatch.setenv("PITCHREC_SHADOW_RATE", "0.5")
    settings = Settings()
    config = ServiceConfig.from_settings(settings).shadow
    assert config is not None and config.rate == 0.5 and config.explore == 0.0
    assert config.candidate.overrides == ("collaborative=10", "boost_new=false")
    monkeypatch.setenv("PITCHREC_SHADOW", "@no_such_option=1")
    with pytest.raises(ConfigurationError, match="no_such_option"):
        Settings()
    monkeypatch.delenv("PITCHREC_SHADOW")
    assert ServiceConfig.from_settings(Settings()).shadow is None


def test_sampling_is_a_stable_hash_at_the_rate() -> None:
    ids = [f"r{i}" for i in range(4_000)]
    chosen = [sampled(i, 0.1) for i in ids]
    assert 0.08 < sum(chosen) / len(ids) < 0.12
    assert chosen == [sampled(i, 0.1) for i in ids]  # every process agrees
    assert not any(sampled(i, 0.0) for i in ids) and all(sampled(i, 1.0) for i in ids)


def test_shadow_log_of_a_served_feed(snapshot: Snapshot) -> None:
    plain = _service(snapshot, None)
    config = ShadowConfig(CANDIDATE, rate=1.0, draws=5, inline=True)
    shadowed = _service(snapshot, config)
    feed, _ = _serve(plain)
    feed_shadowed, request_id = _serve(shadowed)
    # what is served does not change
    assert [i.item_id for i in feed_shadowed.items] == [i.item_id for i in feed.items]
    (log,) = _shadow_rows(shadowed)
    assert log.request_id == request_id and log.user_id == 7 and log.draws == 5
    assert log.candidate_config == "@collaborative=0@popularity_prior=0"
    assert log.items == tuple(f"r:{i.item_id}" for i in feed.items)
    # 5 draws fill each of the 12 positions 5 times, under each configuration
    assert _positions(log.logging) == dict.fromkeys(range(1, 13), 5)
    assert _positions(log.target) == dict.fromkeys(range(1, 13), 5)
    assert log.target != log.logging  # the candidate ranks differently
    assert ShadowLog.from_json(log.to_json()) == log
    counters = shadowed.counters()
    assert counters["shadow_logged"] == 1 and counters["shadow_errors"] == 0
    # the legacy rows are written as without shadow mode
    assert isinstance(plain.store, MemoryStore) and isinstance(shadowed.store, MemoryStore)
    legacy = [r for r in shadowed.store.archive if not r.description.startswith("#feed #shadow")]
    assert len(legacy) == len(plain.store.archive) == 1 + len(feed.items)


def test_redraws_reproduce_the_served_distribution(snapshot: Snapshot) -> None:
    """The logging re-draws rank exactly the request that was served: with the served
    feed's own seed they give the served feed back."""
    config = ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True)
    service = _service(snapshot, config)
    feed, _ = _serve(service)
    recommender = service.recommender
    assert recommender is not None and service.shadow is not None
    assert recommender.blend is not None  # the served options are the drawn blend arm's
    _, served_options, _ = recommender._searched(recommender.blend, feed.request)
    job = shadow_module.ShadowJob(
        snapshot,
        feed.request,
        served_options,
        recommender.policies,
        recommender.policies,
        EMPTY_PROFILE,
        feed,
        "x",
        "v1/discover",
        "2026-01-01T00:00:00",
    )
    counts = shadow_module.draw_counts(job, job.options, job.policies, [feed.seed])
    assert counts == {f"r:{i.item_id}": [i.position, 1] for i in feed.items}


def test_flow_feeds_and_rate_zero_are_not_shadowed(snapshot: Snapshot) -> None:
    service = _service(snapshot, ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True))
    _serve(service, kind=FeedKind.FLOW)
    assert _shadow_rows(service) == []
    idle = _service(snapshot, ShadowConfig(CANDIDATE, rate=0.0, draws=2, inline=True))
    _serve(idle)
    assert _shadow_rows(idle) == [] and idle.counters()["shadow_sampled"] == 0


def test_failures_never_reach_the_feed(snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    service = _service(snapshot, ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True))
    reference, _ = _serve(_service(snapshot, None))

    def broken(*args: object, **kwargs: object) -> Feed:
        raise RuntimeError("boom")

    monkeypatch.setattr(shadow_module, "recommend", broken)
    feed, _ = _serve(service)
    assert [i.item_id for i in feed.items] == [i.item_id for i in reference.items]
    assert service.counters()["shadow_errors"] == 1 and _shadow_rows(service) == []
    monkeypatch.undo()
    assert service.shadow is not None

    def failing_sink(record: ShadowLog) -> None:
        raise OSError("archive down")

    service.shadow.sink = failing_sink
    _serve(service)
    assert service.counters()["shadow_errors"] == 2


def test_the_background_thread_drops_when_busy(snapshot: Snapshot) -> None:
    """Off the request path: a shadowed request costs the feed no draw, and what the
    bounded queue cannot hold is dropped and counted."""
    config = ShadowConfig(CANDIDATE, rate=1.0, draws=2, queue_size=2, cpu_share=1.0)
    service = _service(snapshot, config)
    assert service.shadow is not None
    release = threading.Event()
    logged: list[ShadowLog] = []

    def slow_sink(record: ShadowLog) -> None:
        release.wait(10)
        logged.append(record)

    service.shadow.sink = slow_sink
    started = time.perf_counter()
    for _ in range(8):
        _serve(service)
    serving = time.perf_counter() - started
    release.set()
    deadline = time.monotonic() + 10
    counters = service.counters()
    while counters["shadow_logged"] + counters["shadow_dropped"] < 8:
        assert time.monotonic() < deadline, counters
        time.sleep(0.01)
        counters = service.counters()
    service.stop()
    # one job in progress (unless the thread had not started yet), two waiting, the rest
    # dropped
    assert counters["shadow_logged"] == len(logged) in (2, 3)
    assert counters["shadow_dropped"] == 8 - len(logged)
    assert serving < 8 * 0.5  # eight feeds; the draws (and the blocked sink) waited elsewhere


def test_the_thread_rests_and_stops_at_once(snapshot: Snapshot) -> None:
    """At a CPU share of 1 %, the thread rests 99 times as long as it computed: what comes
    meanwhile is dropped, and stopping does not wait for the rest to end."""
    service = _service(snapshot, ShadowConfig(CANDIDATE, rate=1.0, draws=2, cpu_share=0.01))
    _serve(service)
    deadline = time.monotonic() + 10
    while service.counters()["shadow_logged"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for _ in range(6):  # the thread rests (at least 99 x a few ms): one queued, rest dropped
        _serve(service)
    started = time.perf_counter()
    service.stop()
    assert time.perf_counter() - started < 1.0
    counters = service.counters()
    assert counters["shadow_logged"] == 1 and counters["shadow_dropped"] >= 2


def test_exploration_serves_the_candidate_on_its_share(snapshot: Snapshot) -> None:
    config = ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True, explore=0.5)
    service = _service(snapshot, config)
    plain = _service(snapshot, None)
    assert service.shadow is not None
    reference = [i.item_id for i in _serve(plain)[0].items]
    explored = same = 0
    for _ in range(20):
        feed, request_id = _serve(service)
        if service.shadow.explores(request_id):
            explored += 1
            assert [i.item_id for i in feed.items] != reference
        else:
            same += 1
            assert [i.item_id for i in feed.items] == reference
    logs = _shadow_rows(service)
    assert sum(log.explored for log in logs) == explored and explored > 0 and same > 0
    assert all(log.explore == 0.5 for log in logs)


def test_shadow_row_format(snapshot: Snapshot) -> None:
    service = _service(snapshot, ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True))
    _serve(service, user=None)
    assert isinstance(service.store, MemoryStore)
    (row,) = [r for r in service.store.archive if r.description.startswith("#feed #shadow")]
    assert row.description == "#feed #shadow #v1/discover" and row.url == "/shadow"
    assert row.causer_id == 0 and row.subject_id is None  # anonymous: user 0, as learning
    data = orjson.loads(row.properties)
    assert list(data)[:3] == ["event_type", "request_id", "user_id"]
    assert data["event_type"] == "shadow" and data["user_id"] is None


def test_redraws_hold_the_live_prior_as_served(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once feedback corrected the prior (:mod:`pitchrec.ranking.live_prior`), the
    logging re-draws rank with the prior the request was served, not the snapshot's."""
    shadow = ShadowConfig(CANDIDATE, rate=1.0, draws=2, inline=True)
    live = replace(RankingOptions.service(), live_prior=True)
    service = build_service(
        ServiceConfig(ranking=live, shadow=shadow), MemoryStore(), snapshot=snapshot
    )
    for answered in range(20):  # resumes whose id is a multiple of 3 liked, others skipped:
        first, request_id = _serve(service, user=100 + answered)  # rates the prior cannot
        resumes = [item for item in first.items if item.kind.value == "resume"]  # predict
        service.record_events(
            [
                FeedbackEvent(
                    f"e{answered}-{k}",
                    "like" if i.item_id % 3 == 0 else "skip",
                    100 + answered,
                    i.item_id,
                    "resume",
                    request_id,
                )
                for k, i in enumerate(resumes)
            ]
        )
        service.feedback.process_once()
    service.feedback.sync_now()
    assert service.recommender is not None and service.shadow is not None
    jobs: list[shadow_module.ShadowJob] = []
    monkeypatch.setattr(service.shadow, "offer", jobs.append)
    feed, _ = _serve(service, user=9)
    [job] = jobs
    assert job.live_prior is not None
    counts = shadow_module.draw_counts(job, job.options, job.policies, [feed.seed])
    assert counts == {item_key(i.kind.value, i.item_id): [i.position, 1] for i in feed.items}
