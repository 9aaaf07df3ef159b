"""Feed quality metrics over a whole run, and bootstrap intervals.

Definitions (the legacy per-feed metrics are those of spec 2.11, in
:mod:`pitchrec.ranking.feed_metrics`; the run-level ones are ours):

* *catalogue coverage* (run): share of the eligible resumes served at least once;
* *exposure Gini* across creators: Gini coefficient of the number of impressions of each
  creator who owns an eligible resume (creators never shown count as 0);
* *skill diversity* (per feed, legacy): 100 * |union of the feed's skills| / (2 * items),
  averaged over feeds;
* *new-content ratio*: share of impressions of resumes at most 45 days old (spec 2.11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.ranking.feed_metrics import gini as gini  # re-exported: one definition

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def coverage(counts: Ints | Floats) -> float:
    """Share (0-1) of items with at least one impression; ``counts`` (n,)."""
    c = np.asarray(counts)
    return float((c > 0).mean()) if c.shape[0] else 0.0


def creator_exposure(counts: Ints | Floats, creators: Ints) -> Floats:
    """Impressions (m,) per distinct creator, from per-item ``counts`` (n,) and the
    item owners ``creators`` (n,)."""
    _, inverse = np.unique(np.asarray(creators), return_inverse=True)
    out: Floats = np.bincount(inverse, weights=np.asarray(counts, dtype=np.float64)).astype(
        np.float64
    )
    return out


def skill_diversity(skill_lists: list[Ints]) -> float:
    """Legacy skill diversity of one feed (percent): distinct skills / (2 * items)."""
    if not skill_lists:
        return 0.0
    distinct = int(np.unique(np.concatenate(skill_lists)).shape[0])
    return 100.0 * distinct / (2.0 * len(skill_lists))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (lower, upper) confidence interval."""

    mean: float
    lower: float
    upper: float

    def overlaps(self, other: Interval) -> bool:
        return not (self.upper < other.lower or other.upper < self.lower)

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci_low": self.lower, "ci_high": self.upper}


def bootstrap_mean(
    values: Floats, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (k,) (e.g. one per seed)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Interval(float(v.mean()), float(low), float(high))


def bootstrap_ratio(
    numerator: Floats,
    denominator: Floats,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of mean(numerator) / mean(denominator), resampling
    the pairs (k,) together (paired seeds: the same user stream)."""
    a = np.asarray(numerator, dtype=np.float64)
    b = np.asarray(denominator, dtype=np.float64)
    if a.shape != b.shape or a.shape[0] == 0:
        raise ValueError("numerator and denominator must be non-empty and of equal shape")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))
    ratios = a[idx].mean(axis=1) / np.maximum(b[idx].mean(axis=1), 1e-12)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return Interval(float(a.mean() / max(b.mean(), 1e-12)), float(low), float(high))


def bootstrap_curves(
    curves: Floats, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[Floats, Floats, Floats]:
    """Pointwise mean and percentile bootstrap band of ``curves`` (k seeds, T points):
    returns (mean (T,), lower (T,), upper (T,))."""
    c = np.asarray(curves, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, c.shape[0], size=(n_boot, c.shape[0]))
    means = c[idx].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=0)
    return c.mean(axis=0), low, high
