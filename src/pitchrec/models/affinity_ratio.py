"""How much the collaborative affinity should weigh against the popularity prior, chosen
on the deployment's own history at every build.

The service ranks by the prior (what is liked now) plus the user's collaborative affinity
(what people with the user's history went on to like), both scaled to [0, 1] and weighed
in score points. How much the affinity adds depends on the deployment: where tastes are
personal and the history dense enough to learn them, it adds much; where most users touch
one or two items, factors fitted to that history are mostly noise and popularity wins.
Measured by this very procedure at scale 1 (bench/quality/OFFLINE.md): on the
collaborative world the held-out NDCG@24 rose from 9.2 % (prior alone) to 12.0 % at a
ratio of 1 to 2; on the skills world it peaked at 1/8 (2.23 %) and fell to 1.64 % at 2.
No fixed ratio suits both, so, like the prior's half-life
(:mod:`pitchrec.models.popularity`), the build chooses it by a temporal validation inside
the training history: ALS is fitted on the interactions before the validation cut, each
held-out user (one with interactions on both sides) gets the ranking
``prior + ratio * affinity`` with the user's earlier resumes removed, and the ratio whose
rankings reach the users' later interactions best (NDCG@24) wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.models.popularity import VALIDATION_CUTOFF, ValidationPairs

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
#: The service's configured ratio: DEFAULT_COLLABORATIVE / DEFAULT_POPULARITY_PRIOR
#: (30 / 60 points, :mod:`pitchrec.ranking.options`); kept when the history is too small
#: to choose. The snapshot's affinity scale is the chosen ratio over this one.
DEFAULT_AFFINITY_RATIO = 0.5
#: Candidate ratios of affinity points to prior points: 0 (the prior alone) and a
#: doubling grid around the default; nothing in it depends on a data set.
AFFINITY_RATIO_GRID = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
#: Within this share of the best score, the smallest ratio wins: the ranking that leans
#: least on factors fitted to sparse data (the collaborative world's 1 and 2 differ by
#: 0.1 %, inside any interval of 2,800 users).
RELATIVE_TOLERANCE = 0.01
#: Held-out users scored at most (a seeded sample beyond): bounds the build at scale 20
#: (users x catalogue x grid scores in batches), and 2,000 users give an NDCG standard
#: error of about 0.5 points at the collaborative world's level.
MAX_VALIDATION_USERS = 2_000
_BATCH = 256  # users scored at once: (256, n) float64 matrices


@dataclass(frozen=True)
class AffinityChoice:
    """The chosen ratio, each candidate's validation NDCG@24 (empty when the default was
    kept) and how many held-out users were scored."""

    ratio: float
    scores: dict[float, float]
    users: int

    @property
    def scale(self) -> float:
        """The multiplier of the affinity at serve time: the chosen ratio over the
        service's configured one."""
        return self.ratio / DEFAULT_AFFINITY_RATIO


KEPT_DEFAULT = AffinityChoice(DEFAULT_AFFINITY_RATIO, {}, 0)


def _unit_rows(values: Floats) -> Floats:
    """``values`` (b, n) mapped linearly onto [0, 1] per row (rows of one value: 0)."""
    low = values.min(axis=1, keepdims=True)
    spread = values.max(axis=1, keepdims=True) - low
    scaled: Floats = np.where(
        spread > 1e-12, (values - low) / np.where(spread > 0, spread, 1.0), 0.0
    )
    return scaled


def _batch_ndcg(scores: Floats, seen: NDArray[np.bool_], relevant: NDArray[np.bool_]) -> Floats:
    """(b,) NDCG@cutoff of each row of ``scores`` (b, n) with ``seen`` (b, n) removed,
    against ``relevant`` (b, n)."""
    cutoff = min(VALIDATION_CUTOFF, scores.shape[1])
    masked = np.where(seen, -np.inf, scores)
    top = np.argpartition(-masked, cutoff - 1, axis=1)[:, :cutoff]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    discounts = 1.0 / np.log2(np.arange(cutoff) + 2.0)
    gains = (np.take_along_axis(relevant, top, axis=1) * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(relevant.sum(axis=1), cutoff) - 1]
    result: Floats = gains / ideal
    return result


def choose_affinity_ratio(
    prior: Floats,
    user_factors: NDArray[np.float32],
    item_factors: NDArray[np.float32],
    pairs: ValidationPairs,
    *,
    seed: int = 0,
) -> AffinityChoice:
    """The ratio of :data:`AFFINITY_RATIO_GRID` whose rankings best reach the held-out
    interactions. ``prior`` (n,): the popularity prior at the cut, in [0, 1];
    ``user_factors`` (u, f) and ``item_factors`` (n, f): ALS fitted on the interactions
    before the cut, user rows numbered as ``pairs`` numbers them."""
    n = prior.shape[0]
    users = np.intersect1d(pairs.after_user, pairs.before_user)
    if users.shape[0] < 1 or item_factors.shape[1] == 0 or n <= VALIDATION_CUTOFF:
        return KEPT_DEFAULT
    if users.shape[0] > MAX_VALIDATION_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, MAX_VALIDATION_USERS, False))
    totals = {ratio: 0.0 for ratio in AFFINITY_RATIO_GRID}
    items = item_factors.astype(np.float64)
    for start in range(0, users.shape[0], _BATCH):
        batch = users[start : start + _BATCH]
        local = np.full(pairs.n_users, -1, dtype=np.int64)
        local[batch] = np.arange(batch.shape[0])
        seen = np.zeros((batch.shape[0], n), dtype=np.bool_)
        pick = local[pairs.before_user] >= 0
        seen[local[pairs.before_user[pick]], pairs.before_item[pick]] = True
        relevant = np.zeros_like(seen)
        pick = local[pairs.after_user] >= 0
        relevant[local[pairs.after_user[pick]], pairs.after_item[pick]] = True
        affinity = _unit_rows(user_factors[batch].astype(np.float64) @ items.T)
        for ratio in AFFINITY_RATIO_GRID:
            totals[ratio] += float(_batch_ndcg(prior + ratio * affinity, seen, relevant).sum())
    scores = {ratio: total / users.shape[0] for ratio, total in totals.items()}
    best = max(scores.values())
    chosen = min(r for r, score in scores.items() if score >= best * (1.0 - RELATIVE_TOLERANCE))
    return AffinityChoice(float(chosen), scores, int(users.shape[0]))
