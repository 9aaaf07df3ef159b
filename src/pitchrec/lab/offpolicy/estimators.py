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

A policy's value lies in the reward range, but IPS and DR need not (DR's terms can be
negative): :func:`estimate` clips the point estimate and the interval to the reward range
and flags it (``Estimate.clipped``, with the unclipped numbers kept). Inside the range the
numbers are the formulas above unchanged.

Inputs that are not what these formulas assume (a target row that is not a probability
distribution, propensities outside (0, 1], a reward model that cannot be fitted) raise
:class:`OffPolicyInputError`, a :class:`~pitchrec.errors.PitchrecError` (and a
``ValueError``) whose message names the problem.

The logged data, its checks and :class:`OffPolicyInputError` are in
:mod:`.logged_feedback`, the reward model in :mod:`.reward_model`; their names are
re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pitchrec.lab.offpolicy.logged_feedback import (
    Floats,
    Ints,
    LoggedFeedback,
    OffPolicyInputError,
    reward_bounds,
)
from pitchrec.lab.offpolicy.reward_model import fit_reward_model

__all__ = [
    "ESTIMATORS",
    "SUM_TOLERANCE",
    "Estimate",
    "Estimator",
    "Floats",
    "Interval",
    "Ints",
    "LoggedFeedback",
    "OffPolicyInputError",
    "check_action_dist",
    "estimate",
    "evaluate_policy",
    "fit_reward_model",
    "reward_bounds",
]

Estimator = Literal["ips", "snips", "dr"]
Interval = Literal["analytic", "bootstrap"]
ESTIMATORS: tuple[Estimator, ...] = ("ips", "snips", "dr")
_Z = {0.90: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}
_BOOT_CHUNK = 100  # bootstrap resamples drawn at once (memory: chunk x n indices)
SUM_TOLERANCE = 1e-6  # how far a target row's sum may be from 1


@dataclass(frozen=True)
class Estimate:
    """One estimate: ``value`` and interval [``ci_low``, ``ci_high``] within the reward
    range; ``clipped`` when any of the three was moved into it, ``unclipped`` then holding
    the estimator's own (value, ci_low, ci_high)."""

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    effective_sample_size: float
    clipped: bool = False
    unclipped: tuple[float, float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "effective_sample_size": self.effective_sample_size,
            "clipped": self.clipped,
        }
        if self.unclipped is not None:
            value, low, high = self.unclipped
            out["unclipped"] = {"value": value, "ci_low": low, "ci_high": high}
        return out


def check_action_dist(pi: Floats, positions: Ints | None = None) -> None:
    """Refuse a target distribution ``pi`` (n, K) that is not one: every entry finite and
    non-negative, every row (one round at one position, ``positions`` (n,)) summing to 1
    within :data:`SUM_TOLERANCE`. The message names the first offending row."""

    def where(row: int) -> str:
        at = (
            f" (position {int(positions[row])})" if positions is not None and positions.size else ""
        )
        return f"action_dist row {row}{at}"

    finite = np.isfinite(pi)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise OffPolicyInputError(f"{where(row)}: entry {col} is {pi[row, col]}, not finite")
    if (pi < 0).any():
        row, col = np.argwhere(pi < 0)[0]
        raise OffPolicyInputError(f"{where(row)}: entry {col} is negative ({pi[row, col]:g})")
    sums = pi.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        raise OffPolicyInputError(
            f"{where(bad[0])} sums to {sums[bad[0]]:.10g}, not 1 (tolerance {SUM_TOLERANCE:g}); "
            f"{bad.size} of {pi.shape[0]} rows are off"
        )


def _clip(
    values: tuple[float, float, float], bounds: tuple[float, float]
) -> tuple[tuple[float, float, float], bool]:
    """(value, low, high) moved into ``bounds``, and whether anything moved."""
    low, high = bounds
    clipped = tuple(min(max(v, low), high) for v in values)
    return (clipped[0], clipped[1], clipped[2]), clipped != values


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
    analytic intervals (any level in (0, 1) for the bootstrap). The point estimate and
    interval are clipped to ``data.reward_range`` (default :func:`reward_bounds` of the
    logged rewards) and flagged when that moved them. Raises :class:`OffPolicyInputError` when
    ``action_dist`` is not a distribution per row (:func:`check_action_dist`).
    """
    n, k = len(data), data.n_actions
    pi = np.asarray(action_dist, dtype=np.float64)
    if pi.shape != (n, k):
        raise OffPolicyInputError(f"action_dist must have shape ({n}, {k}), got {pi.shape}")
    if n == 0:
        raise OffPolicyInputError("no logged rounds")
    check_action_dist(pi, data.positions)
    rows = np.arange(n)
    w = pi[rows, data.actions] / data.propensities
    r = data.rewards
    direct, q_logged = _model_terms(kind, pi, reward_model, data.actions)
    value = _point(kind, r, w, direct, q_logged)
    if interval == "analytic":
        if level not in _Z:
            raise OffPolicyInputError(f"analytic intervals support levels {sorted(_Z)}")
        half = _Z[level] * _analytic_se(kind, r, w, direct, q_logged, value)
        low, high = value - half, value + half
    else:
        low, high = _bootstrap(kind, r, w, direct, q_logged, level, n_boot, seed)
    ess = float(np.sum(w) ** 2 / max(float(np.sum(w**2)), 1e-300))
    raw = (value, low, high)
    bounds = reward_bounds(r) if data.reward_range is None else data.reward_range
    (value, low, high), clipped = _clip(raw, bounds)
    return Estimate(kind, value, low, high, n, ess, clipped, raw if clipped else None)


def _model_terms(
    kind: Estimator, pi: Floats, reward_model: Floats | None, actions: Ints
) -> tuple[Floats, Floats]:
    """DR's direct term sum_a pi q (n,) and q at the logged actions (n,); zeros otherwise."""
    n, k = pi.shape
    if kind != "dr":
        return np.zeros(n), np.zeros(n)
    if reward_model is None or reward_model.shape != (n, k):
        raise OffPolicyInputError(f"dr needs a reward_model of shape ({n}, {k})")
    if not np.all(np.isfinite(reward_model)):
        raise OffPolicyInputError("reward_model holds NaN or infinite predictions")
    direct: Floats = np.sum(pi * reward_model, axis=1)
    q_logged: Floats = reward_model[np.arange(n), actions]
    return direct, q_logged


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


def evaluate_policy(
    data: LoggedFeedback,
    action_dist: Floats,
    *,
    reward_model: Floats | None = None,
    interval: Interval = "analytic",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """IPS, SNIPS and (with a reward model (n, K)) DR estimates of one target policy
    ``action_dist`` (n, K), clipped to the reward range as in :func:`estimate`."""
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
