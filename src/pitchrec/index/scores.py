"""The derived per-resume scores of spec section 1.5, as vectorised kernels.

Scores that depend only on counts are computed once per snapshot
(:func:`static_scores`). Scores that depend on the item's age are computed per request
from ``created_at`` and the request clock (:func:`age_scores`), so they never drift
between reloads (the legacy froze ``days_since_creation`` at load time, D-C19).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

SECONDS_PER_DAY = 86_400.0

# Spec 1.5 constants.
ENGAGEMENT_WEIGHTS = (0.35, 0.40, 0.25)  # views_norm, avg_rating/5, connections_norm
MINMAX_EPSILON = 1e-6
TEMPORAL_DECAY_DAYS = 28.0
NEW_BOOST_DAYS = 30.0
NEW_BOOST = 1.5
QUALITY_PRIOR_COUNT = 10.0  # rating_count / (rating_count + 10)
DIVERSITY_DIVISOR = 15.0
# Spec 1.5 quality gate: any of these passes.
GATE_MIN_RATING = 3.0
GATE_MIN_VIEWS = 20
GATE_MIN_CONNECTIONS = 2
GATE_MIN_RATINGS = 2
GATE_MAX_DAYS = 14.0  # strictly less than
#: Spec 1.7: "new" for the NU pool and the VMP/AU bonus.
NEW_CONTENT_DAYS = 45.0


@dataclass(frozen=True)
class StaticScores:
    """Age-independent per-resume scores, each of shape (n,)."""

    engagement: Floats  # score_engagement
    quality: Floats  # score_calidad
    popularity: Floats  # score_popularidad
    attribute_diversity: Floats  # diversidad_skills
    rarity: Floats  # rareza_skills, in [0, 100]
    gate_static: NDArray[np.bool_]  # the gate terms that do not depend on age


def _minmax(values: Floats) -> Floats:
    if values.size == 0:
        return values.copy()
    low = float(values.min())
    return (values - low) / (float(values.max()) - low + MINMAX_EPSILON)


def static_scores(
    views: NDArray[np.int64],
    avg_rating: Floats,
    rating_count: NDArray[np.int64],
    connection_count: NDArray[np.int64],
    attribute_count: NDArray[np.int64],
    skill_indptr: NDArray[np.int64],
    skill_indices: NDArray[np.int32],
    n_skills: int,
) -> StaticScores:
    """Spec 1.5 over a catalogue of n resumes.

    Args:
        views, avg_rating, rating_count, connection_count: (n,) aggregates (spec 1.2.1).
        attribute_count: (n,) |skills| + |knowledges| + |tools| of the truncated sets.
        skill_indptr: (n + 1,) CSR row pointers of the truncated skill sets.
        skill_indices: (nnz,) skill ids of those sets.
        n_skills: size of the skill vocabulary.
    """
    log_views = np.log1p(views.astype(np.float64))
    log_connections = np.log1p(connection_count.astype(np.float64))
    w_views, w_rating, w_connections = ENGAGEMENT_WEIGHTS
    engagement = (
        w_views * _minmax(log_views)
        + w_rating * (avg_rating / 5.0)
        + w_connections * _minmax(log_connections)
    )
    ratings = rating_count.astype(np.float64)
    quality = 0.7 * avg_rating * (ratings / (ratings + QUALITY_PRIOR_COUNT)) + 0.3 * log_connections
    popularity = 0.40 * log_views + 0.35 * avg_rating + 0.25 * log_connections
    diversity = attribute_count.astype(np.float64) / DIVERSITY_DIVISOR
    rarity = _rarity(skill_indptr, skill_indices, n_skills)
    gate_static = (
        (avg_rating >= GATE_MIN_RATING)
        | (views >= GATE_MIN_VIEWS)
        | (connection_count >= GATE_MIN_CONNECTIONS)
        | (rating_count >= GATE_MIN_RATINGS)
    )
    return StaticScores(engagement, quality, popularity, diversity, rarity, gate_static)


def _rarity(indptr: NDArray[np.int64], indices: NDArray[np.int32], n_skills: int) -> Floats:
    """rareza_skills: 100 * mean over the row's skills of 1 / (count(skill) + 1); 0 if none."""
    n = indptr.shape[0] - 1
    out = np.zeros(n, dtype=np.float64)
    if indices.size == 0:
        return out
    counts = np.bincount(indices, minlength=n_skills).astype(np.float64)
    inverse = 1.0 / (counts[indices] + 1.0)
    lengths = np.diff(indptr)
    rows = np.repeat(np.arange(n), lengths)
    sums = np.bincount(rows, weights=inverse, minlength=n)
    nonempty = lengths > 0
    out[nonempty] = 100.0 * sums[nonempty] / lengths[nonempty]
    return out


@dataclass(frozen=True)
class AgeScores:
    """Per-request, age-dependent scores, each of shape (n,)."""

    days: Floats  # whole days since creation (floor, as the legacy .days), >= 0
    temporal: Floats  # score_temporal = exp(-days / 28)
    boost: Floats  # boost_nuevo: 1.5 if days <= 30 else 1.0
    is_new: NDArray[np.bool_]  # days <= 45


def age_scores(created_at: Floats, now: float) -> AgeScores:
    """Spec 1.5 age terms for items created at ``created_at`` (n,), unix seconds."""
    days = np.floor(np.maximum(now - created_at, 0.0) / SECONDS_PER_DAY)
    temporal = np.exp(-days / TEMPORAL_DECAY_DAYS)
    boost = np.where(days <= NEW_BOOST_DAYS, NEW_BOOST, 1.0)
    return AgeScores(days, temporal, boost, days <= NEW_CONTENT_DAYS)


def quality_gate(gate_static: NDArray[np.bool_], days: Floats) -> NDArray[np.bool_]:
    """pasa_gate_calidad (spec 1.5): the static terms or an age under 14 days."""
    return gate_static | (days < GATE_MAX_DAYS)
