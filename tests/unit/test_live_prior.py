"""The live prior (issue 13): the snapshot's popularity prior corrected by each resume's
like rate in the online feedback, learned from every replica's events and served by all."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import replace

import numpy as np
import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, ItemKind
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning import feedback as feedback_module
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.collaborative import snapshot_prior
from pitchrec.ranking.live_prior import (
    PSEUDO_REWARDS,
    LivePrior,
    expected_rewards,
    live_prior,
    pseudo_rewards,
)
from pitchrec.ranking.options import RankingOptions
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore

_ids = itertools.count(1)
LIVE = replace(RankingOptions.service(), live_prior=True)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return random_snapshot(5, n_resumes=400, n_challenges=12, n_creators=250, n_users=60)


def _table(rewards: dict[int, list[float]]) -> ThompsonSampling:
    policy = ThompsonSampling()
    for resume_id, values in rewards.items():
        ids = np.full(len(values), resume_id, dtype=np.int64)
        policy.update(np.zeros((len(values), 1)), ids, np.asarray(values, dtype=np.float64))
    return policy


def _span(snapshot: Snapshot) -> float:
    logs = np.log1p(np.maximum(np.asarray(snapshot.collab.interactions), 0.0))
    return float(logs.max() - logs.min())


def test_without_events_there_is_nothing_to_correct(snapshot: Snapshot) -> None:
    assert live_prior(snapshot, ThompsonSampling()) is None
    skips_only = _table({int(snapshot.resumes.id[0]): [0.0, 0.0]})
    assert live_prior(snapshot, skips_only) is None  # no rate to compare with


def _following_the_prior(
    snapshot: Snapshot, rows: np.ndarray, events: int, intercept: float, slope: float
) -> dict[int, list[float]]:
    """Each resume of ``rows`` gets ``events`` events whose rewards sum to exactly what a
    rate of ``exp(intercept + slope * prior)`` expects (fractional rewards)."""
    prior, ids = snapshot_prior(snapshot), np.asarray(snapshot.resumes.id)
    rate = np.exp(intercept + slope * prior)
    return {int(ids[r]): [float(rate[r])] * events for r in rows.tolist()}


def test_rewards_the_prior_predicts_are_not_counted_again(snapshot: Snapshot) -> None:
    """Busy resumes are liked more: a like rate rising with the prior is what the prior
    already says, so nothing moves (the first version lifted them: the prior twice)."""
    rows = np.arange(0, 300)
    table = _table(_following_the_prior(snapshot, rows, 20, math.log(0.02), 2.5))
    assert live_prior(snapshot, table) is None


def test_the_regression_finds_the_rate_the_prior_predicts(snapshot: Snapshot) -> None:
    prior = snapshot_prior(snapshot)
    events = np.full(prior.shape[0], 30.0)
    rewards = events * np.exp(math.log(0.01) + 3.0 * prior)
    assert np.allclose(expected_rewards(prior, rewards, events), rewards, rtol=1e-6)
    level = np.full(prior.shape[0], 0.5)  # every resume at one prior: no slope to find
    assert np.allclose(expected_rewards(level, rewards, events), rewards.mean())


def test_the_shrinkage_is_the_spread_of_the_rates_beyond_chance() -> None:
    """Rate ratios drawn from a Gamma of shape 4, rewards from a Poisson around them: the
    method of moments finds the shape; rates that only chance spreads give no shrinkage
    (None: nothing to correct)."""
    rng = np.random.default_rng(3)
    expected = np.full(20_000, 2.0)
    events = np.full(20_000, 1_000.0)
    rewards = rng.poisson(expected * rng.gamma(4.0, 1.0 / 4.0, size=20_000)).astype(float)
    shape = pseudo_rewards(rewards, expected, events)
    assert shape is not None and 3.5 < shape < 4.5
    chance = rng.poisson(expected).astype(float)  # the estimate is noisy around 1 / c = 0:
    shape = pseudo_rewards(chance, expected, events)  # none, or a lift too small to matter
    assert shape is None or shape > 100


def test_a_resume_moves_by_its_rate_against_its_priors_in_the_priors_log_unit(
    snapshot: Snapshot,
) -> None:
    rng = np.random.default_rng(0)
    rates = _following_the_prior(snapshot, np.arange(3, 300), 20, math.log(0.05), 2.0)
    rewards = {i: (rng.random(20) < rate[0]).astype(float).tolist() for i, rate in rates.items()}
    ids = np.asarray(snapshot.resumes.id)
    liked, skipped, level = int(ids[0]), int(ids[1]), int(ids[2])
    rewards.update({liked: [1.0] * 20, skipped: [0.0] * 60, level: rewards[int(ids[3])]})
    table = _table(rewards)
    corrected = live_prior(snapshot, table)
    assert corrected is not None
    prior, span = snapshot_prior(snapshot), _span(snapshot)
    alpha, beta = table.posterior(ids.astype(np.int64))
    successes = alpha - table.config.alpha0
    events = alpha + beta - table.config.alpha0 - table.config.beta0
    expected = expected_rewards(prior, successes, events)
    shape = pseudo_rewards(successes, expected, events)
    assert shape is not None and shape >= PSEUDO_REWARDS
    lift = np.log((successes + shape) / (expected + shape)) / span
    assert np.allclose(corrected - prior, lift)
    assert corrected[0] > prior[0] and corrected[1] < prior[1]
    untouched = np.ones(len(ids), dtype=np.bool_)
    untouched[:300] = False
    assert np.allclose(corrected[untouched], prior[untouched])  # no events: its prior


@pytest.mark.parametrize("like_rate", [0.01, 0.3])
def test_a_first_like_doubles_a_rate_at_most_whatever_the_like_rate(
    snapshot: Snapshot, like_rate: float
) -> None:
    """The shrinkage is counted in rewards, so it means the same at any like rate."""
    background = _spread(snapshot, like_rate)
    ids = np.asarray(snapshot.resumes.id)
    background[int(ids[0])] = [1.0]  # one event, one like
    corrected = live_prior(snapshot, _table(background))
    assert corrected is not None
    lift = (corrected[0] - snapshot_prior(snapshot)[0]) * _span(snapshot)
    assert 0.0 < lift <= math.log(2.0) + 1e-9


def _spread(snapshot: Snapshot, like_rate: float) -> dict[int, list[float]]:
    """400 events on each of 100 resumes, half liked at ``like_rate``, half at a tenth of
    it: rates the prior does not predict, so there is something to correct."""
    ids = np.asarray(snapshot.resumes.id)
    background = {int(i): [like_rate] * 400 for i in ids[10:60]}
    background.update({int(i): [like_rate / 10] * 400 for i in ids[60:110]})
    return background


def test_the_corrected_prior_is_computed_once_per_snapshot(snapshot: Snapshot) -> None:
    live = LivePrior(_table(_spread(snapshot, 0.1)))
    first = live.prior(snapshot)
    assert first is not None and live.prior(snapshot) is first
    assert not first.flags.writeable


def test_the_live_prior_is_a_choice_not_a_preset() -> None:
    assert not RankingOptions.service().live_prior and not RankingOptions.legacy().live_prior
    assert RankingOptions.service().overridden(["live_prior=1"]).live_prior
    assert not Settings().base_options().live_prior
    assert Settings(live_prior=True).base_options().live_prior


def _service(snapshot: Snapshot, store: MemoryStore, *, learn_online: bool = True) -> Service:
    config = ServiceConfig(ranking=LIVE, learn_online=learn_online)
    return build_service(config, store, snapshot=snapshot)


def _serve(service: Service, user: int) -> tuple[Feed, str]:
    assert service.recommender is not None
    request_id = f"req{next(_ids)}"
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=user, now=NOW, size=12)
    info = RequestInfo(request_id, "v1/discover", user, session_id=f"s{user}")
    return service.recommender.serve(request, info), request_id


def _answer(service: Service, user: int, feed: Feed, request_id: str) -> list[int]:
    """Like the first resume, skip the others, comment on the challenges (no reward);
    returns the liked resume's id."""
    events = []
    resumes = [item for item in feed.items if item.kind is ItemKind.RESUME]
    for k, item in enumerate(resumes):
        kind = "like" if k == 0 else "skip"
        events.append(
            FeedbackEvent(f"e{next(_ids)}", kind, user, item.item_id, "resume", request_id)
        )
    for item in feed.items:
        if item.kind is ItemKind.CHALLENGE:
            events.append(
                FeedbackEvent(f"e{next(_ids)}", "like", user, item.item_id, "challenge", request_id)
            )
    service.record_events(events)
    service.feedback.process_once()
    service.feedback.sync_now()
    return [resumes[0].item_id]


