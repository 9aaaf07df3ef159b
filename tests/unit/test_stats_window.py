"""The sliding window over the shared learning statistics (PITCHREC_LEARNING_WINDOW_DAYS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pitchrec.domain.feed import Pool
from pitchrec.learning.learner import PolicyLearner
from pitchrec.learning.stats_window import StatsWindow
from pitchrec.policies.base import Policy
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, pool_policy_factory
from pitchrec.service import ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from served_app import served

WINDOW = 3_600.0  # seconds
START = 1_000 * WINDOW  # the first instant of an epoch
GOOD, BAD = 7, 8  # arm ids


class Clock:
    """A settable clock (seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _table() -> dict[Pool, Policy]:
    return {Pool.VMP: ThompsonSampling()}


def _successes(learner: PolicyLearner, arm: int) -> float:
    """The successes of ``arm`` in what ``learner`` serves (alpha minus the prior's 1)."""
    policy = learner.serving[Pool.VMP]
    assert isinstance(policy, ThompsonSampling)
    alpha, _ = policy.posterior(np.asarray([arm]))
    return float(alpha[0]) - 1.0


def _learn(learner: PolicyLearner, arm: int, rewards: list[float]) -> None:
    ids = np.full(len(rewards), arm, dtype=np.int64)
    learner.observe_many(Pool.VMP, ids, np.asarray(rewards))
    assert learner.sync()


def test_a_window_weighs_the_previous_epoch_by_the_share_still_inside_it() -> None:
    window = StatsWindow(WINDOW)
    assert window.weights(START) == ((1000, 1.0), (999, 1.0))
    assert window.weights(START + 0.25 * WINDOW) == ((1000, 1.0), (999, 0.75))
    assert window.ttl == 3 * WINDOW
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="window"):
            StatsWindow(bad)


def test_windowed_rewards_fade_out_of_what_every_replica_serves() -> None:
    store, clock = MemoryStore(), Clock(START)
    first = PolicyLearner(store, _table, window=StatsWindow(WINDOW), clock=clock)
    other = PolicyLearner(store, _table, window=StatsWindow(WINDOW), clock=clock)
    _learn(first, GOOD, [1.0] * 8)
    assert other.sync()
    assert _successes(first, GOOD) == _successes(other, GOOD) == 8.0
    clock.now = START + 1.25 * WINDOW  # next epoch, a quarter through: 3/4 still inside
    assert other.sync()
    assert _successes(other, GOOD) == pytest.approx(6.0)
    clock.now = START + 2.0 * WINDOW  # two epochs on: out of the window
    assert other.sync()
    assert _successes(other, GOOD) == 0.0


def test_without_a_window_everything_learned_is_served_forever() -> None:
    store, clock = MemoryStore(), Clock(START)
    learner = PolicyLearner(store, _table, clock=clock)
    _learn(learner, GOOD, [1.0] * 8)
    clock.now = START + 1_000 * WINDOW
    assert learner.sync()
    assert _successes(learner, GOOD) == 8.0


def _mean(learner: PolicyLearner, arm: int) -> float:
    policy = learner.serving[Pool.VMP]
    assert isinstance(policy, ThompsonSampling)
    alpha, beta = policy.posterior(np.asarray([arm]))
    return float(alpha[0] / (alpha[0] + beta[0]))


@pytest.mark.parametrize("window", [None, StatsWindow(WINDOW)])
def test_after_users_change_their_minds_a_window_serves_the_new_best_arm(
    window: StatsWindow | None,
) -> None:
    """Thirty hours in which arm GOOD earns 60 % and BAD 40 %, then two hours in which
    they swap: with a one-hour window the served means follow, without it they do not."""
    rng = np.random.default_rng(0)
    clock = Clock(START)
    learner = PolicyLearner(MemoryStore(), _table, window=window, clock=clock)
    for hour in range(32):
        clock.now = START + hour * WINDOW
        good, bad = (0.6, 0.4) if hour < 30 else (0.4, 0.6)
        for _ in range(10):  # ten syncs an hour
            _learn(learner, GOOD, list((rng.random(50) < good).astype(float)))
            _learn(learner, BAD, list((rng.random(50) < bad).astype(float)))
            clock.now += WINDOW / 10
    clock.now = START + 32 * WINDOW - 1.0
    assert learner.sync()
    follows = _mean(learner, BAD) > _mean(learner, GOOD)
    assert follows is (window is not None)


def test_windowed_statistics_expire_from_the_in_process_store() -> None:
    store_clock, clock = Clock(0.0), Clock(START)
    store = MemoryStore(clock=store_clock)
    window = StatsWindow(WINDOW)
    learner = PolicyLearner(store, _table, window=window, clock=clock)
    _learn(learner, GOOD, [1.0] * 3)
    keys = [key for key in store._stats if key.startswith("pitchrec:policy:")]
    assert keys == ["pitchrec:policy:v1:VMP:w1000"]
    store_clock.now = window.ttl - 1.0
    assert store.read_stats(keys)[keys[0]]
    store_clock.now = window.ttl + 1.0
    assert store.read_stats(keys) == {keys[0]: {}}
    assert keys[0] not in store._stats


def test_the_setting_gives_every_learner_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITCHREC_LEARNING_WINDOW_DAYS", "0.5")
    config = ServiceConfig.from_settings(Settings())
    assert config.learning.window_seconds == 43_200.0
    service = build_service(config, MemoryStore())
    learners = [service.feedback.learner, service.feedback.blend]
    assert all(
        learner is not None and learner.window == StatsWindow(43_200.0) for learner in learners
    )
    monkeypatch.setenv("PITCHREC_LEARNING_WINDOW_DAYS", "0")
    default = build_service(ServiceConfig.from_settings(Settings()), MemoryStore())
    assert default.feedback.learner.window is None


def test_a_windowed_linucb_serves_the_weighed_statistics() -> None:
    """LinUCB's A and b scaled by the previous epoch's weight are valid statistics."""
    store, clock = MemoryStore(), Clock(START)
    factory = pool_policy_factory(DEFAULT_REWARD_SCALE)
    learner = PolicyLearner(store, factory, window=StatsWindow(WINDOW), clock=clock)
    rng = np.random.default_rng(1)
    contexts = rng.random((20, 18))
    for context in contexts:
        learner.observe(Pool.VMP, context, 3, 1.0)
    assert learner.sync()
    clock.now = START + 1.5 * WINDOW  # half of the epoch still inside
    assert learner.sync()
    half = factory()[Pool.VMP]
    half.update(contexts, np.full(20, 3), np.ones(20))
    delta = half.pending_delta()
    weighed = {k: 0.5 * np.asarray(v) if k != "n_updates" else 10.0 for k, v in delta.items()}
    expected = factory()[Pool.VMP]
    expected.apply_delta(weighed)
    probe = rng.random((5, 18))
    ids, draw = np.full(5, 3), np.random.default_rng(2)
    served = learner.serving[Pool.VMP].score(probe, ids, draw)
    assert np.allclose(served, expected.score(probe, ids, np.random.default_rng(2)))


@pytest.mark.parametrize(("days", "seconds"), [(0.0, None), (2.0, 172_800.0)])
def test_the_policies_endpoint_reports_the_window(
    tmp_path: Path, days: float, seconds: float | None
) -> None:
    with served(tmp_path, Settings(learning_window_days=days)) as client:
        body = client.get("/v1/policies").json()
    assert body["window_seconds"] == seconds
    assert set(body["pools"]) >= {"VMP", "AU"}
