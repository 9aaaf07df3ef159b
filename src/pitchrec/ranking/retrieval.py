"""Candidate retrieval (issue 13, item 6): a mixed feed ranks a universe of at most
``RankingOptions.retrieval_candidates`` resume rows instead of the whole catalogue.

Exact scoring computes the context features of every resume and scores every candidate of
VMP, NU and AU: most of a 15.8 ms feed at scale 20 (40,000 resumes). With retrieval,
:func:`retrieve` picks per request the rows those pools would pick, from orders computed
once per snapshot (:mod:`.catalogue_orders`) and a few O(n) vector passes (the affinity,
computed over the whole catalogue anyway for its [0, 1] scaling, one blend and two
partial sorts); the engine runs the unchanged pool machinery on a
:class:`~pitchrec.index.snapshot.ResumeIndex` of those rows (local rows 0..m-1), then
:meth:`Universe.to_catalogue` maps the pools back. The sources, each a share of the
budget (:data:`SHARES`), are unioned and restricted to the available rows:

- ``maxima``: for each count of the set-relative columns 14-16, an available row with the
  largest count among the available rows (AU's set), the gated ones (VMP's) and the new
  ones (NU's), so those columns keep their exact values (at most 9 rows);
- ``blend``: the top by the pools' blend, affinity and prior at the weights the pool
  policies give them now (:func:`blend_weights`) or the fixed boost, plus VMP's static
  heuristic (it breaks the blend's ties: with the weight on the affinity, the thousands
  of resumes without interactions share one affinity);
- ``affinity`` and ``prior``: the top by each alone;
- ``static``: the top by VMP's static heuristic (2.2 engagement + 1.6 popularity + 1.8
  quality);
- ``new``: every available resume at most 45 days old (NU's set), or the best of them by
  NU's heuristic plus the blend (the new resumes are a suffix of the creation order);
- ``fresh``: the same for the exposure guarantee's fresh resumes (a prefix of the
  exhibited-count order, plus the young ones with ``fresh_max_days``);
- ``skills``: for the user's heaviest skills (AU weighs skill similarity and extended
  match), the resumes carrying them, best prior first;
- ``following``: the resumes of creators the user follows, best prior first;
- ``uniform``: a uniform sample of the catalogue, so LinUCB's exploration bonus can still
  pick anything.

EXPLORE draws from the whole available catalogue minus the pooled rows
(:meth:`Universe.explore`: the distribution of exact scoring, in O(75) draws), the fresh
guarantee and the feed metrics count the whole catalogue, and the blend columns (or the
boost) are gathered from whole-catalogue values, never rescaled over the universe. What
differs from exact scoring: a row outside the universe is never a VMP, NU or AU candidate;
the fresh tail's columns 14-16 are relative to the fresh rows in the universe, AU's are
exact only with ``au_shares_candidates``; the random draws come in another order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import ResumeIndex, Snapshot
from pitchrec.policies.linucb import LinUCB
from pitchrec.ranking.assemble import FreshGuarantee
from pitchrec.ranking.catalogue_orders import catalogue_orders
from pitchrec.ranking.collaborative import collaborative_affinity, score_boost
from pitchrec.ranking.features import BLEND_COLLABORATIVE, BLEND_PRIOR, Scorer
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pools import POOL_SIZES, PoolCandidates
from pitchrec.ranking.retrieval_sources import NONE, Sources, first, whole_days
from pitchrec.ranking.user_context import UserContext

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Mask = NDArray[np.bool_]

#: Share of the budget per source, beside the ``maxima``; the union is about half the
#: budget (the sources overlap). Measured with bench/retrieval_recall.py at scale 20,
#: budget 3,000, 120 requests, each source dropped in turn (bench/RESULTS.md): with the
#: policies at their prior the blend alone keeps every exact VMP, NU and AU candidate;
#: with the learned blend turned to the affinity (67 / 1 points) dropping the blend lost
#: 6-10 % of them, the new resumes 1.4 % of NU's, the skills 0.5 % of AU's; without
#: ``fresh`` the universe held 10 % of the fresh tail (the 190 best fresh resumes by NU's
#: score), with it 99-100 %. The affinity, prior, static, following and uniform sources
#: changed nothing measured there: they keep the exact tops, cold users, social ties and
#: exploration within reach at a few hundred rows.
SHARES = {
    "blend": 0.25,
    "affinity": 0.12,
    "prior": 0.12,
    "static": 0.05,
    "new": 0.15,
    "fresh": 0.12,
    "skills": 0.10,
    "following": 0.03,
    "uniform": 0.05,
}
#: The ``maxima`` rows at most: 3 counts (columns 14-16) x 3 sets (AU, VMP, NU).
MAXIMA_ROWS = 9


@dataclass(frozen=True)
class Universe:
    """One request's candidate universe: ``rows`` (m,) sorted available catalogue rows;
    ``resumes`` their index (local row i is catalogue row ``rows[i]``); with the learned
    blend ``blend`` (m, 2), their columns 18-19, else ``boost`` (m,) their fixed boost
    (None when the options add none); both gathered from whole-catalogue values."""

    rows: Ints
    resumes: ResumeIndex
    blend: Floats | None
    boost: Floats | None

    @property
    def available(self) -> Mask:
        """(m,) every universe row is available."""
        return np.ones(self.rows.shape[0], dtype=np.bool_)

    def explore(
        self, available: Mask, pools: dict[Pool, PoolCandidates], rng: np.random.Generator
    ) -> PoolCandidates:
        """EXPLORE as :func:`~.pools.explore_pool`: a uniform sample of the ``available``
        (n,) catalogue rows no VMP, NU or AU candidate (local ``pools``) holds, with its
        inclusion probability; drawn with Floyd's sampling (O(75)) instead of a
        permutation of every row (0.4-0.7 ms at 40,000 resumes). Catalogue rows."""
        remaining = available.copy()
        for pool in (Pool.VMP, Pool.NU, Pool.AU):
            remaining[self.rows[pools[pool].rows]] = False
        rows = np.flatnonzero(remaining).astype(np.int64)
        size = min(POOL_SIZES[Pool.EXPLORE], rows.shape[0])
        picked = rng.choice(rows.shape[0], size, replace=False) if size else NONE
        inclusion = np.full(size, size / rows.shape[0] if rows.shape[0] else 1.0)
        empty = np.zeros((size, 0), dtype=np.float64)
        return PoolCandidates(Pool.EXPLORE, rows[picked], np.zeros(size), empty, inclusion)

    def to_catalogue(
        self,
        pools: dict[Pool, PoolCandidates],
        guarantee: FreshGuarantee | None,
        fresh: Mask | None,
    ) -> tuple[dict[Pool, PoolCandidates], FreshGuarantee | None]:
        """``pools`` with the local rows of VMP, NU and AU mapped to catalogue rows, and
        ``guarantee`` with the catalogue's ``fresh`` (n,) rows."""
        mapped = dict(pools)
        for pool in (Pool.VMP, Pool.NU, Pool.AU):
            mapped[pool] = replace(pools[pool], rows=self.rows[pools[pool].rows])
        if guarantee is None or fresh is None:
            return mapped, guarantee
        return mapped, replace(guarantee, fresh=fresh)