def test_feedback_on_one_replica_corrects_the_prior_every_replica_serves(
    snapshot: Snapshot,
) -> None:
    store = MemoryStore()
    first, second = _service(snapshot, store), _service(snapshot, store)
    feed, request_id = _serve(first, 7)
    [liked] = _answer(first, 7, feed, request_id)
    second.feedback.sync_now()
    row = int(np.flatnonzero(np.asarray(snapshot.resumes.id) == liked)[0])
    for service in (first, second):
        assert service.recommender is not None and service.recommender.live is not None
        corrected = service.recommender.live.prior(snapshot)
        assert corrected is not None
        assert corrected[row] > snapshot_prior(snapshot)[row]
    items = first.feedback.items
    assert items is not None
    resumes = sum(1 for item in feed.items if item.kind is ItemKind.RESUME)
    assert items.observed == resumes  # the challenges' events are not resumes' evidence
    assert second.recommender is not None and second.recommender.live is not None
    described = second.recommender.live.describe()  # GET /v1/stats, learning.live_prior
    assert described["resumes"] == resumes and described["events"] == resumes
    assert described["mean_reward"] == pytest.approx(1.0 / resumes)


def test_without_online_learning_the_snapshots_prior_is_served(snapshot: Snapshot) -> None:
    service = _service(snapshot, MemoryStore(), learn_online=False)
    feed, request_id = _serve(service, 8)
    _answer(service, 8, feed, request_id)
    assert service.recommender is not None and service.recommender.live is None
    assert service.feedback.items is not None and service.feedback.items.observed > 0


