"""A collaborative model of the interaction history: implicit-feedback ALS.

Trained at snapshot build time (Hu, Koren and Volinsky 2008, through the ``implicit``
library) on the interactions the loaders read, one row per (user, resume) with
confidence 1 + alpha * weight, where the weight sums each interaction's kind weight
(:data:`KIND_WEIGHTS`) decayed by its age (half-life :data:`HALF_LIFE_DAYS`). The
snapshot keeps the item factors and their Gram matrix, not the user factors: a user's
vector is folded in at request time from the user's history and fresh likes
(:func:`~pitchrec.models.collaborative_index.fold_in`), so a like changes the next page
without retraining. Beside it, the popularity prior: the same interactions per resume,
decayed with the half-life the history itself chooses (:mod:`pitchrec.models.popularity`).

This module is the training; what the request path needs of the model (the index,
the fold-in, the affinity) is :mod:`pitchrec.models.collaborative_index`, re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from pitchrec.models.affinity_ratio import (
    DEFAULT_AFFINITY_RATIO,
    KEPT_DEFAULT,
    AffinityChoice,
    choose_affinity_ratio,
)
from pitchrec.models.collaborative_index import CollaborativeIndex as CollaborativeIndex
from pitchrec.models.collaborative_index import Floats, Ints
from pitchrec.models.collaborative_index import affinity as affinity
from pitchrec.models.collaborative_index import fold_in as fold_in
from pitchrec.models.collaborative_index import fold_in_system as fold_in_system
from pitchrec.models.popularity import (
    DEFAULT_HALF_LIFE_DAYS,
    ValidationSplit,
    choose_half_life,
    decayed_counts,
    validation_split,
)
from pitchrec.sources.tables import InteractionKind, InteractionTable, ItemType

SECONDS_PER_DAY = 86_400.0
#: Weight of one interaction by kind, before decay: explicit taste (a save, an accepted
#: match, a rating scaled by value / 5) counts fully, a view a third (a view is served
#: content more than chosen content: spec 1.2.3 rates it 2 of 5 against 3-4 for the rest).
KIND_WEIGHTS = {
    InteractionKind.RATING: 1.0,
    InteractionKind.SAVE: 1.0,
    InteractionKind.MATCH: 1.0,
    InteractionKind.VIEW: 1.0 / 3.0,
    InteractionKind.FEEDBACK: 1.0,  # a v1 like, save, match or share
}
#: Days for an interaction's weight to halve: the legacy's horizon of "new" (spec 2.3).
HALF_LIFE_DAYS = 45.0
#: Confidence per unit of weight (Hu, Koren and Volinsky used 40 on TV watching).
ALPHA = 40.0
FACTORS = 32
ITERATIONS = 15
REGULARIZATION = 0.1
#: Below this many interactions there is nothing to factorise (the model is empty).
MIN_INTERACTIONS = 10


def empty_index(n_resumes: int) -> CollaborativeIndex:
    """A model that knows nothing (f = 0)."""
    return CollaborativeIndex(
        item_factors=np.zeros((n_resumes, 0), dtype=np.float32),
        gram=np.zeros((0, 0)),
        settings=np.asarray(
            [REGULARIZATION, ALPHA, HALF_LIFE_DAYS, DEFAULT_HALF_LIFE_DAYS, DEFAULT_AFFINITY_RATIO]
        ),
        interactions=np.zeros(n_resumes),
    )


def kind_weights(interactions: InteractionTable) -> Floats:
    """(m,) each interaction's kind weight (ratings scaled by value / 5), undecayed."""
    kinds = interactions.kind.astype(np.int64)
    base = np.zeros(kinds.shape[0])
    for kind, weight in KIND_WEIGHTS.items():
        base[kinds == int(kind)] = weight
    rated = kinds == int(InteractionKind.RATING)
    base[rated] *= np.clip(interactions.rating[rated].astype(np.float64) / 5.0, 0.0, 1.0)
    return base


def interaction_weights(interactions: InteractionTable, now: float) -> Floats:
    """(m,) each interaction's kind weight, decayed by age (:data:`HALF_LIFE_DAYS`)."""
    age_days = np.maximum(now - interactions.created_at, 0.0) / SECONDS_PER_DAY
    weights: Floats = kind_weights(interactions) * 0.5 ** (age_days / HALF_LIFE_DAYS)
    return weights


def _on_catalogue(
    interactions: InteractionTable, resume_ids: Ints
) -> tuple[NDArray[np.bool_], Ints]:
    """(m,) which interactions are on a catalogue resume of ``resume_ids`` (n >= 1,
    sorted), and (m,) the resume's row (meaningful where on the catalogue)."""
    n = resume_ids.shape[0]
    position = np.minimum(np.searchsorted(resume_ids, interactions.item_id), n - 1)
    known = (interactions.item_type == ItemType.RESUME) & (
        resume_ids[position] == interactions.item_id
    )
    return known, position.astype(np.int64)


def user_item_matrix(
    interactions: InteractionTable, resume_ids: Ints, now: float
) -> tuple[Ints, sp.csr_matrix]:
    """Users (u,) sorted, and the (u, n) summed decayed weights on catalogue resumes
    ``resume_ids`` (n,) sorted."""
    if resume_ids.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), sp.csr_matrix((0, 0))
    known, position = _on_catalogue(interactions, resume_ids)
    weights = interaction_weights(interactions, now)[known]
    users, rows = np.unique(interactions.user_id[known], return_inverse=True)
    matrix = sp.csr_matrix(
        (weights, (rows, position[known])), shape=(users.shape[0], resume_ids.shape[0])
    )
    matrix.sum_duplicates()
    return users.astype(np.int64), matrix