def catalogue_fresh(snapshot: Snapshot, options: RankingOptions, now: float) -> Mask:
    """(n,) the resumes that count as fresh (:meth:`RankingOptions.fresh`); their ages
    only when ``fresh_max_days`` can make one fresh (0 days otherwise: the same mask)."""
    resumes = snapshot.resumes
    if options.fresh_max_days > 0.0:
        days = whole_days(np.asarray(resumes.created_at), now)
    else:
        days = np.zeros(len(resumes))
    return options.fresh(np.asarray(resumes.exhibited_count), days)


def blend_weights(policies: Mapping[Pool, Scorer], options: RankingOptions) -> tuple[float, float]:
    """Points of (affinity, prior) in the pools' scores: with the learned blend, the mean
    over VMP, NU and AU of what their LinUCB policies give columns 18-19 now (rewards turn
    them, :mod:`.pool_policies`); else, or for other policies, the options' points."""
    learned = [
        policy.config.reward_scale * policy.scoring_theta()[[BLEND_COLLABORATIVE, BLEND_PRIOR]]
        for policy in (policies.get(pool) for pool in (Pool.VMP, Pool.NU, Pool.AU))
        if isinstance(policy, LinUCB) and policy.dimension > BLEND_PRIOR
    ]
    if not options.learned_blend or not learned:
        return options.collaborative, options.popularity_prior
    mean = np.maximum(np.mean(learned, axis=0), 0.0)
    return float(mean[0]), float(mean[1])