@pytest.mark.parametrize("options", [RankingOptions.legacy(), RankingOptions.service()])
def test_without_the_option_no_per_resume_statistics_are_kept(
    snapshot: Snapshot, options: RankingOptions
) -> None:
    service = build_service(ServiceConfig(ranking=options), MemoryStore(), snapshot=snapshot)
    assert service.feedback.items is None


def test_the_server_pulls_the_counts_on_their_own_period(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool policies sync every second; the per-resume counts every
    ``ITEMS_SYNC_SECONDS``, or later when a pull costs more than its share of a core."""
    store = MemoryStore()
    service = _service(snapshot, store)
    feed, request_id = _serve(service, 11)
    resume = next(item for item in feed.items if item.kind is ItemKind.RESUME)
    service.record_events(
        [FeedbackEvent(f"e{next(_ids)}", "like", 11, resume.item_id, "resume", request_id)]
    )
    loop = service.feedback
    loop.process_once()
    loop.sync_now(items=False)  # what the server's loop asks between two pulls
    assert not [key for key in store._stats if key.endswith(":items")]
    before = time.monotonic()
    loop.sync_now()
    assert [key for key in store._stats if key.endswith(":items")]
    assert loop._items_due >= before + feedback_module.ITEMS_SYNC_SECONDS
    monkeypatch.setattr(feedback_module, "ITEMS_SYNC_BUDGET", 1e-9)  # every pull is costly
    assert loop.items is not None
    loop._sync_items(loop.items)
    assert loop._items_due > time.monotonic() + 10 * feedback_module.ITEMS_SYNC_SECONDS