@dataclass(frozen=True)
class _History:
    """The catalogue's interactions as arrays (m,): user ids, item columns, unix times,
    kind weights (undecayed); ``n_items`` catalogue resumes."""

    users: Ints
    columns: Ints
    created_at: Floats
    weights: Floats
    n_items: int


def _catalogue_history(interactions: InteractionTable, resume_ids: Ints) -> _History:
    known, position = _on_catalogue(interactions, resume_ids)
    return _History(
        interactions.user_id[known].astype(np.int64),
        position[known],
        interactions.created_at[known].astype(np.float64),
        kind_weights(interactions)[known],
        int(resume_ids.shape[0]),
    )


def popularity_prior_counts(
    interactions: InteractionTable, resume_ids: Ints, now: float
) -> tuple[Floats, float]:
    """(n,) each resume's interaction weight decayed with the half-life the history
    chooses (:func:`~pitchrec.models.popularity.choose_half_life`), and that half-life."""
    if resume_ids.shape[0] == 0:
        return np.zeros(0), DEFAULT_HALF_LIFE_DAYS
    h = _catalogue_history(interactions, resume_ids)
    choice = choose_half_life(h.users, h.columns, h.created_at, h.weights, h.n_items)
    prior = decayed_counts(
        h.columns, h.created_at, h.weights, h.n_items, now, choice.half_life_days
    )
    return prior, choice.half_life_days


def fit_als(weights: sp.csr_matrix, seed: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """User (u, f) and item (n, f) factors of implicit ALS on decayed ``weights`` (u, n),
    confidence 1 + alpha * weight. Deterministic for a seed (one BLAS thread)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    confidence = weights.astype(np.float32)
    confidence.data = 1.0 + ALPHA * confidence.data
    with threadpool_limits(1, "blas"):  # implicit's advice; also makes the fit repeatable
        model = AlternatingLeastSquares(
            factors=FACTORS,
            regularization=REGULARIZATION,
            iterations=ITERATIONS,
            random_state=seed,
        )
        model.fit(confidence.tocsr(), show_progress=False)
    users = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    return users, items


def choose_ratio(
    history: _History, split: ValidationSplit, half_life: float, seed: int
) -> AffinityChoice:
    """The affinity : prior ratio the history supports (:mod:`.affinity_ratio`): ALS and
    the prior (``half_life`` days) fitted on the interactions up to ``split.cut``, with
    the ALS weights' own decay counted from the cut."""
    early, n = split.early, history.n_items
    _, user_index = np.unique(history.users, return_inverse=True)
    age_days = np.maximum(split.cut - history.created_at[early], 0.0) / SECONDS_PER_DAY
    decayed = history.weights[early] * 0.5 ** (age_days / HALF_LIFE_DAYS)
    matrix = sp.csr_matrix(
        (decayed, (user_index[early], history.columns[early])), shape=(split.pairs.n_users, n)
    )
    matrix.sum_duplicates()
    if matrix.nnz < MIN_INTERACTIONS:
        return KEPT_DEFAULT
    user_factors, item_factors = fit_als(matrix, seed)
    counts = decayed_counts(
        history.columns[early],
        history.created_at[early],
        history.weights[early],
        n,
        split.cut,
        half_life,
    )
    prior = np.log1p(counts)
    spread = float(prior.max() - prior.min())
    prior = (prior - prior.min()) / spread if spread > 1e-12 else np.zeros(n)
    return choose_affinity_ratio(prior, user_factors, item_factors, split.pairs, seed=seed)


def train_collaborative(
    interactions: InteractionTable, resume_ids: Ints, now: float, *, seed: int = 0
) -> CollaborativeIndex:
    """Fit ALS on the catalogue's interactions, choose the popularity prior's half-life
    and the affinity : prior ratio on a validation cut of the same history;
    ``resume_ids`` (n,) sorted, ``now`` the load instant (unix seconds). Deterministic
    for a seed (one BLAS thread)."""
    if resume_ids.shape[0] == 0:  # no catalogue at all
        return empty_index(0)
    _, matrix = user_item_matrix(interactions, resume_ids, now)
    h = _catalogue_history(interactions, resume_ids)
    split = validation_split(h.users, h.columns, h.created_at, h.weights, h.n_items)
    half_life = choose_half_life(
        h.users, h.columns, h.created_at, h.weights, h.n_items, split
    ).half_life_days
    prior = decayed_counts(h.columns, h.created_at, h.weights, h.n_items, now, half_life)
    if matrix.nnz < MIN_INTERACTIONS:
        empty = empty_index(resume_ids.shape[0])
        settings = _settings(half_life, KEPT_DEFAULT)
        return CollaborativeIndex(empty.item_factors, empty.gram, settings, prior)
    _, items = fit_als(matrix, seed)
    choice = KEPT_DEFAULT if split is None else choose_ratio(h, split, half_life, seed)
    gram = items.astype(np.float64).T @ items.astype(np.float64)
    return CollaborativeIndex(items, gram, _settings(half_life, choice), prior)


def _settings(prior_half_life: float, choice: AffinityChoice) -> Floats:
    return np.asarray([REGULARIZATION, ALPHA, HALF_LIFE_DAYS, prior_half_life, choice.ratio])
