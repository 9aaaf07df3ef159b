"""The five candidate pools of spec 2.6, with the legacy weights and sizes.

Each pool is an ordered array of catalogue rows (resumes) or challenge rows (FW), plus
the score and context each candidate was ranked with. The order is the order in which
assembly walks the pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.index.scores import SECONDS_PER_DAY
from pitchrec.index.snapshot import ChallengeIndex, ResumeIndex
from pitchrec.ranking.features import (
    EXTENDED_MATCH,
    SKILL_SIMILARITY,
    CatalogueFeatures,
    Scorer,
    score_candidates,
)
from pitchrec.ranking.options import RankingOptions

# Spec 2.6 / appendix B: pool sizes.
POOL_SIZES = {Pool.VMP: 110, Pool.NU: 95, Pool.AU: 170, Pool.FW: 40, Pool.EXPLORE: 75}
#: VMP and NU first keep the top 2n by score, then sample n.
TOP_FACTOR = 2
NU_NOISE_HIGH = 0.6  # NU score + U(0, 0.6)
FW_NOISE_HIGH = 40.0  # FW score U(0, 40) + (60 - days)
FW_FRESH_DAYS = 60.0

Rows = NDArray[np.int64]


@dataclass(frozen=True)
class PoolCandidates:
    """One pool: ``rows`` (k,) in walk order, their ``scores`` (k,) and ``contexts`` (k, 18)
    (contexts are (k, 0) for FW and EXPLORE, which no policy scores)."""

    pool: Pool
    rows: Rows
    scores: NDArray[np.float64]
    contexts: NDArray[np.float64]
    #: (k,) probability of each candidate's selection step, for off-policy evaluation:
    #: VMP, the Plackett-Luce probability of its draw given the earlier draws; NU and
    #: EXPLORE, the probability of being in the uniform sample; 1 for deterministic pools.
    propensities: NDArray[np.float64] | None = None
    #: (k,) the policy's part of each score (None: no policy scores the pool) and the
    #: uniform noise drawn into it (None: no noise term); read only by explanations
    #: (:mod:`.explain`), which cannot recompute the random draws.
    policy_scores: NDArray[np.float64] | None = None
    noise: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def top_k(scores: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Positions of the k highest scores, best first (ties by position)."""
    n = scores.shape[0]
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))].astype(np.int64)
    return np.lexsort((np.arange(n), -scores)).astype(np.int64)


