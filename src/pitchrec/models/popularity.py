"""The popularity prior, with its recency chosen on the deployment's own history.

What a feed should show next depends on how fast attention moves in a deployment: where
a pitch is watched mostly in its first days, what was popular last week predicts the next
likes far better than what was popular all year; where tastes are stable, the opposite.
No single half-life suits both (measured on the collaborative world, scale 1: a plain
most-popular list reaches NDCG@24 11.4 % with no decay, 13.0 % with 45 days, 17.5 % with
3 days), so the build picks it by a temporal validation inside the training history, the
way the offline evaluation scores a system (:mod:`pitchrec.lab.offline`): the last
:data:`VALIDATION_FRACTION` of the interactions are held out, each candidate half-life
ranks the catalogue from the interactions before them, and the candidate whose list
reaches the held-out users' interactions best (NDCG at :data:`VALIDATION_CUTOFF`, the
user's earlier resumes excluded) wins. With too little history to tell, the build keeps
:data:`DEFAULT_HALF_LIFE_DAYS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
SECONDS_PER_DAY = 86_400.0
#: The legacy's own horizon of "new" content (spec 2.3): the half-life kept when the
#: history is too small to choose.
DEFAULT_HALF_LIFE_DAYS = 45.0
#: Candidate half-lives in days (inf: no decay). A geometric-ish grid from a day to half a
#: year; nothing in it depends on a data set.
HALF_LIFE_GRID_DAYS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 90.0, 180.0, np.inf)
#: Share of the interactions held out (the offline evaluation's default holdout, 20 %).
VALIDATION_FRACTION = 0.2
#: The feed's page size (spec 2.7: 24 items).
VALIDATION_CUTOFF = 24
#: Fewer held-out users than this and the choice is noise: keep the default.
MIN_VALIDATION_USERS = 30


@dataclass(frozen=True)
class HalfLifeChoice:
    """The chosen half-life in days (inf: no decay) and each candidate's validation
    NDCG (empty when the default was kept for want of history)."""

    half_life_days: float
    scores: dict[float, float]


def decayed_counts(
    columns: Ints, created_at: Floats, weights: Floats, n_items: int, now: float, half_life: float
) -> Floats:
    """(n_items,) the summed ``weights`` (m,) of interactions on item ``columns`` (m,),
    each halved every ``half_life`` days of age at ``now`` (inf: no decay)."""
    if np.isinf(half_life):
        decay = np.ones(columns.shape[0])
    else:
        age_days = np.maximum(now - created_at, 0.0) / SECONDS_PER_DAY
        decay = 0.5 ** (age_days / half_life)
    counts: Floats = np.bincount(columns, weights=weights * decay, minlength=n_items).astype(
        np.float64
    )
    return counts


def _ideal_dcg(n_relevant: int, cutoff: int) -> float:
    return float((1.0 / np.log2(np.arange(min(n_relevant, cutoff)) + 2.0)).sum())


def list_ndcg(
    scores: Floats,
    before: dict[int, set[int]],
    after: dict[int, set[int]],
    cutoff: int = VALIDATION_CUTOFF,
) -> float:
    """Mean NDCG@cutoff over the users of ``after`` (user -> items interacted with after
    the validation cut) of one global ranking by ``scores`` (n,), each user's ``before``
    items removed from the list first."""
    order = np.argsort(-scores, kind="stable")
    extra = max((len(items) for items in before.values()), default=0)
    head = order[: cutoff + extra].tolist()
    total = 0.0
    for user, relevant in after.items():
        seen = before.get(user, set())
        ranked = [item for item in head if item not in seen][:cutoff]
        gain = sum(1.0 / np.log2(i + 2.0) for i, item in enumerate(ranked) if item in relevant)
        total += gain / _ideal_dcg(len(relevant), cutoff)
    return total / max(len(after), 1)


def choose_half_life(
    users: Ints, columns: Ints, created_at: Floats, weights: Floats, n_items: int
) -> HalfLifeChoice:
    """The half-life (days) whose decayed popularity best predicts the last
    :data:`VALIDATION_FRACTION` of the interactions from the ones before. Arrays (m,):
    the interactions' users, item columns, unix times and weights (zero-weight rows only
    count as seen)."""
    positive = weights > 0
    if int(positive.sum()) == 0:
        return HalfLifeChoice(DEFAULT_HALF_LIFE_DAYS, {})
    cut = float(np.quantile(created_at[positive], 1.0 - VALIDATION_FRACTION, method="lower"))
    early = created_at <= cut
    before: dict[int, set[int]] = {}
    for user, item in zip(users[early].tolist(), columns[early].tolist(), strict=True):
        before.setdefault(user, set()).add(item)
    after: dict[int, set[int]] = {}
    late = ~early & positive
    for user, item in zip(users[late].tolist(), columns[late].tolist(), strict=True):
        if item not in before.get(user, ()):
            after.setdefault(user, set()).add(item)
    if len(after) < MIN_VALIDATION_USERS or not early.any():
        return HalfLifeChoice(DEFAULT_HALF_LIFE_DAYS, {})
    scores: dict[float, float] = {}
    for half_life in HALF_LIFE_GRID_DAYS:
        counts = decayed_counts(
            columns[early], created_at[early], weights[early], n_items, cut, half_life
        )
        scores[half_life] = list_ndcg(counts, before, after)
    best = max(scores.values())
    # Ties (within a part in a million) go to the longest half-life: the steadier list.
    chosen = max(h for h, score in scores.items() if score >= best - 1e-6)
    return HalfLifeChoice(float(chosen), scores)
