"""The position-based model the slate estimators (:mod:`.slate`) assume, fitted on the log.

The expected reward of item i at position k is theta_k q(x, i): theta (``examination``)
is the examination probability of each position, q^ (``cross_fitted_rates``) an item's
likes per unit of examination, shrunk to the global rate and cross-fitted over two folds
of users for the DR estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.offpolicy.estimators import OffPolicyInputError
from pitchrec.lab.offpolicy.shadow_feed import ShadowFeed

Floats = NDArray[np.float64]
Rates = tuple[dict[str, float], float]  # q^ per item, and the global rate
PRIOR_EXAMINATIONS = 1.0  # pseudo-examinations shrinking an item's like rate to the mean


def examination(feeds: Sequence[ShadowFeed], how: str | float) -> Floats:
    """theta (K_max,) by ``how`` (see :mod:`.slate`)."""
    k_max = max(len(f.log.items) for f in feeds)
    if how == "uniform":
        return np.ones(k_max)
    if isinstance(how, float | int) and not isinstance(how, bool):
        if not 0.0 < float(how) <= 1.0:
            raise OffPolicyInputError("an examination decay must lie in (0, 1]")
        return float(how) ** np.arange(k_max, dtype=np.float64)
    if how != "events":
        raise OffPolicyInputError(f"examination: 'events', 'uniform' or a number, not {how!r}")
    seen, shown = np.zeros(k_max), np.zeros(k_max)
    for f in feeds:
        shown[: len(f.examined)] += 1
        seen[: len(f.examined)] += np.asarray(f.examined, dtype=np.float64)
    if not seen.any():
        raise OffPolicyInputError(
            "no feedback event names a shadowed feed: examination cannot be estimated "
            "(the rewards would all be 0)"
        )
    return np.divide(seen, shown, out=np.zeros(k_max), where=shown > 0)


def _item_rates(feeds: Sequence[ShadowFeed], theta: Floats) -> Rates:
    """q^ per item (likes per unit of examination, shrunk) and the global rate."""
    likes: dict[str, float] = {}
    exams: dict[str, float] = {}
    for f in feeds:
        for k, (item, r) in enumerate(zip(f.log.items, f.rewards, strict=True)):
            likes[item] = likes.get(item, 0.0) + r
            exams[item] = exams.get(item, 0.0) + float(theta[k])
    total = sum(exams.values())
    mean = sum(likes.values()) / total if total > 0 else 0.0
    rates = {
        i: min(1.0, (likes[i] + PRIOR_EXAMINATIONS * mean) / (exams[i] + PRIOR_EXAMINATIONS))
        for i in likes
    }
    return rates, min(1.0, mean)


def cross_fitted_rates(feeds: Sequence[ShadowFeed], theta: Floats) -> list[Rates]:
    """Per feed, the item rates fitted on the other fold of users (cross-fitting)."""
    fold = [hash_fold(f.cluster) for f in feeds]
    fitted = [
        _item_rates([f for f, g in zip(feeds, fold, strict=True) if g != side], theta)
        for side in (0, 1)
    ]
    return [fitted[g] for g in fold]


def hash_fold(cluster: str) -> int:
    """0 or 1, fixed by the cluster name (stable across runs)."""
    return sum(cluster.encode()) % 2
