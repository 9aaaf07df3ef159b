"""LinUCB specifics: the legacy equality, Sherman-Morrison, theta, the legacy bonus."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from pitchrec.policies import LinUCB, LinUCBConfig, make_policy

D = 18

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
context_matrices = st.integers(min_value=0, max_value=30).flatmap(
    lambda n: arrays(np.float64, (n, D), elements=finite)
)
alphas = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)


def random_rows(m: int, seed: int, d: int = D) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(size=(m, d))


def quadratic(x: NDArray[np.float64], a_inv: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.einsum("ij,jk,ik->i", x, a_inv, x)
    return out


@settings(max_examples=60, deadline=None)
@given(contexts=context_matrices, alpha=alphas)
def test_legacy_prior_score_is_exactly_alpha_norm_plus_07(
    contexts: NDArray[np.float64], alpha: float
) -> None:
    """Spec 2.5, effective behaviour: with A = I, b = 0 and no history, α·‖x‖₂ + 0.7."""
    policy = LinUCB(LinUCBConfig.legacy(alpha=alpha, beta=0.8))
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    out = policy.score(contexts, np.zeros(len(contexts), dtype=np.int64), rng)
    # Equal up to summation order (einsum vs norm): 1e-12 relative.
    np.testing.assert_allclose(out, alpha * np.linalg.norm(contexts, axis=1) + 0.7, rtol=1e-12)
    assert rng.bit_generator.state == before  # the constant bonus draws nothing


@settings(max_examples=30, deadline=None)
@given(contexts=context_matrices, alpha=alphas)
def test_prior_score_without_bonus_is_alpha_norm(
    contexts: NDArray[np.float64], alpha: float
) -> None:
    policy = make_policy("linucb", dimension=D, alpha=alpha)
    out = policy.score(contexts, np.zeros(len(contexts), dtype=np.int64), np.random.default_rng())
    expected = alpha * np.linalg.norm(contexts, axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)


def test_make_policy_passes_config_fields() -> None:
    policy = make_policy("linucb", dimension=18, alpha=1.5)
    assert isinstance(policy, LinUCB)
    assert policy.config.alpha == 1.5
    assert policy.dimension == 18
    np.testing.assert_array_equal(policy.A_inv, np.eye(18))  # legacy: I itself
    with pytest.raises(TypeError):
        make_policy("linucb", no_such_field=1)
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("no-such-policy")


@pytest.mark.parametrize(
    "fields",
    [
        {"dimension": 0},
        {"alpha": -1.0},
        {"ridge": 0.0},
        {"recompute_every": 0},
        {"bonus_window": 5},
    ],
)
def test_bad_config_is_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LinUCBConfig(**fields)  # type: ignore[arg-type]


def test_legacy_config_matches_the_spec() -> None:
    config = LinUCBConfig.legacy(alpha=1.3, beta=0.7)
    assert (config.alpha, config.beta, config.legacy_bonus) == (1.3, 0.7, 0.7)
    assert (config.bonus_min_history, config.bonus_window, config.bonus_scale) == (10, 50, 1.3)
    assert config.dimension == 18
    assert config.ridge == 1.0


def test_sherman_morrison_tracks_the_exact_inverse() -> None:
    policy = LinUCB(LinUCBConfig(recompute_every=None))
    rng = np.random.default_rng(11)
    rows = random_rows(3000, seed=1)
    rewards = rng.random(3000)
    start = 0
    while start < len(rows):  # single rows and small batches (<= d): rank-1 updates only
        size = int(rng.integers(1, 6))
        policy.update(
            rows[start : start + size], np.zeros(size, np.int64), rewards[start : start + size]
        )
        start += size
    assert policy.export_state().local["since_recompute"] == 3000  # never recomputed
    expected_a = np.eye(D) + rows.T @ rows
    np.testing.assert_allclose(policy.A, expected_a, rtol=1e-12, atol=1e-9)
    exact = np.linalg.inv(policy.A)
    np.testing.assert_allclose(policy.A_inv, exact, rtol=1e-8, atol=1e-8 * np.abs(exact).max())


def test_periodic_and_large_batch_recompute_are_exact() -> None:
    policy = LinUCB(LinUCBConfig(recompute_every=7))
    rows = random_rows(7, seed=2)
    for i in range(7):
        policy.update(rows[i : i + 1], np.zeros(1, np.int64), np.array([0.5]))
    assert policy.export_state().local["since_recompute"] == 0
    np.testing.assert_allclose(policy.A_inv, np.linalg.inv(policy.A), rtol=1e-12, atol=1e-15)
    big = random_rows(D + 1, seed=3)
    policy.update(big, np.zeros(D + 1, np.int64), np.full(D + 1, 0.25))
    np.testing.assert_allclose(policy.A_inv, np.linalg.inv(policy.A), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(policy.A_inv, policy.A_inv.T)


def test_theta_is_a_inv_times_b() -> None:
    policy = LinUCB()
    rows = random_rows(200, seed=4)
    true_theta = np.random.default_rng(5).normal(size=D) / 4
    rewards = np.clip(rows @ true_theta * 0.1 + 0.5, 0.0, 1.0)
    for start in range(0, 200, 4):
        policy.update(rows[start : start + 4], np.zeros(4, np.int64), rewards[start : start + 4])
    np.testing.assert_allclose(policy.b, rows.T @ rewards, rtol=1e-12)
    np.testing.assert_allclose(policy.theta(), policy.A_inv @ policy.b, rtol=1e-12)
    np.testing.assert_allclose(policy.theta(), np.linalg.solve(policy.A, policy.b), rtol=1e-8)
    assert policy.describe()["theta"] == pytest.approx(policy.theta().tolist())


def test_score_is_expected_plus_uncertainty() -> None:
    policy = LinUCB(LinUCBConfig(alpha=0.6))
    rows = random_rows(40, seed=6)
    policy.update(rows, np.zeros(40, np.int64), np.random.default_rng(7).random(40))
    x = random_rows(9, seed=8)
    expected = x @ policy.theta() + 0.6 * np.sqrt(quadratic(x, policy.A_inv))
    out = policy.score(x, np.arange(9), np.random.default_rng(0))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_applied_delta_keeps_the_inverse_consistent() -> None:
    source = LinUCB()
    source.update(random_rows(5, seed=9), np.zeros(5, np.int64), np.ones(5))
    target = LinUCB()
    target.update(random_rows(3, seed=10), np.zeros(3, np.int64), np.zeros(3))
    target.apply_delta(source.pending_delta())
    np.testing.assert_allclose(target.A_inv, np.linalg.inv(target.A), rtol=1e-12, atol=1e-15)


def feed(policy: LinUCB, rewards: NDArray[np.float64]) -> None:
    rows = random_rows(len(rewards), seed=12) / 10
    for row, reward in zip(rows, rewards, strict=True):
        policy.update(row[None, :], np.zeros(1, np.int64), np.array([reward]))


def legacy_expected(
    policy: LinUCB, x: NDArray[np.float64], window: NDArray[np.float64], seed: int
) -> NDArray[np.float64]:
    cfg = policy.config
    u = np.random.default_rng(seed).random(len(x))
    bonus = cfg.beta * np.var(window) * 1.3 * u
    return x @ policy.theta() + cfg.alpha * np.sqrt(quadratic(x, policy.A_inv)) + bonus


def test_legacy_bonus_stays_constant_below_ten_rewards() -> None:
    policy = LinUCB(LinUCBConfig.legacy(alpha=1.5, beta=0.8))
    feed(policy, np.linspace(0.0, 1.0, 9))
    x = random_rows(6, seed=13)
    expected = x @ policy.theta() + 1.5 * np.sqrt(quadratic(x, policy.A_inv)) + 0.7
    np.testing.assert_allclose(policy.score(x, np.arange(6), np.random.default_rng(1)), expected)


def test_legacy_bonus_after_ten_rewards_is_beta_var_13_uniform() -> None:
    policy = LinUCB(LinUCBConfig.legacy(alpha=1.5, beta=0.8))
    rewards = np.random.default_rng(14).random(10)
    feed(policy, rewards)
    x = random_rows(25, seed=15)
    out = policy.score(x, np.arange(25), np.random.default_rng(16))
    np.testing.assert_allclose(out, legacy_expected(policy, x, rewards, 16), rtol=1e-12)


def test_legacy_bonus_uses_only_the_last_fifty_rewards() -> None:
    policy = LinUCB(LinUCBConfig.legacy(alpha=1.8, beta=0.9))
    rewards = np.concatenate([np.ones(30), np.random.default_rng(17).random(50)])
    feed(policy, rewards)
    assert len(policy.export_state().local["reward_window"]) == 50
    x = random_rows(12, seed=18)
    out = policy.score(x, np.arange(12), np.random.default_rng(19))
    np.testing.assert_allclose(out, legacy_expected(policy, x, rewards[-50:], 19), rtol=1e-12)


def test_legacy_window_survives_export_import() -> None:
    policy = LinUCB(LinUCBConfig.legacy(alpha=1.5, beta=0.8))
    feed(policy, np.random.default_rng(20).random(30))
    copy = LinUCB(LinUCBConfig.legacy(alpha=1.5, beta=0.8))
    copy.import_state(policy.export_state())
    x = random_rows(8, seed=21)
    np.testing.assert_array_equal(
        copy.score(x, np.arange(8), np.random.default_rng(2)),
        policy.score(x, np.arange(8), np.random.default_rng(2)),
    )


def test_wrong_context_width_is_refused() -> None:
    policy = LinUCB(LinUCBConfig(dimension=4))
    with pytest.raises(ValueError, match="4 columns"):
        policy.score(np.zeros((2, 5)), np.zeros(2, np.int64), np.random.default_rng())
    with pytest.raises(ValueError):
        policy.apply_delta({"A": np.zeros((5, 5)), "b": np.zeros(5)})
