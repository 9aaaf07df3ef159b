"""The 18 context features of spec 2.4, in one vectorised pass per request.

:func:`catalogue_features` computes the columns that do not depend on the candidate set
for every resume at once; :func:`candidate_features` gathers a pool's rows and fills the
set-relative columns 14-16 and the noise column 17.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.derived import AgeScores, age_scores, quality_gate
from pitchrec.index.snapshot import ResumeIndex
from pitchrec.ranking.user_context import UserContext

N_FEATURES = 18
# Column numbers (spec 2.4).
ENGAGEMENT, TEMPORAL, QUALITY, POPULARITY, DIVERSITY = 0, 1, 2, 3, 4
SKILL_SIMILARITY, EXTENDED_MATCH, CITY, SOCIAL, VIEWS = 5, 6, 7, 8, 9
RATING, RARITY, GATE, INFLUENCE = 10, 11, 12, 13
RATING_COUNT, LIKES, EXHIBITED, NOISE = 14, 15, 16, 17

# Spec 2.3 constants.
COLD_SKILL_SIMILARITY = 0.5
NO_SKILL_SIMILARITY = 0.3
COSINE_WEIGHT, WEIGHTS_WEIGHT = 0.6, 0.4
MATCH_POINTS = (15.0, 12.0, 10.0, 8.0)  # skills, knowledges, tools, languages
NOISE_HIGH = 0.3  # feature 17 ~ U(0, 0.3)


@dataclass(frozen=True)
class CatalogueFeatures:
    """Request-level feature matrix over the whole catalogue.

    ``matrix``: (n, 18) with columns 0-13 filled (14-17 are zero); ``age``: the request's
    age scores; ``gate``: (n,) pasa_gate_calidad.
    """

    matrix: NDArray[np.float64]
    age: AgeScores
    gate: NDArray[np.bool_]


def skill_similarity(resumes: ResumeIndex, user: UserContext) -> NDArray[np.float64]:
    """Feature 5 for every resume, (n,) (spec 2.3)."""
    n = len(resumes)
    if user.skill_vector is None:
        return np.full(n, COLD_SKILL_SIMILARITY)
    skills = resumes.skills
    if skills.indices.size == 0:
        return np.full(n, NO_SKILL_SIMILARITY)
    rows = skills.row_ids
    dots = np.bincount(rows, weights=user.skill_vector[skills.indices], minlength=n)
    weight_sums = np.bincount(rows, weights=user.skill_weights[skills.indices], minlength=n)
    cosine = dots * resumes.skill_norm_inverse
    similarity = np.clip(COSINE_WEIGHT * cosine + WEIGHTS_WEIGHT * weight_sums, 0.0, 1.0)
    result: NDArray[np.float64] = np.where(skills.lengths() > 0, similarity, NO_SKILL_SIMILARITY)
    return result


def extended_match(resumes: ResumeIndex, user: UserContext) -> NDArray[np.float64]:
    """Feature 6 for every resume, (n,): weighted attribute overlap, capped at 1."""
    if user.is_cold and not user.skills.any():
        return np.zeros(len(resumes))
    points = (
        MATCH_POINTS[0] * resumes.skills.count_in(user.skills)
        + MATCH_POINTS[1] * resumes.knowledges.count_in(user.knowledges)
        + MATCH_POINTS[2] * resumes.tools.count_in(user.tools)
        + MATCH_POINTS[3] * resumes.languages.count_in(user.languages)
    )
    capped: NDArray[np.float64] = np.minimum(100.0, points.astype(np.float64)) / 100.0
    return capped


def catalogue_features(resumes: ResumeIndex, user: UserContext, now: float) -> CatalogueFeatures:
    """Columns 0-13 of spec 2.4 for all n resumes."""
    n = len(resumes)
    age = age_scores(np.asarray(resumes.created_at), now)
    gate = quality_gate(np.asarray(resumes.gate_static), age.days)
    matrix = np.zeros((n, N_FEATURES), dtype=np.float64)
    matrix[:, ENGAGEMENT] = resumes.engagement
    matrix[:, TEMPORAL] = age.temporal * age.boost
    matrix[:, QUALITY] = resumes.quality
    matrix[:, POPULARITY] = resumes.popularity
    matrix[:, DIVERSITY] = resumes.attribute_diversity
    matrix[:, SKILL_SIMILARITY] = skill_similarity(resumes, user)
    matrix[:, EXTENDED_MATCH] = extended_match(resumes, user)
    if user.cities.any():
        matrix[:, CITY] = user.cities[np.asarray(resumes.city)]
    if user.following.shape[0]:
        matrix[:, SOCIAL] = np.isin(np.asarray(resumes.creator), user.following)
    matrix[:, VIEWS] = np.log1p(np.asarray(resumes.views, dtype=np.float64)) / 10.0
    matrix[:, RATING] = np.asarray(resumes.avg_rating) / 5.0
    matrix[:, RARITY] = np.asarray(resumes.rarity) / 100.0
    matrix[:, GATE] = gate
    matrix[:, INFLUENCE] = user.influence
    return CatalogueFeatures(matrix, age, gate)


def candidate_features(
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    rows: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """(len(rows), 18): the catalogue rows of one pool's candidates, with the columns that
    are relative to the candidate set (14-16: count / (max in set + 1)) and the noise."""
    matrix = catalogue.matrix[rows]
    for column, counts in (
        (RATING_COUNT, resumes.rating_count),
        (LIKES, resumes.like_count),
        (EXHIBITED, resumes.exhibited_count),
    ):
        values = np.asarray(counts, dtype=np.float64)[rows]
        if values.size:
            matrix[:, column] = values / (values.max() + 1.0)
    matrix[:, NOISE] = rng.uniform(0.0, NOISE_HIGH, size=rows.shape[0])
    return matrix
