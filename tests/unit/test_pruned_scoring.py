"""Bound-pruned scoring keeps exactly the top-k of full scoring (ranking/features.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import NOW, random_snapshot
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.ranking.features import catalogue_features, score_candidates
from pitchrec.ranking.user_context import user_context


def _learned_policy(seed: int, legacy: bool) -> LinUCB:
    """A LinUCB with learned statistics; the legacy one stays at its prior, where its bonus
    is the constant 0.7 (serving policies are rebuilt from totals, so their adaptive,
    random bonus never switches on; a random bonus would make the two runs differ)."""
    config = LinUCBConfig.legacy(1.5, 0.8) if legacy else LinUCBConfig(alpha=1.3)
    policy = LinUCB(config)
    rng = np.random.default_rng(seed)
    n = 0 if legacy else int(rng.integers(0, 400))
    if n:
        policy.update(rng.random((n, 18)) * 2, np.zeros(n, dtype=np.int64), rng.random(n))
    return policy


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), legacy=st.booleans(), keep=st.integers(1, 50))
def test_pruned_top_k_equals_full_top_k(seed: int, legacy: bool, keep: int) -> None:
    snapshot = random_snapshot(seed % 50, n_resumes=1500, n_creators=300)
    resumes = snapshot.resumes
    catalogue = catalogue_features(resumes, user_context(snapshot, 3), NOW)
    rows = np.flatnonzero(np.random.default_rng(seed).random(len(resumes)) < 0.8)
    heuristic = np.random.default_rng(seed + 1).random(rows.shape[0]) * 5
    policy = _learned_policy(seed, legacy)
    full = score_candidates(catalogue, resumes, rows, policy, np.random.default_rng(7))
    pruned = score_candidates(
        catalogue, resumes, rows, policy, np.random.default_rng(7), heuristic, keep
    )
    assert np.isneginf(pruned.ucb).any()  # something was pruned
    # The relative columns came from the same draws; compare exact top-k sets.
    np.testing.assert_array_equal(full.relative, pruned.relative)
    finite = np.isfinite(pruned.ucb)
    np.testing.assert_allclose(pruned.ucb[finite], full.ucb[finite], rtol=1e-12, atol=1e-12)
    top_full = set(np.argsort(-(full.ucb + heuristic), kind="stable")[:keep].tolist())
    top_pruned = set(np.argsort(-(pruned.ucb + heuristic), kind="stable")[:keep].tolist())
    assert top_full == top_pruned


def test_upper_bound_holds() -> None:
    rng = np.random.default_rng(1)
    adaptive = LinUCB(LinUCBConfig.legacy(1.5, 0.8))  # past 10 rewards: a random bonus
    adaptive.update(rng.random((30, 18)), np.zeros(30, dtype=np.int64), rng.random(30))
    for policy in (_learned_policy(3, True), _learned_policy(3, False), adaptive):
        x = rng.random((500, 18)) * 3
        bound = policy.score_upper_bound(x)
        for draw in range(5):
            assert (
                policy.score(x, np.zeros(500, dtype=np.int64), np.random.default_rng(draw)) <= bound
            ).all()
