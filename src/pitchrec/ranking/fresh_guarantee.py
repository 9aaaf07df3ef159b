"""The fresh-resume exposure guarantee's inputs (issue 14): :class:`FreshGuarantee`, what
assembly (:mod:`.assemble`) enforces, and :func:`fresh_candidates`, which appends to the
NU pool the fresh tail the guarantee draws from. The rule and the measurements behind
it are in :mod:`.assemble`'s docstring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import ResumeIndex
from pitchrec.ranking.features import CatalogueFeatures, Scorer
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pools import PoolCandidates, nu_pool


@dataclass(frozen=True)
class FreshGuarantee:
    """What the exposure guarantee needs: ``fresh`` (n,), the resume rows that count as
    fresh; ``share``, the minimum share of a feed's resume items that are fresh; and
    ``nu_tail``, the position in the NU pool where its fresh tail starts (NU's own walk
    stops there: the tail only serves the guarantee). See :func:`fresh_candidates`."""

    fresh: NDArray[np.bool_]
    share: float
    nu_tail: int


def fresh_candidates(
    nu: PoolCandidates,
    fresh: NDArray[np.bool_],
    available: NDArray[np.bool_],
    catalogue: CatalogueFeatures,
    resumes: ResumeIndex,
    scorer: Scorer,
    rng: np.random.Generator,
    options: RankingOptions,
) -> tuple[PoolCandidates, FreshGuarantee]:
    """The NU pool with a fresh tail appended, and the guarantee to enforce.
    ``fresh`` (n,): the resume rows that count as fresh (``RankingOptions.fresh``).

    Where the fresh candidates come from: under the service's ranking every pool, NU
    included, is led by the popularity prior and the affinity, so a resume nobody has
    interacted with sits at the bottom of each; the fresh resumes the pools do hold are
    mostly young ones the prior already favours, and EXPLORE's are a few at random. The
    tail is NU's own ranking run over the available fresh resumes NU did not draw:
    :func:`~.pools.nu_pool` with "fresh" in place of "new" (its heuristic, the boost with
    ``boost_new``, the NU policy's score and contexts) and the legacy NU draw, a uniform
    sample of 95 of the 190 best, here in random order whatever their number. The score
    screens out what NU ranks worst; the uniform draw spreads the guaranteed exposure
    over many fresh resumes instead of the same best few for every user (module
    docstring: with NU's tempered draw the catalogue shown did not grow). A guaranteed
    item is scored, tracked and learned from as an NU item; its propensity is its
    inclusion probability.

    The tail is built after every other pool, from the request's generator, so the other
    pools are exactly those of the same request without the guarantee. It is appended to
    the NU pool's arrays (items and impressions find their score and context by
    position) but NU's walk stops before it: slots fill exactly as without the guarantee
    until the guarantee steps in.
    """
    candidates = available & fresh
    candidates[nu.rows] = False
    as_new = catalogue.with_new(fresh)
    tail = nu_pool(candidates, as_new, resumes, scorer, rng, options, legacy_draw=True)
    order = rng.permutation(len(tail))
    tail = PoolCandidates(
        Pool.NU,
        tail.rows[order],
        tail.scores[order],
        tail.contexts[order],
        None if tail.propensities is None else tail.propensities[order],
        None if tail.policy_scores is None else tail.policy_scores[order],
        None if tail.noise is None else tail.noise[order],
    )
    contexts = np.concatenate([nu.contexts, tail.contexts])
    merged = PoolCandidates(
        Pool.NU,
        np.concatenate([nu.rows, tail.rows]),
        np.concatenate([nu.scores, tail.scores]),
        contexts,
        _joined(nu.propensities, tail.propensities),
        _joined(nu.policy_scores, tail.policy_scores),
        _joined(nu.noise, tail.noise),
    )
    return merged, FreshGuarantee(fresh, options.fresh_share, len(nu))


def _joined(
    first: NDArray[np.float64] | None, second: NDArray[np.float64] | None
) -> NDArray[np.float64] | None:
    """``first`` then ``second``, or None when either is None."""
    if first is None or second is None:
        return None
    return np.concatenate([first, second])