def weighted_sample(
    weights: NDArray[np.float64], k: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """k positions drawn without replacement with probability proportional to
    max(weight, 0), in draw order; uniform when every weight is 0 (spec 2.6, VMP).

    Uses exponential keys (Efraimidis-Spirakis): sorting by ``-log(u) / w`` ascending is
    distributed exactly as successive weighted draws (compared as logarithms).
    """
    n = weights.shape[0]
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    positive = np.maximum(weights, 0.0)
    if not positive.any():
        return rng.permutation(n)[:k].astype(np.int64)
    nonzero = positive > 0
    count = int(nonzero.sum())
    every = count == n  # the usual case: no masks to gather and scatter through
    drawable = positive if every else positive[nonzero]
    # log(E / w), the same order as E / w, which overflowed for weights near the smallest
    # double (tempered scores 240 points apart; tests/unit/test_draw_probabilities.py).
    with np.errstate(divide="ignore"):  # E = 0 (never seen) gives -inf: drawn first
        logs = np.log(rng.exponential(size=count)) - np.log(drawable)
    if every:
        return np.argsort(logs, kind="stable")[:k].astype(np.int64)
    keys = np.full(n, np.inf)
    keys[nonzero] = logs
    order = np.argsort(keys, kind="stable")[:k]
    # Zero-weight items are drawn only after all positive ones, uniformly at random.
    zero_tail = ~nonzero[order]
    if zero_tail.any():
        order[zero_tail] = rng.permutation(order[zero_tail])
    return order.astype(np.int64)


def draw_probabilities(
    weights: NDArray[np.float64], order: NDArray[np.int64]
) -> NDArray[np.float64]:
    """(k,) Plackett-Luce probability of each draw of ``order`` given the draws before it:
    w_i / (total weight not yet drawn). ``weights``: (n,), clipped at 0 as in sampling.

    The weight not yet drawn is summed from what is left (the never-drawn items, plus the
    draws from this one on), never as the total minus what was drawn: tempered weights
    span dozens of orders of magnitude, and that difference lost every digit once the
    heavy items were drawn (a logged propensity of 1.25; tests/unit/
    test_draw_probabilities.py)."""
    positive = np.maximum(weights, 0.0)
    total = float(positive.sum())
    if total <= 0.0:
        left = weights.shape[0] - np.arange(order.shape[0], dtype=np.float64)
        uniform: NDArray[np.float64] = 1.0 / left
        return uniform
    drawn = positive[order]
    never = np.ones(positive.shape[0], dtype=np.bool_)
    never[order] = False
    remaining = float(positive[never].sum()) + np.cumsum(drawn[::-1])[::-1]
    probabilities: NDArray[np.float64] = np.where(
        remaining > 0, drawn / np.where(remaining > 0, remaining, 1.0), 0.0
    )
    return probabilities


def vmp_pool(
    available: NDArray[np.bool_],
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    scorer: Scorer,
    rng: np.random.Generator,
    options: RankingOptions,
) -> PoolCandidates:
    """Valued/popular: gated candidates (the gate is dropped if none pass), top 2n by
    score, then a weighted sample of n in draw order."""
    gated = available & catalogue.gate
    rows = np.flatnonzero(gated if gated.any() else available).astype(np.int64)
    heuristic = (
        2.2 * np.asarray(resumes.engagement)[rows]
        + 1.6 * np.asarray(resumes.popularity)[rows]
        + 1.8 * np.asarray(resumes.quality)[rows]
        + 1.4 * catalogue.age.is_new[rows]
    )
    heuristic = catalogue.boosted(heuristic, rows)
    keep = TOP_FACTOR * POOL_SIZES[Pool.VMP]
    scored = score_candidates(catalogue, resumes, rows, scorer, rng, heuristic, keep)
    scores = scored.ucb + heuristic
    top = top_k(scores, min(keep, int(np.isfinite(scores).sum())))
    tempered = options.weights(scores[top])
    weights = scores[top] if tempered is None else tempered
    drawn_in_top = weighted_sample(weights, POOL_SIZES[Pool.VMP], rng)
    drawn = top[drawn_in_top]
    propensities = draw_probabilities(weights, drawn_in_top)
    contexts = scored.contexts(catalogue, drawn)
    return PoolCandidates(
        Pool.VMP, rows[drawn], scores[drawn], contexts, propensities, scored.ucb[drawn]
    )


def nu_pool(
    available: NDArray[np.bool_],
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    scorer: Scorer,
    rng: np.random.Generator,
    options: RankingOptions,
    *,
    legacy_draw: bool = False,
) -> PoolCandidates:
    """New: candidates at most 45 days old, top 2n, then a uniform sample of n (a
    tempered draw, in draw order, with ``options.temperature`` unless ``legacy_draw``)."""
    rows = np.flatnonzero(available & catalogue.age.is_new).astype(np.int64)
    age = catalogue.age
    noise = rng.uniform(0.0, NU_NOISE_HIGH, size=rows.shape[0])
    heuristic = (
        2.5 * age.temporal[rows]
        + 1.8 * np.asarray(resumes.attribute_diversity)[rows]
        + 1.4 * np.asarray(resumes.rarity)[rows] / 100.0
        + 0.8 * age.boost[rows]
        + noise
    )
    if options.boost_new:
        heuristic = catalogue.boosted(heuristic, rows)
    keep = TOP_FACTOR * POOL_SIZES[Pool.NU]
    scored = score_candidates(catalogue, resumes, rows, scorer, rng, heuristic, keep)
    scores = scored.ucb + heuristic
    top = top_k(scores, min(keep, int(np.isfinite(scores).sum())))
    tempered = None if legacy_draw else options.weights(scores[top])
    if tempered is not None:
        drawn_in_top = weighted_sample(tempered, POOL_SIZES[Pool.NU], rng)
        propensities = draw_probabilities(tempered, drawn_in_top)
        top = top[drawn_in_top]
    else:
        inclusion = 1.0
        if top.shape[0] > POOL_SIZES[Pool.NU]:
            inclusion = POOL_SIZES[Pool.NU] / top.shape[0]
            top = rng.permutation(top)[: POOL_SIZES[Pool.NU]]
        propensities = np.full(top.shape[0], inclusion)
    contexts = scored.contexts(catalogue, top)
    return PoolCandidates(
        Pool.NU, rows[top], scores[top], contexts, propensities, scored.ucb[top], noise[top]
    )


def au_pool(
    available: NDArray[np.bool_],
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    scorer: Scorer,
    rng: np.random.Generator,
) -> PoolCandidates:
    """Affine to the user: what VMP and NU did not take, deterministic top n."""
    rows = np.flatnonzero(available).astype(np.int64)
    age = catalogue.age
    heuristic = (
        3.5 * catalogue.matrix[rows, SKILL_SIMILARITY]
        + 3.0 * catalogue.matrix[rows, EXTENDED_MATCH]
        + 1.1 * np.asarray(resumes.popularity)[rows]
        + 1.4 * np.asarray(resumes.quality)[rows]
        + 0.9 * age.temporal[rows]
        + 0.9 * np.asarray(resumes.rarity)[rows] / 100.0
        + 0.9 * age.is_new[rows]
    )
    heuristic = catalogue.boosted(heuristic, rows)
    scored = score_candidates(catalogue, resumes, rows, scorer, rng, heuristic, POOL_SIZES[Pool.AU])
    scores = scored.ucb + heuristic
    top = top_k(scores, min(POOL_SIZES[Pool.AU], int(np.isfinite(scores).sum())))
    contexts = scored.contexts(catalogue, top)
    return PoolCandidates(
        Pool.AU, rows[top], scores[top], contexts, np.ones(top.shape[0]), scored.ucb[top]
    )


def explore_pool(available: NDArray[np.bool_], rng: np.random.Generator) -> PoolCandidates:
    """Uniform random sample of what no other pool took."""
    rows = np.flatnonzero(available).astype(np.int64)
    size = min(POOL_SIZES[Pool.EXPLORE], rows.shape[0])
    picked = rng.permutation(rows.shape[0])[:size]
    inclusion = np.full(size, size / rows.shape[0] if rows.shape[0] else 1.0)
    empty = np.zeros((size, 0), dtype=np.float64)
    return PoolCandidates(Pool.EXPLORE, rows[picked], np.zeros(size), empty, inclusion)


def fw_pool(
    available: NDArray[np.bool_],
    challenges: ChallengeIndex,
    now: float,
    rng: np.random.Generator,
) -> PoolCandidates:
    """Flows for the mixed feed: U(0, 40) + (60 - days), top n. No policy term."""
    rows = np.flatnonzero(available).astype(np.int64)
    days = np.floor(np.maximum(now - np.asarray(challenges.created_at)[rows], 0) / SECONDS_PER_DAY)
    noise = rng.uniform(0.0, FW_NOISE_HIGH, size=rows.shape[0])
    scores = noise + (FW_FRESH_DAYS - days)
    top = top_k(scores, POOL_SIZES[Pool.FW])
    empty = np.zeros((top.shape[0], 0), dtype=np.float64)
    return PoolCandidates(Pool.FW, rows[top], scores[top], empty, noise=noise[top])