def prepare_retrieval(snapshot: Snapshot, options: RankingOptions) -> None:
    """Build ``snapshot``'s orders now if its feeds can retrieve (then the first feed
    does not pay for them: 0.13 s at 40,000 resumes, measured)."""
    if 0 < options.retrieval_candidates < len(snapshot.resumes):
        catalogue_orders(snapshot)


def quotas(budget: int) -> dict[str, int]:
    """Rows of each source for a ``budget``, beside the (at most 9) ``maxima`` rows."""
    rest = max(budget - MAXIMA_ROWS, 0)
    return {name: int(share * rest) for name, share in SHARES.items()}


def retrieve(
    snapshot: Snapshot,
    user: UserContext,
    available: Mask,
    now: float,
    options: RankingOptions,
    policies: Mapping[Pool, Scorer],
    rng: np.random.Generator,
    prior: Floats | None = None,
) -> Universe | None:
    """The universe of one mixed feed; None (exact scoring) when retrieval is off or the
    ``available`` (n,) resumes do not outnumber ``options.retrieval_candidates``;
    ``prior`` (n,): the prior the boost weighs (None: the snapshot's)."""
    budget, n = options.retrieval_candidates, available.shape[0]
    n_available = int(np.count_nonzero(available))
    if budget <= 0 or n_available <= budget:
        return None
    orders = catalogue_orders(snapshot)
    affinity = boost = combo = None
    if options.learned_blend:
        affinity = collaborative_affinity(snapshot, user)
        weight_affinity, weight_prior = blend_weights(policies, options)
        combo = weight_prior * orders.prior
        if affinity is not None:
            combo += weight_affinity * affinity
    elif options.collaborative > 0.0 or options.popularity_prior > 0.0:
        combo = boost = score_boost(snapshot, user, options, prior)
    sources = Sources(snapshot, orders, user, available, n - n_available, now, combo)
    quota = quotas(budget)
    take = available.__getitem__
    chosen = [
        sources.maxima()[:budget],  # (a budget under 9 rows keeps its word)
        NONE if combo is None else sources.top(combo + orders.static, quota["blend"]),
        NONE if affinity is None else sources.top(affinity, quota["affinity"]),
        first(orders.by_prior, take, quota["prior"]),
        first(orders.by_static, take, quota["static"]),
        sources.new(quota["new"]),
        sources.fresh(options, quota["fresh"]) if options.guarantees_fresh else NONE,
        sources.skills(quota["skills"]),
        sources.following(quota["following"]),
        rng.choice(n, min(quota["uniform"], n), replace=False),
    ]
    member = np.zeros(n, dtype=np.bool_)
    for rows in chosen:
        member[rows] = True
    rows = np.flatnonzero(member & available).astype(np.int64)
    blend = None
    if options.learned_blend:  # blend_columns(snapshot, user)[rows], without the (n, 2)
        blend = np.zeros((rows.shape[0], 2))
        if affinity is not None:
            blend[:, 0] = affinity[rows]
        blend[:, 1] = orders.prior[rows]
    local = orders.blocks.subset(rows)
    return Universe(rows, local, blend, None if boost is None else boost[rows])
