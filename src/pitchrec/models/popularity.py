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
#: Candidate half-lives in days (inf: no decay). A geometric-ish grid from six hours (the
#: snapshot is rebuilt every 10 minutes, so even that is followed) to half a year; nothing
#: in it depends on a data set. The shortest were added when both synthetic scales chose
#: the then-shortest, 1 day, on the skills world (bench/RESULTS.md, 2026-11-30).
HALF_LIFE_GRID_DAYS = (
    0.25,
    0.5,
    1.0,
    2.0,
    3.0,
    5.0,
    7.0,
    10.0,
    14.0,
    21.0,
    30.0,
    45.0,
    90.0,
    180.0,
    np.inf,
)
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


@dataclass(frozen=True)
class ValidationPairs:
    """Who interacted with what on each side of the validation cut, as unique pairs
    (arrays (k,) each): ``user`` indices in [0, n_users), ``item`` columns. ``after``
    holds only items the user had not touched before the cut."""

    before_user: Ints
    before_item: Ints
    after_user: Ints
    after_item: Ints
    n_users: int


def list_ndcg(scores: Floats, pairs: ValidationPairs, cutoff: int = VALIDATION_CUTOFF) -> float:
    """Mean NDCG@cutoff over the users with pairs after the cut, of one global ranking by
    ``scores`` (n,) from which each user's ``before`` items are removed first.

    Vectorised: an item's rank in a user's list is its global rank minus the user's
    earlier items ranked above it (a searchsorted over user-major keys)."""
    n = scores.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(n)
    seen_keys = np.sort(pairs.before_user * n + rank[pairs.before_item])
    target_keys = pairs.after_user * n + rank[pairs.after_item]
    seen_above = np.searchsorted(seen_keys, target_keys) - np.searchsorted(
        seen_keys, pairs.after_user * n
    )
    position = rank[pairs.after_item] - seen_above
    hit = position < cutoff
    gains = np.bincount(
        pairs.after_user[hit],
        weights=1.0 / np.log2(position[hit] + 2.0),
        minlength=pairs.n_users,
    )
    relevant = np.bincount(pairs.after_user, minlength=pairs.n_users)
    users = relevant > 0
    ideal = np.cumsum(1.0 / np.log2(np.arange(cutoff) + 2.0))
    per_user = gains[users] / ideal[np.minimum(relevant[users], cutoff) - 1]
    return float(per_user.mean()) if per_user.shape[0] else 0.0


def _unique_pairs(users: Ints, items: Ints, n_items: int) -> tuple[Ints, Ints]:
    keys = np.unique(users * n_items + items)
    return keys // n_items, keys % n_items


def validation_pairs(
    users: Ints, columns: Ints, early: NDArray[np.bool_], late: NDArray[np.bool_], n_items: int
) -> ValidationPairs:
    """The unique (user, item) pairs before the cut (``early``, (m,)) and the new ones
    after it (``late``, (m,)), users renumbered from 0."""
    _, user_index = np.unique(users, return_inverse=True)
    user_index = user_index.astype(np.int64)
    before_user, before_item = _unique_pairs(user_index[early], columns[early], n_items)
    after_user, after_item = _unique_pairs(user_index[late], columns[late], n_items)
    seen = np.isin(after_user * n_items + after_item, before_user * n_items + before_item)
    return ValidationPairs(
        before_user,
        before_item,
        after_user[~seen],
        after_item[~seen],
        int(user_index.max()) + 1 if user_index.shape[0] else 0,
    )


@dataclass(frozen=True)
class ValidationSplit:
    """The build's temporal validation inside the history: interactions (m,) up to
    ``cut`` (unix seconds) are ``early``; ``pairs`` holds who touched what on each side."""

    cut: float
    early: NDArray[np.bool_]
    pairs: ValidationPairs

    @property
    def held_out_users(self) -> int:
        return int(np.unique(self.pairs.after_user).shape[0])


def validation_split(
    users: Ints, columns: Ints, created_at: Floats, weights: Floats, n_items: int
) -> ValidationSplit | None:
    """The last :data:`VALIDATION_FRACTION` of the positive-weight interactions held out
    (arrays (m,): users, item columns, unix times, weights); None when fewer than
    :data:`MIN_VALIDATION_USERS` users are left to validate on."""
    positive = weights > 0
    if int(positive.sum()) == 0:
        return None
    cut = float(np.quantile(created_at[positive], 1.0 - VALIDATION_FRACTION, method="lower"))
    early = created_at <= cut
    pairs = validation_pairs(users, columns, early, ~early & positive, n_items)
    split = ValidationSplit(cut, early, pairs)
    if split.held_out_users < MIN_VALIDATION_USERS or not early.any():
        return None
    return split


def choose_half_life(
    users: Ints,
    columns: Ints,
    created_at: Floats,
    weights: Floats,
    n_items: int,
    split: ValidationSplit | None = None,
) -> HalfLifeChoice:
    """The half-life (days) whose decayed popularity best predicts the last
    :data:`VALIDATION_FRACTION` of the interactions from the ones before. Arrays (m,):
    the interactions' users, item columns, unix times and weights (zero-weight rows only
    count as seen); ``split``: :func:`validation_split` of the same arrays, if the caller
    has it."""
    if split is None:
        split = validation_split(users, columns, created_at, weights, n_items)
    if split is None:
        return HalfLifeChoice(DEFAULT_HALF_LIFE_DAYS, {})
    early = split.early
    scores: dict[float, float] = {}
    for half_life in HALF_LIFE_GRID_DAYS:
        counts = decayed_counts(
            columns[early], created_at[early], weights[early], n_items, split.cut, half_life
        )
        scores[half_life] = list_ndcg(counts, split.pairs)
    best = max(scores.values())
    # Ties (within a part in a million) go to the longest half-life: the steadier list.
    chosen = max(h for h, score in scores.items() if score >= best - 1e-6)
    return HalfLifeChoice(float(chosen), scores)
