"""Off-policy estimators of a target policy's value from logged bandit feedback.

Logged data: n rounds of (context x_i (d,), action a_i, reward r_i, propensity p_i), p_i
being the *logging* policy's probability of a_i. A target policy is given by its action
distribution ``pi`` (n, K): pi[i, a] = probability that the target takes a in round i.
With w_i = pi[i, a_i] / p_i:

* IPS:   V = mean(w_i r_i)                                    (unbiased, high variance)
* SNIPS: V = sum(w_i r_i) / sum(w_i)                           (self-normalised, biased,
  consistent, bounded by the rewards)
* DR:    V = mean(sum_a pi[i, a] q(x_i, a) + w_i (r_i - q(x_i, a_i)))   with a reward model
  q (n, K); unbiased when either the propensities or q are right, and low variance when q
  is good (Dudik, Langford and Li 2011). Use a cross-fitted q (:func:`fit_reward_model`).

Intervals: ``"analytic"`` (normal approximation of the per-round terms; delta method for
SNIPS) or ``"bootstrap"`` (percentile bootstrap over rounds, the estimator recomputed on each
resample). The effective sample size (sum w)^2 / sum w^2 says how many logged rounds the
estimate is really worth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Estimator = Literal["ips", "snips", "dr"]
Interval = Literal["analytic", "bootstrap"]
ESTIMATORS: tuple[Estimator, ...] = ("ips", "snips", "dr")
_Z = {0.90: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}
_BOOT_CHUNK = 100  # bootstrap resamples drawn at once (memory: chunk x n indices)


@dataclass(frozen=True)
class LoggedFeedback:
    """n logged rounds: ``contexts`` (n, d), ``actions`` (n,) in [0, n_actions),
    ``rewards`` (n,), ``propensities`` (n,) in (0, 1], ``positions`` (n,) (0 when the log
    has a single slot)."""

    contexts: Floats
    actions: Ints
    rewards: Floats
    propensities: Floats
    n_actions: int
    positions: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = self.actions.shape[0]
        if self.contexts.shape[0] != n or self.rewards.shape != (n,):
            raise ValueError("contexts, actions and rewards must have n rows")
        if self.propensities.shape != (n,) or not np.all(
            (self.propensities > 0) & (self.propensities <= 1)
        ):
            raise ValueError("propensities must have shape (n,) and lie in (0, 1]")
        if n and (self.actions.min() < 0 or self.actions.max() >= self.n_actions):
            raise ValueError("actions must lie in [0, n_actions)")

    def __len__(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    effective_sample_size: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "effective_sample_size": self.effective_sample_size,
        }


def _point(kind: Estimator, r: Floats, w: Floats, direct: Floats, q_logged: Floats) -> float:
    if kind == "ips":
        return float(np.mean(w * r))
    if kind == "snips":
        return float(np.sum(w * r) / max(float(np.sum(w)), 1e-300))
    return float(np.mean(direct + w * (r - q_logged)))


def _analytic_se(
    kind: Estimator, r: Floats, w: Floats, direct: Floats, q_logged: Floats, value: float
) -> float:
    n = r.shape[0]
    if kind == "ips":
        return float(np.std(w * r, ddof=1) / np.sqrt(n))
    if kind == "dr":
        return float(np.std(direct + w * (r - q_logged), ddof=1) / np.sqrt(n))
    # Delta method for a ratio of means: Var ~ E[(w (r - V))^2] / (n E[w]^2).
    return float(np.sqrt(np.mean((w * (r - value)) ** 2) / n) / max(float(np.mean(w)), 1e-300))


def estimate(
    data: LoggedFeedback,
    action_dist: Floats,
    kind: Estimator,
    *,
    reward_model: Floats | None = None,
    interval: Interval = "analytic",
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> Estimate:
    """The value of the target policy ``action_dist`` (n, K) by estimator ``kind``.

    ``reward_model`` (n, K) is required by ``"dr"``. ``level`` is 0.90, 0.95 or 0.99 for
    analytic intervals (any level in (0, 1) for the bootstrap).
    """
    n, k = len(data), data.n_actions
    pi = np.asarray(action_dist, dtype=np.float64)
    if pi.shape != (n, k):
        raise ValueError(f"action_dist must have shape ({n}, {k}), got {pi.shape}")
    if n == 0:
        raise ValueError("no logged rounds")
    rows = np.arange(n)
    w = pi[rows, data.actions] / data.propensities
    r = data.rewards
    if kind == "dr":
        if reward_model is None or reward_model.shape != (n, k):
            raise ValueError(f"dr needs a reward_model of shape ({n}, {k})")
        direct = np.sum(pi * reward_model, axis=1)
        q_logged = reward_model[rows, data.actions]
    else:
        direct = q_logged = np.zeros(n)
    value = _point(kind, r, w, direct, q_logged)
    if interval == "analytic":
        if level not in _Z:
            raise ValueError(f"analytic intervals support levels {sorted(_Z)}")
        half = _Z[level] * _analytic_se(kind, r, w, direct, q_logged, value)
        low, high = value - half, value + half
    else:
        low, high = _bootstrap(kind, r, w, direct, q_logged, level, n_boot, seed)
    ess = float(np.sum(w) ** 2 / max(float(np.sum(w**2)), 1e-300))
    return Estimate(kind, value, low, high, n, ess)


def _bootstrap(
    kind: Estimator,
    r: Floats,
    w: Floats,
    direct: Floats,
    q_logged: Floats,
    level: float,
    n_boot: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of the estimator over ``n_boot`` resamples of the rounds."""
    rng = np.random.default_rng(seed)
    n = r.shape[0]
    values = np.empty(n_boot)
    terms = direct + w * (r - q_logged) if kind == "dr" else w * r
    for start in range(0, n_boot, _BOOT_CHUNK):
        stop = min(start + _BOOT_CHUNK, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        if kind == "snips":
            values[start:stop] = terms[idx].sum(1) / np.maximum(w[idx].sum(1), 1e-300)
        else:
            values[start:stop] = terms[idx].mean(1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def fit_reward_model(
    data: LoggedFeedback,
    *,
    kind: Literal["mean", "ridge"] = "mean",
    folds: int = 2,
    ridge: float = 1.0,
    prior_strength: float = 1.0,
    seed: int = 0,
) -> Floats:
    """Cross-fitted reward predictions q (n, K): each round is predicted by a model fitted
    on the other folds.

    ``"mean"``: per-action mean reward shrunk to the global mean with ``prior_strength``
    pseudo-rounds; ``"ridge"``: per-action ridge regression on [contexts, 1] (falling back
    to the shrunk mean for actions with too few rounds); predictions clipped to the reward
    range.
    """
    n, k = len(data), data.n_actions
    if folds < 2:
        raise ValueError("folds must be >= 2")
    fold = np.random.default_rng(seed).integers(0, folds, size=n)
    out = np.zeros((n, k))
    x = np.column_stack([data.contexts, np.ones(n)])
    low, high = float(data.rewards.min(initial=0.0)), float(data.rewards.max(initial=1.0))
    for f in range(folds):
        train, test = fold != f, fold == f
        a, r = data.actions[train], data.rewards[train]
        overall = float(r.mean()) if r.size else 0.0
        counts = np.bincount(a, minlength=k).astype(np.float64)
        sums = np.bincount(a, weights=r, minlength=k)
        means = (sums + prior_strength * overall) / (counts + prior_strength)
        out[test] = means
        if kind == "ridge":
            xt = x[train]
            for action in np.flatnonzero(counts > x.shape[1]):
                rows = a == action
                gram = xt[rows].T @ xt[rows] + ridge * np.eye(x.shape[1])
                beta = np.linalg.solve(gram, xt[rows].T @ r[rows])
                out[test, action] = x[test] @ beta
    clipped: Floats = np.clip(out, low, high)
    return clipped


def evaluate_policy(
    data: LoggedFeedback,
    action_dist: Floats,
    *,
    reward_model: Floats | None = None,
    interval: Interval = "analytic",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """IPS, SNIPS and (with a reward model) DR estimates of one target policy."""
    kinds = ESTIMATORS if reward_model is not None else ESTIMATORS[:2]
    return {
        kind: estimate(
            data,
            action_dist,
            kind,
            reward_model=reward_model,
            interval=interval,
            n_boot=n_boot,
            seed=seed,
        )
        for kind in kinds
    }
