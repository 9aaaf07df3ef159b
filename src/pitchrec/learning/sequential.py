"""Always-valid confidence intervals for like rates and for their difference between a
variant and the control: an operator may look at them every hour, or every second, and
stop when they exclude 0 without inflating the error rate.

The boundary is Robbins' normal mixture, in the form of Howard, Ramdas, McAuliffe and
Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of
Statistics 49(2), 2021 (the normal-mixture uniform boundary): for a statistic whose
centred sum is (approximately) a Brownian motion in its intrinsic time ``1 / V`` (``V``
the variance of the estimate), mixing the exponential supermartingale over a tilt drawn
from N(0, tau^2) and applying Ville's inequality gives, with probability >= 1 - alpha
at *all* times at once,

    |estimate - truth| <= sqrt( V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)) ).

The variance is not known: it is the plug-in Bernoulli variance of each arm (a
Laplace-smoothed rate, so that 0 or n successes do not make it 0), which makes the
sequence an *asymptotic* confidence sequence in the sense of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence
sequences", Annals of Statistics 52(6), 2024 (their Gaussian-mixture AsympCS is this
boundary with the empirical variance). For the difference of two Bernoulli means the
variance is the sum of the arms' ``p (1 - p) / n``; with equal arm sizes this is the
always-valid interval of the mixture SPRT of Johari, Koomen, Pekelis and Walsh,
"Always valid inference: continuous monitoring of A/B tests", Operations Research 70(3),
2022.

``tau`` (the experiment's ``effect_size``) sets where the sequence is tightest: about
where its half-width has shrunk to ``tau``; any positive value keeps the guarantee.

Assumptions, said plainly: observations are independent Bernoulli draws per arm. Feed
impressions are not independent (one user's taste runs through many of them), so the
intervals are narrower than a user-level analysis would give; the coverage test
(tests/unit/test_experiment_sequential.py) checks the independent case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float

    def as_dict(self) -> dict[str, float]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
        }


def mixture_radius(variance: ArrayLike, alpha: float, tau: float) -> Floats:
    """Half-width (same shape as ``variance``) of the two-sided normal-mixture confidence
    sequence at level 1 - ``alpha`` for an estimate of variance ``variance`` (module
    docstring); 0 where the variance is 0."""
    if not (0.0 < alpha < 1.0 and tau > 0.0):
        raise ValueError("alpha must be in (0, 1) and tau > 0")
    v = np.asarray(variance, dtype=np.float64)
    tau2 = tau * tau
    safe = np.where(v > 0.0, v, 1.0)
    radius2 = safe * (safe + tau2) / tau2 * (2.0 * math.log(1.0 / alpha) + np.log1p(tau2 / safe))
    out: Floats = np.where(v > 0.0, np.sqrt(radius2), 0.0)
    return out


def bernoulli_variance(successes: ArrayLike, trials: ArrayLike) -> Floats:
    """The plug-in variance of a rate, ``p (1 - p) / n`` with ``p = (x + 1) / (n + 2)``
    (inf where ``n`` is 0)."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    p = (x + 1.0) / (n + 2.0)
    out: Floats = np.where(n > 0, p * (1.0 - p) / np.where(n > 0, n, 1.0), np.inf)
    return out


def rate(successes: ArrayLike, trials: ArrayLike) -> Floats:
    """``x / n``, 0 where ``n`` is 0."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    out: Floats = np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)
    return out


def difference_bounds(
    x1: ArrayLike, n1: ArrayLike, x0: ArrayLike, n0: ArrayLike, alpha: float, tau: float
) -> tuple[Floats, Floats, Floats]:
    """(estimate, low, high) of ``x1/n1 - x0/n0`` (arm 1 minus arm 0), elementwise: the
    always-valid interval at 1 - ``alpha``, clipped to [-1, 1]; [-1, 1] while an arm is
    empty."""
    estimate = rate(x1, n1) - rate(x0, n0)
    variance = bernoulli_variance(x1, n1) + bernoulli_variance(x0, n0)
    finite = np.isfinite(variance)
    radius = mixture_radius(np.where(finite, variance, 1.0), alpha, tau)
    radius = np.where(finite, radius, 2.0)
    return estimate, np.clip(estimate - radius, -1.0, 1.0), np.clip(estimate + radius, -1.0, 1.0)


def fixed_difference_bounds(
    x1: ArrayLike, n1: ArrayLike, x0: ArrayLike, n0: ArrayLike, alpha: float
) -> tuple[Floats, Floats, Floats]:
    """The naive fixed-n (Wald) interval of the same difference: valid at one sample size
    chosen in advance, not under repeated looks (kept to show the difference, in tests)."""
    estimate = rate(x1, n1) - rate(x0, n0)
    variance = bernoulli_variance(x1, n1) + bernoulli_variance(x0, n0)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    radius = z * np.sqrt(np.where(np.isfinite(variance), variance, 4.0))
    return estimate, estimate - radius, estimate + radius


def difference_interval(
    x1: float, n1: float, x0: float, n0: float, confidence: float, tau: float
) -> Interval:
    """The always-valid interval of the rate difference ``x1/n1 - x0/n0``."""
    estimate, low, high = difference_bounds(x1, n1, x0, n0, 1.0 - confidence, tau)
    return Interval(float(estimate), float(low), float(high), confidence)


def rate_interval(successes: float, trials: float, confidence: float, tau: float) -> Interval:
    """The always-valid interval of one rate, clipped to [0, 1] ([0, 1] without trials)."""
    p = float(rate(successes, trials))
    variance = float(bernoulli_variance(successes, trials))
    if not math.isfinite(variance):
        return Interval(p, 0.0, 1.0, confidence)
    radius = float(mixture_radius(variance, 1.0 - confidence, tau))
    return Interval(p, max(0.0, p - radius), min(1.0, p + radius), confidence)
