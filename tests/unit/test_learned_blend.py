"""The learned blend: the affinity and the prior enter the pool policies' contexts with a
prior in the mean; rewards choose how the two weigh against each other, not their total;
replicas of another context width never mix their statistics; the replay compares what
the feedback reaches."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factories import NOW, random_snapshot
from pitchrec.cli import app
from pitchrec.domain.feed import FeedKind, FeedRequest, Pool
from pitchrec.lab.offline.replay import (
    ReplayOptions,
    _events,
    answered,
    replay,
    replay_users,
    variant_config,
)
from pitchrec.lab.offline.split import Split, temporal_split
from pitchrec.lab.world import generate_world
from pitchrec.learning.learner import PolicyLearner
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.features import BLEND_COLLABORATIVE, BLEND_PRIOR, N_BLEND_FEATURES
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies, pool_policy_factory
from pitchrec.service import ServiceConfig
from pitchrec.sources.database import make_engine
from pitchrec.tracking.memory_store import MemoryStore

BLEND = (BLEND_COLLABORATIVE, BLEND_PRIOR)
#: The service's options with the learned blend instead of the default blend search.
LEARNED = RankingOptions.service().overridden(["learned_blend=1"])


def _blend_policy() -> LinUCB:
    policy = legacy_pool_policies(30.0, (30.0, 60.0))[Pool.AU]
    assert isinstance(policy, LinUCB)
    return policy


def test_the_prior_is_in_the_mean_and_reproduces_the_fixed_points() -> None:
    policy = _blend_policy()
    theta = policy.scoring_theta()
    assert policy.dimension == N_BLEND_FEATURES
    assert np.allclose(30.0 * theta[list(BLEND)], [30.0, 60.0])
    assert np.allclose(theta[:BLEND_COLLABORATIVE], 0.0)


def test_rewards_turn_the_blend_but_keep_its_norm() -> None:
    """Likes follow the affinity column only, at a like rate of 2 %: the affinity's share
    grows, the prior's weight shrinks, and the pair keeps the prior's norm (a plain ridge
    would shrink both toward the like rate)."""
    policy = _blend_policy()
    rng = np.random.default_rng(0)
    x = np.zeros((4_000, N_BLEND_FEATURES))
    x[:, list(BLEND)] = rng.random((4_000, 2))
    rewards = (rng.random(4_000) < 0.04 * x[:, BLEND_COLLABORATIVE]).astype(np.float64)
    policy.update(x, np.arange(4_000, dtype=np.int64), rewards)
    raw, used = policy.theta()[list(BLEND)], policy.scoring_theta()[list(BLEND)]
    assert np.linalg.norm(raw) < 0.1 * np.linalg.norm([1.0, 2.0])  # shrunk by ridge
    assert np.isclose(np.linalg.norm(used), np.linalg.norm([1.0, 2.0]))
    assert used[0] > used[1] >= 0.0  # the affinity now leads


def test_negative_weights_are_clipped_and_nothing_positive_falls_back_to_the_prior() -> None:
    config = LinUCBConfig(dimension=3, prior_mean=(0.0, 1.0, 2.0), pinned_norm=(1, 2))
    policy = LinUCB(config)
    x = np.asarray([[0.0, 1.0, 1.0]] * 50)
    policy.update(x, np.arange(50, dtype=np.int64), np.zeros(50))  # likes never come
    theta = policy.scoring_theta()
    assert (theta[1:] >= 0.0).all()
    assert np.isclose(np.linalg.norm(theta[1:]), np.linalg.norm([1.0, 2.0]))
    with pytest.raises(ValueError, match="pinned_norm"):
        LinUCBConfig(dimension=3, pinned_norm=(1,))


def test_policies_of_the_wrong_width_are_refused_with_a_clear_error() -> None:
    snapshot = random_snapshot(1)
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=3, seed=0, now=NOW)
    with pytest.raises(ValueError, match="blend_prior"):
        recommend(snapshot, request, legacy_pool_policies(30.0), options=LEARNED)
    feed = recommend(
        snapshot, request, legacy_pool_policies(30.0, LEARNED.blend_prior()), options=LEARNED
    )
    assert all(len(item.context) == N_BLEND_FEATURES for item in feed.items)


class _AnyWidth:
    """A scorer of any context width (``dimension`` None), as the simulator's truth
    scorer: the engine must serve it with either options."""

    name = "any-width"
    learns = False
    dimension = None

    def score(
        self, contexts: np.ndarray, arm_ids: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        return np.asarray(contexts, dtype=np.float64).sum(axis=1)


@pytest.mark.parametrize("options", [LEARNED, RankingOptions.service(), RankingOptions.legacy()])
def test_a_scorer_of_any_width_is_served(options: RankingOptions) -> None:
    snapshot = random_snapshot(1)
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=3, seed=0, now=NOW)
    policies = {pool: _AnyWidth() for pool in (Pool.VMP, Pool.AU, Pool.NU)}
    feed = recommend(snapshot, request, policies, options=options)  # type: ignore[arg-type]
    assert feed.items


def test_the_learner_skips_contexts_of_another_width_and_keys_its_stats_apart() -> None:
    store = MemoryStore()
    learner = PolicyLearner(store, pool_policy_factory(30.0, (30.0, 60.0)))
    assert not learner.observe(Pool.AU, np.zeros(18), 1, 1.0)  # recorded before the switch
    assert learner.mismatched == 1 and learner.observed == 0
    assert learner.observe(Pool.AU, np.ones(N_BLEND_FEATURES), 1, 1.0)
    assert learner.sync()
    legacy = PolicyLearner(store, pool_policy_factory(30.0))
    assert legacy.observe(Pool.AU, np.ones(18), 1, 1.0)
    assert legacy.sync()  # its 18-wide stats do not collide with the 20-wide ones
    stats = store.read_stats(["pitchrec:policy:v1:AU", "pitchrec:policy:v1:AU:d20"])
    narrow, wide = stats["pitchrec:policy:v1:AU"], stats["pitchrec:policy:v1:AU:d20"]
    assert "A[17,17]" in narrow and "A[19,19]" not in narrow
    assert "A[19,19]" in wide


def test_the_learner_learns_policies_without_a_context_width() -> None:
    """Defect: the learner counted a policy without a context width (Thompson sampling,
    dimension None) as a width mismatch and never learned from it."""
    learner = PolicyLearner(MemoryStore(), lambda: {Pool.VMP: ThompsonSampling()})
    assert learner.observe(Pool.VMP, np.zeros(1), 266, 1.0)
    assert learner.mismatched == 0 and learner.observed == 1


@pytest.fixture(scope="module")
def world_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("replay") / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    generate_world(engine, scale=0.04, seed=3, truth_path=None, now=datetime(2026, 6, 1, 12))
    engine.dispose()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def split(world_url: str) -> Split:
    return temporal_split(world_url)


def test_the_replay_counts_likes_and_only_learn_moves_the_policies(split: Split) -> None:
    options = ReplayOptions(users=40, pages=3)
    results = {
        variant: replay(split, ServiceConfig(), variant, options, seed=1)
        for variant in ("learn", "frozen", "none")
    }
    for result in results.values():
        assert result.likes.shape == (40, 3) and (result.likes >= 0).all()
        assert np.array_equal(result.users, results["learn"].users)
    # The first page of the first user is served before any feedback: equal everywhere.
    assert len({float(r.likes[0, 0]) for r in results.values()}) == 1
    assert sum(r.likes.sum() for r in results.values()) > 0  # the truth is reachable
    assert not variant_config(ServiceConfig(), "frozen").learn_online
    with pytest.raises(ValueError, match="unknown replay variant"):
        variant_config(ServiceConfig(), "sometimes")


def test_the_replay_skips_all_or_only_above_the_last_like() -> None:
    """``all``: every shown resume not liked later is a skip; ``above-last-like``: only
    those above the page's last like (below it the user never looked); no like, no event."""
    hits = [False, True, False, False, True, False, False]
    assert answered(hits, "all") == hits
    assert answered(hits, "above-last-like") == [False, True, False, False, True, None, None]
    assert answered([False] * 4, "above-last-like") == [None] * 4
    events = _events(7, [11, 12, 13], [False, True, None], "r", 0.0)
    assert [(e.item_id, e.type, e.position) for e in events] == [(11, "skip", 1), (12, "like", 2)]
    with pytest.raises(ValueError, match="unknown skip model"):
        ReplayOptions(skips="some")


def test_the_replay_can_keep_only_users_with_more_to_find(split: Split) -> None:
    everyone = replay_users(split, ReplayOptions(users=10_000), seed=1)
    several = replay_users(split, ReplayOptions(users=10_000, min_positives=2), seed=1)
    assert 0 < several.shape[0] < everyone.shape[0]
    assert all(len(split.truth[int(u)]) >= 2 for u in several.tolist())
    assert set(several.tolist()) == {u for u in everyone.tolist() if len(split.truth[u]) >= 2}


def test_the_replay_command_prints_paired_differences(world_url: str, tmp_path: Path) -> None:
    args = ["evaluate", "replay", "--no-progress", "--database-url", world_url, "--json"]
    args += ["--users", "15", "--pages", "2", "--seeds", "1", "--report-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[0])  # then the "report:" line
    assert set(summary["service"]["variants"]) == {"learn", "frozen", "none"}
    assert set(summary["service"]["differences"]) == {
        "learn - frozen",
        "learn - none",
        "frozen - none",
    }
    assert "| service | learn |" in (tmp_path / "REPORT.md").read_text()
    bad = CliRunner().invoke(app, [*args[:5], "--variants", "sometimes"])
    assert bad.exit_code == 2 and "--variants" in bad.output
