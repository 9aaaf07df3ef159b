"""Off-policy estimators on simulated logs whose true value is known, and the Open Bandit
importer end to end on the shipped public sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pitchrec.lab.offpolicy.estimators import (
    LoggedFeedback,
    estimate,
    evaluate_policy,
    fit_reward_model,
)
from pitchrec.lab.offpolicy.obd import evaluate_obd, load_obd

OBD_SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "obd-random-men"


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _simulated(n: int, seed: int) -> tuple[LoggedFeedback, np.ndarray, np.ndarray, float]:
    """Contexts x ~ N(0, I_3), 5 actions, P(r = 1 | x, a) = sigmoid(x . theta_a - 1); a
    softmax logging policy; the target favours the good actions. Returns the log, the
    target distribution, the true reward probabilities and the true value on these x."""
    rng = np.random.default_rng(seed)
    k, d = 5, 3
    x = rng.normal(size=(n, d))
    theta = np.random.default_rng(99).normal(size=(k, d))
    truth = 1.0 / (1.0 + np.exp(-(x @ theta.T - 1.0)))
    logging = _softmax(x @ np.random.default_rng(98).normal(size=(d, k)) * 0.7)
    target = _softmax(3.0 * (x @ theta.T))
    actions = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    actions = np.minimum(actions, k - 1)
    rows = np.arange(n)
    rewards = (rng.random(n) < truth[rows, actions]).astype(float)
    data = LoggedFeedback(x, actions.astype(np.int64), rewards, logging[rows, actions], k)
    return data, target, truth, float(np.mean(np.sum(target * truth, axis=1)))


@pytest.mark.parametrize("kind", ["ips", "snips", "dr"])
@pytest.mark.parametrize("interval", ["analytic", "bootstrap"])
def test_estimators_recover_a_known_value(kind: str, interval: str) -> None:
    data, target, _truth, value = _simulated(20_000, seed=1)
    model = fit_reward_model(data, kind="ridge") if kind == "dr" else None
    est = estimate(data, target, kind, reward_model=model, interval=interval, n_boot=300)  # type: ignore[arg-type]
    assert est.ci_low < value < est.ci_high
    assert abs(est.value - value) < 0.02
    assert 0 < est.effective_sample_size <= len(data)


def test_analytic_intervals_cover_about_95_percent() -> None:
    hits = {"ips": 0, "snips": 0, "dr": 0}
    reps = 40
    for seed in range(reps):
        data, target, truth, value = _simulated(3_000, seed=100 + seed)
        for kind, est in evaluate_policy(data, target, reward_model=truth).items():
            hits[kind] += est.ci_low <= value <= est.ci_high
    for kind, count in hits.items():
        assert count >= 0.8 * reps, (kind, count)


def test_a_good_reward_model_makes_dr_tighter_than_ips() -> None:
    data, target, truth, value = _simulated(20_000, seed=2)
    ips = estimate(data, target, "ips")
    dr = estimate(data, target, "dr", reward_model=truth)
    assert dr.ci_high - dr.ci_low < 0.5 * (ips.ci_high - ips.ci_low)
    assert dr.ci_low < value < dr.ci_high


def test_on_policy_evaluation_is_the_sample_mean() -> None:
    rng = np.random.default_rng(0)
    n, k = 1_000, 4
    actions = rng.integers(0, k, size=n)
    rewards = rng.random(n)
    data = LoggedFeedback(np.zeros((n, 1)), actions, rewards, np.full(n, 1.0 / k), k)
    uniform = np.full((n, k), 1.0 / k)
    for est in evaluate_policy(data, uniform, reward_model=np.zeros((n, k))).values():
        assert est.value == pytest.approx(rewards.mean())


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="propensities"):
        LoggedFeedback(
            np.zeros((2, 1)), np.zeros(2, dtype=np.int64), np.zeros(2), np.array([0.5, 0.0]), 2
        )
    data = LoggedFeedback(
        np.zeros((2, 1)), np.zeros(2, dtype=np.int64), np.zeros(2), np.full(2, 0.5), 2
    )
    with pytest.raises(ValueError, match="action_dist"):
        estimate(data, np.ones((2, 3)), "ips")
    with pytest.raises(ValueError, match="reward_model"):
        estimate(data, np.full((2, 2), 0.5), "dr")


@pytest.fixture(scope="module")
def obd_dir() -> Path:
    if not (OBD_SAMPLE / "men.csv").exists():
        pytest.skip(
            f"Open Bandit sample not found at {OBD_SAMPLE} (needs ../shared beside the clone)"
        )
    return OBD_SAMPLE


def test_obd_importer_reads_the_public_sample(obd_dir: Path) -> None:
    log = load_obd(obd_dir)
    data = log.data
    assert len(data) == 10_000
    assert data.n_actions == 34
    assert set(np.unique(data.positions).tolist()) == {0, 1, 2}
    assert int(data.rewards.sum()) == 46
    np.testing.assert_allclose(data.propensities, 1.0 / 34)
    assert data.contexts.shape == (10_000, log.user_feature_levels + 34)


def test_obd_end_to_end_estimates(obd_dir: Path) -> None:
    result = evaluate_obd(obd_dir, n_boot=200)
    behavior = result["targets"]["behavior"]
    # The logging policy evaluated on its own log: IPS and SNIPS are the click rate.
    assert behavior["ips"]["value"] == pytest.approx(result["on_policy_click_rate"])
    assert behavior["snips"]["value"] == pytest.approx(result["on_policy_click_rate"])
    assert behavior["dr"]["ci_low"] <= result["on_policy_click_rate"] <= behavior["dr"]["ci_high"]
    for estimates in result["targets"].values():
        for est in estimates.values():
            # DR terms may be negative; the estimates and intervals are clipped to [0, 1].
            assert 0.0 <= est["ci_low"] <= est["value"] <= est["ci_high"] <= 1.0
            assert est["value"] < 0.2  # 46 clicks in 10,000 rounds: around 0.005
            assert est["clipped"] == ("unclipped" in est)
