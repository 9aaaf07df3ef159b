"""The 18 context features of spec 2.4, in one vectorised pass per request.

:func:`catalogue_features` computes the columns that do not depend on the candidate set
for every resume at once; :func:`candidate_features` gathers a pool's rows and fills the
set-relative columns 14-16 and the noise column 17.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.scores import AgeScores, age_scores, quality_gate
from pitchrec.index.snapshot import ResumeIndex
from pitchrec.ranking.user_context import UserContext

N_FEATURES = 18
# Column numbers (spec 2.4).
ENGAGEMENT, TEMPORAL, QUALITY, POPULARITY, DIVERSITY = 0, 1, 2, 3, 4
SKILL_SIMILARITY, EXTENDED_MATCH, CITY, SOCIAL, VIEWS = 5, 6, 7, 8, 9
RATING, RARITY, GATE, INFLUENCE = 10, 11, 12, 13
RATING_COUNT, LIKES, EXHIBITED, NOISE = 14, 15, 16, 17
#: With ``RankingOptions.learned_blend``, two more columns (not in spec 2.4): the
#: collaborative affinity and the popularity prior, each scaled to [0, 1], so the pool
#: policies learn their weights (:mod:`pitchrec.ranking.collaborative`).
BLEND_COLLABORATIVE, BLEND_PRIOR = 18, 19
N_BLEND_FEATURES = 20
RELATIVE = slice(RATING_COUNT, NOISE + 1)  # the set-relative columns 14-17
COUNT_COLUMNS = (RATING_COUNT, LIKES, EXHIBITED)  # count / (max in the set + 1)

# Spec 2.3 constants.
COLD_SKILL_SIMILARITY = 0.5
NO_SKILL_SIMILARITY = 0.3
COSINE_WEIGHT, WEIGHTS_WEIGHT = 0.6, 0.4
MATCH_POINTS = (15.0, 12.0, 10.0, 8.0)  # skills, knowledges, tools, languages
NOISE_HIGH = 0.3  # feature 17 ~ U(0, 0.3)


@dataclass(frozen=True)
class CatalogueFeatures:
    """Request-level feature matrix over the whole catalogue, owned by one request.

    ``matrix``: (n, 18) with columns 0-13 filled (14-17 are scratch space for
    :func:`score_candidates`), or (n, 20) with the blend columns 18-19; ``age``: the
    request's
    age scores; ``gate``: (n,) pasa_gate_calidad.
    """

    matrix: NDArray[np.float64]
    age: AgeScores
    gate: NDArray[np.bool_]
    #: (n,) points VMP and AU add to their heuristics (:mod:`.collaborative`); None: none.
    boost: NDArray[np.float64] | None = None

    def boosted(
        self, heuristic: NDArray[np.float64], rows: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """``heuristic`` (k,) of candidate ``rows`` (k,) plus their boost."""
        if self.boost is None:
            return heuristic
        total: NDArray[np.float64] = heuristic + self.boost[rows]
        return total

    def with_new(self, is_new: NDArray[np.bool_]) -> CatalogueFeatures:
        """These features with ``is_new`` (n,) as the rows that count as new (built
        directly: ``dataclasses.replace`` costs microseconds on the hot path)."""
        age = self.age
        ages = AgeScores(age.days, age.temporal, age.boost, is_new)
        return CatalogueFeatures(self.matrix, ages, self.gate, self.boost)


def skill_similarity(resumes: ResumeIndex, user: UserContext) -> NDArray[np.float64]:
    """Feature 5 for every resume, (n,) (spec 2.3)."""
    n = len(resumes)
    if user.skill_vector is None:
        return np.full(n, COLD_SKILL_SIMILARITY)
    skills = resumes.skills
    if skills.indices.size == 0:
        return np.full(n, NO_SKILL_SIMILARITY)
    rows = skills.row_ids
    dots = np.bincount(rows, weights=user.skill_vector[skills.positions], minlength=n)
    weight_sums = np.bincount(rows, weights=user.skill_weights[skills.positions], minlength=n)
    cosine = dots * resumes.skill_norm_inverse
    similarity = np.clip(COSINE_WEIGHT * cosine + WEIGHTS_WEIGHT * weight_sums, 0.0, 1.0)
    result: NDArray[np.float64] = np.where(skills.lengths() > 0, similarity, NO_SKILL_SIMILARITY)
    return result


def extended_match(resumes: ResumeIndex, user: UserContext) -> NDArray[np.float64]:
    """Feature 6 for every resume, (n,): weighted attribute overlap, capped at 1."""
    if user.is_cold and not user.skills.any():
        return np.zeros(len(resumes))
    lists = (resumes.skills, resumes.knowledges, resumes.tools, resumes.languages)
    masks = (user.skills, user.knowledges, user.tools, user.languages)
    n = len(resumes)
    points = np.zeros(n)
    for csr, mask, weight in zip(lists, masks, MATCH_POINTS, strict=True):
        # points x count as one count weighted by the points: sums of small integers,
        # exact in float64, so the same values as the product (80 -> 48 us at scale 1,
        # timeit, with Csr.positions); no hit list, whose size follows the user's tastes.
        points += np.bincount(csr.row_ids, weights=(weight * mask)[csr.positions], minlength=n)
    capped: NDArray[np.float64] = np.minimum(100.0, points) / 100.0
    return capped


def catalogue_features(
    resumes: ResumeIndex,
    user: UserContext,
    now: float,
    blend: NDArray[np.float64] | None = None,
    boost: NDArray[np.float64] | None = None,
) -> CatalogueFeatures:
    """Columns 0-13 of spec 2.4 for all n resumes; with ``blend`` (n, 2), also the blend
    columns 18-19 (the matrix is then (n, 20)); ``boost`` (n,): see
    :attr:`CatalogueFeatures.boost`."""
    n = len(resumes)
    age = age_scores(np.asarray(resumes.created_at), now)
    gate = quality_gate(np.asarray(resumes.gate_static), age.days)
    width = N_FEATURES if blend is None else N_BLEND_FEATURES
    # Column-major: each column below is written contiguously (row-major, every column
    # write touched all n rows' cache lines: 3 ms a feed at scale 20, measured).
    matrix = np.zeros((n, width), dtype=np.float64, order="F")
    if blend is not None:
        matrix[:, BLEND_COLLABORATIVE : BLEND_PRIOR + 1] = blend
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
    return CatalogueFeatures(matrix, age, gate, boost)


@dataclass(frozen=True)
class ScoredCandidates:
    """A pool's candidates ``rows`` (k,) scored by its policy, ``ucb`` (k,), and what
    their set-relative columns are made of: column 14 + j of row r is ``counts[j][r] /
    scales[j]`` (the 3 count arrays (n,) of :data:`COUNT_COLUMNS`), column 17
    ``noise`` (k,)."""

    rows: NDArray[np.int64]
    ucb: NDArray[np.float64]
    counts: tuple[NDArray[np.int64], ...]
    scales: tuple[float, ...]
    noise: NDArray[np.float64]

    @property
    def relative(self) -> NDArray[np.float64]:
        """(k, 4): the set-relative columns 14-17 of every candidate."""
        out = np.empty((self.rows.shape[0], 4), dtype=np.float64)
        for j, (values, scale) in enumerate(zip(self.counts, self.scales, strict=True)):
            out[:, j] = values[self.rows] / scale
        out[:, 3] = self.noise
        return out

    def contexts(
        self, catalogue: CatalogueFeatures, positions: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """(len(positions), d): the full context vectors of the chosen candidates."""
        rows = self.rows[positions]
        out = catalogue.matrix[rows]
        for column, values, scale in zip(COUNT_COLUMNS, self.counts, self.scales, strict=True):
            out[:, column] = values[rows] / scale
        out[:, NOISE] = self.noise[positions]
        return out


class Scorer(Protocol):
    """What a pool needs from a policy: a score per candidate context (higher is better)."""

    def score(
        self, contexts: NDArray[np.float64], arm_ids: NDArray[np.int64], rng: np.random.Generator
    ) -> NDArray[np.float64]: ...


class BoundedScorer(Scorer, Protocol):
    """A scorer that can also bound its scores cheaply (LinUCB)."""

    def score_upper_bound(self, contexts: NDArray[np.float64]) -> NDArray[np.float64]: ...


#: Exact scoring starts with this many times ``keep`` rows, the best by upper bound.
PRUNE_FACTOR = 2
#: Prune only when the candidates outnumber ``keep`` this many times: below it, the bound
#: pass costs more than it saves (measured: scale 1, 1,900 candidates for 220, p50
#: 1.42 -> 1.57 ms with pruning; scale 20, 40,000 candidates, 21 -> 15 ms).
PRUNE_MIN_RATIO = 20


def score_candidates(
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    rows: NDArray[np.int64],
    scorer: Scorer,
    rng: np.random.Generator,
    heuristic: NDArray[np.float64] | None = None,
    keep: int | None = None,
) -> ScoredCandidates:
    """Fill the set-relative columns (14-16: count / (max in set + 1); 17: noise) for the
    candidate ``rows`` and score them with ``scorer``.

    With ``heuristic`` (k,) and ``keep``, the caller only needs the ``keep`` best of
    ``ucb + heuristic``: when the scorer can bound its scores, rows whose bound cannot
    reach the ``keep``-th exact total are left at -inf instead of being scored. The top
    ``keep`` is the same as with full scoring (measured at scale 20: most of the time of a
    feed went to scoring 40,000 rows to keep 220).
    """
    k = int(rows.shape[0])
    counts = _counts(resumes)
    in_set = [values[rows] for values in counts]
    # count / (max in set + 1), the max taken as a Python float: the same division as
    # of the set's values converted to float64 (the conversion keeps their order).
    scales = tuple(float(values.max()) + 1.0 if k else 1.0 for values in in_set)
    noise = rng.uniform(0.0, NOISE_HIGH, size=k)
    bounded = hasattr(scorer, "score_upper_bound")
    prune = heuristic is not None and keep is not None and bounded and k > PRUNE_MIN_RATIO * keep
    matrix = catalogue.matrix
    if 2 * k >= matrix.shape[0]:  # write in place rather than copy (k, 18)
        # Whole columns (contiguous in the column-major matrix) rather than a (k, 4)
        # scatter: rows outside the set are scratch, scored and dropped (this function
        # less the scoring, 1,941 of 1,991 rows: 56 -> 32 us, timeit).
        for column, values, scale in zip(COUNT_COLUMNS, counts, scales, strict=True):
            np.divide(values, scale, out=matrix[:, column], dtype=np.float64)
        matrix[:, NOISE][rows] = noise
        ids = np.asarray(resumes.id)
        if prune:
            full = np.full(matrix.shape[0], -np.inf)
            full[rows] = heuristic
            ucb = _pruned(matrix, ids, scorer, rng, full, keep)[rows]  # type: ignore[arg-type]
        else:
            ucb = scorer.score(matrix, ids, rng)[rows]
    else:
        contexts = matrix[rows]
        for column, values, scale in zip(COUNT_COLUMNS, in_set, scales, strict=True):
            contexts[:, column] = values / scale
        contexts[:, NOISE] = noise
        ids = np.asarray(resumes.id)[rows]
        if prune:
            ucb = _pruned(contexts, ids, scorer, rng, heuristic, keep)  # type: ignore[arg-type]
        else:
            ucb = scorer.score(contexts, ids, rng)
    return ScoredCandidates(rows, ucb, counts, scales, noise)


def _counts(resumes: ResumeIndex) -> tuple[NDArray[np.int64], ...]:
    """The count arrays (n,) behind the set-relative columns 14-16."""
    return (
        np.asarray(resumes.rating_count),
        np.asarray(resumes.like_count),
        np.asarray(resumes.exhibited_count),
    )


def _pruned(
    contexts: NDArray[np.float64],
    ids: NDArray[np.int64],
    scorer: BoundedScorer,
    rng: np.random.Generator,
    heuristic: NDArray[np.float64],
    keep: int,
) -> NDArray[np.float64]:
    """(k,) exact scores where they can matter for the top ``keep`` of score + heuristic,
    -inf elsewhere. ``contexts``: (k, 18)."""
    k = contexts.shape[0]
    ucb = np.full(k, -np.inf)
    bound = scorer.score_upper_bound(contexts) + heuristic
    first = np.argpartition(-bound, PRUNE_FACTOR * keep - 1)[: PRUNE_FACTOR * keep]
    ucb[first] = scorer.score(contexts[first], ids[first], rng)
    totals = ucb[first] + heuristic[first]
    threshold = np.partition(totals, totals.shape[0] - keep)[totals.shape[0] - keep]
    rest = np.flatnonzero((bound >= threshold) & np.isneginf(ucb))
    if rest.size:
        ucb[rest] = scorer.score(contexts[rest], ids[rest], rng)
    return ucb
