"""The feed engine: one request in, one :class:`~pitchrec.domain.feed.Feed` out.

Pure functions over an immutable snapshot, the pool policies and a per-request
``np.random.Generator`` seeded from (request seed, user): the same request with the same
seed gives the same feed; a request without a seed draws a fresh one and reports it.
With ``RankingOptions.retrieval_candidates``, VMP, NU and AU of a large catalogue rank a
universe of rows retrieved per request (:mod:`.retrieval`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.explanation import Explanation
from pitchrec.domain.feed import Feed, FeedItem, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile
from pitchrec.index.scores import SECONDS_PER_DAY
from pitchrec.index.snapshot import ResumeIndex, Snapshot
from pitchrec.ranking.assemble import DISCOVER_PATTERN, TOTAL_PATTERN, FeedAssembler
from pitchrec.ranking.assembly_state import Placement
from pitchrec.ranking.collaborative import blend_columns, score_boost
from pitchrec.ranking.features import (
    N_BLEND_FEATURES,
    N_FEATURES,
    CatalogueFeatures,
    Scorer,
    catalogue_features,
)
from pitchrec.ranking.feed_metrics import PoolCoverage, feed_metrics
from pitchrec.ranking.flow_feed import FLOW_FRESHNESS_POINTS as FLOW_FRESHNESS_POINTS
from pitchrec.ranking.flow_feed import FLOW_NOISE_HIGH as FLOW_NOISE_HIGH
from pitchrec.ranking.flow_feed import FLOW_SOCIAL_BONUS as FLOW_SOCIAL_BONUS
from pitchrec.ranking.flow_feed import FLOW_WINDOW_DAYS as FLOW_WINDOW_DAYS
from pitchrec.ranking.flow_feed import flow_feed
from pitchrec.ranking.fresh_guarantee import FreshGuarantee, fresh_candidates
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pools import (
    PoolCandidates,
    au_pool,
    explore_pool,
    fw_pool,
    nu_pool,
    vmp_pool,
)
from pitchrec.ranking.request_scope import RequestScope, challenge_available, exclusions
from pitchrec.ranking.request_scope import mask_out as _mask_out  # the name tests import
from pitchrec.ranking.retrieval import Universe, catalogue_fresh, retrieve
from pitchrec.ranking.user_context import user_context

#: The pools a policy scores (spec 2.5); FW and EXPLORE have no policy term.
POLICY_POOLS = (Pool.VMP, Pool.AU, Pool.NU)
_SEED_BITS = 63
_WORD = (1 << 32) - 1


def draw_seed() -> int:
    """A fresh request seed (what an unseeded request is ranked with)."""
    return secrets.randbits(_SEED_BITS)


def request_rng(request: FeedRequest) -> tuple[np.random.Generator, int]:
    """The request's generator and the seed it came from."""
    seed = request.seed if request.seed is not None else draw_seed()
    user_key = [0] if request.user_id is None else [1, request.user_id & ((1 << _SEED_BITS) - 1)]
    return np.random.default_rng(_entropy(seed & ((1 << _SEED_BITS) - 1), *user_key)), seed


def _entropy(*values: int) -> NDArray[np.uint32]:
    """(w,) the 32-bit words ``np.random.SeedSequence`` makes of ``values`` (ints >= 0,
    each least significant word first, 0 as one word): the same generator as from the
    list of ints, without numpy's conversion of each int in Python (default_rng 10.0 ->
    7.6 us, timeit; tests/unit/test_request_rng.py checks the states are equal)."""
    words: list[int] = []
    for value in values:
        words.append(value & _WORD)
        while value > _WORD:
            value >>= 32
            words.append(value & _WORD)
    return np.asarray(words, dtype=np.uint32)


def recommend(
    snapshot: Snapshot,
    request: FeedRequest,
    policies: Mapping[Pool, Scorer],
    *,
    options: RankingOptions,
    profile: TasteProfile = EMPTY_PROFILE,
    prior: NDArray[np.float64] | None = None,
) -> Feed:
    """Build the feed ``request`` asks for; ``options``: what changes from the legacy
    ranking (:meth:`RankingOptions.legacy` changes nothing); ``profile``: the user's
    online taste profile (empty: the snapshot history alone, as the legacy); ``prior``
    (n,): the popularity prior to weigh (None: the snapshot's; :mod:`.live_prior`)."""
    _check_policies(policies, options)
    started = time.perf_counter()
    rng, seed = request_rng(request)
    now = time.time() if request.now is None else request.now
    user = user_context(
        snapshot,
        request.user_id,
        profile,
        declared=options.declared_skills,
        skipped=options.fold_in_skips,
    )
    scope = RequestScope(snapshot, request, user, rng, seed, now, started, prior)
    if request.kind is FeedKind.FLOW:
        return flow_feed(scope, policies, options)
    return _mixed_feed(scope, policies, options)


def _check_policies(policies: Mapping[Pool, Scorer], options: RankingOptions) -> None:
    """Refuse policies of the wrong context width for ``options`` (a clear error rather
    than a shape mismatch deep in scoring)."""
    width = N_BLEND_FEATURES if options.learned_blend else N_FEATURES
    for pool in POLICY_POOLS:
        dimension = getattr(policies.get(pool), "dimension", width)
        if dimension is not None and dimension != width:  # None: scores any width
            raise ValueError(
                f"the {pool} policy scores {dimension} columns; these options need {width}"
                " (build the policies with legacy_pool_policies(scale, options.blend_prior()))"
            )


def _mixed_feed(
    scope: RequestScope, policies: Mapping[Pool, Scorer], options: RankingOptions
) -> Feed:
    snapshot, request, user, rng, now = (
        scope.snapshot,
        scope.request,
        scope.user,
        scope.rng,
        scope.now,
    )
    resumes, challenges = snapshot.resumes, snapshot.challenges
    excluded = exclusions(request)
    available = _mask_out(np.asarray(resumes.id), user.seen_resumes, excluded)
    # With retrieval VMP, NU and AU rank a universe (``ranked``: its local rows), mapped
    # back to catalogue rows once built; None: the whole catalogue (:mod:`.retrieval`).
    universe = retrieve(snapshot, user, available, now, options, policies, rng, scope.prior)
    ranked = resumes if universe is None else universe.resumes
    candidates = available if universe is None else universe.available
    catalogue = _features(scope, ranked, universe, options)
    pools: dict[Pool, PoolCandidates] = {}
    pools[Pool.VMP] = vmp_pool(candidates, catalogue, ranked, policies[Pool.VMP], rng, options)
    pools[Pool.NU] = nu_pool(candidates, catalogue, ranked, policies[Pool.NU], rng, options)
    remaining = candidates.copy()
    remaining[pools[Pool.VMP].rows] = False
    remaining[pools[Pool.NU].rows] = False
    au_candidates = candidates if options.au_shares_candidates else remaining
    pools[Pool.AU] = au_pool(au_candidates, catalogue, ranked, policies[Pool.AU], rng)
    if request.kind is FeedKind.TOTAL:
        flows = challenge_available(snapshot, user.seen_challenges, excluded)
        pools[Pool.FW] = fw_pool(flows, challenges, now, rng)
    remaining[pools[Pool.AU].rows] = False
    if universe is None:
        pools[Pool.EXPLORE] = explore_pool(remaining, rng)
    else:  # from the whole catalogue, as without retrieval
        pools[Pool.EXPLORE] = universe.explore(available, pools, rng)
    fresh = _fresh(scope, catalogue, universe, options)
    guarantee: FreshGuarantee | None = None
    if fresh is not None and options.guarantees_fresh:  # last: the other pools stay as without
        fresh_in = fresh if universe is None else fresh[universe.rows]
        pools[Pool.NU], guarantee = fresh_candidates(
            pools[Pool.NU], fresh_in, candidates, catalogue, ranked, policies[Pool.NU], rng, options
        )
    if universe is not None:  # catalogue rows from here on
        pools, guarantee = universe.to_catalogue(pools, guarantee, fresh)

    pattern = TOTAL_PATTERN if request.kind is FeedKind.TOTAL else DISCOVER_PATTERN
    assembler = FeedAssembler(
        resumes, challenges, pools, request.size, guarantee, options.skill_novelty_window
    )
    assembler.ranked_fill = options.ranked_fill
    placements = assembler.run(pattern)
    items = _items(snapshot, pools, placements)
    resume_rows = np.asarray([p.row for p in placements if not p.is_challenge], dtype=np.int64)
    challenge_rows = np.asarray([p.row for p in placements if p.is_challenge], dtype=np.int64)
    created = np.concatenate(
        [
            np.asarray(resumes.created_at)[resume_rows],
            np.asarray(challenges.created_at)[challenge_rows],
        ]
    )
    pooled = np.zeros(len(resumes), dtype=np.bool_)
    for pool in (*POLICY_POOLS, Pool.EXPLORE):
        pooled[pools[pool].rows] = True
    metrics = feed_metrics(
        snapshot,
        items,
        resume_rows=resume_rows,
        item_days=np.floor(np.maximum(now - created, 0.0) / SECONDS_PER_DAY),
        coverage=PoolCoverage(
            pool_sizes={pool: len(candidates) for pool, candidates in pools.items()},
            pooled_resume_rows=int(pooled.sum()),
            available_resumes=int(available.sum()),
        ),
        target_size=request.size,
        elapsed_seconds=time.perf_counter() - scope.started,
        fresh=fresh,
    )
    explanations: tuple[Explanation, ...] = ()
    if request.explain:
        from pitchrec.ranking.explain import Explainer  # only when asked: off the hot path

        explainer = Explainer(snapshot, user, now, options, policies)
        explanations = explainer.mixed(items, pools, placements)
    return Feed(request, items, metrics, scope.seed, explanations)


def _features(
    scope: RequestScope, ranked: ResumeIndex, universe: Universe | None, options: RankingOptions
) -> CatalogueFeatures:
    """The request's features of the ``ranked`` rows: the catalogue, or the universe (its
    blend columns or boost gathered from the whole catalogue's)."""
    snapshot, user, now = scope.snapshot, scope.user, scope.now
    if options.learned_blend:
        blend = blend_columns(snapshot, user) if universe is None else universe.blend
        return catalogue_features(ranked, user, now, blend)
    boost = None
    if options.collaborative > 0.0 or options.popularity_prior > 0.0:
        if universe is None:
            boost = score_boost(snapshot, user, options, scope.prior)
        else:
            boost = universe.boost
    return catalogue_features(ranked, user, now, boost=boost)


def _fresh(
    scope: RequestScope,
    catalogue: CatalogueFeatures,
    universe: Universe | None,
    options: RankingOptions,
) -> NDArray[np.bool_] | None:
    """(n,) the catalogue's fresh resumes; None when nothing can be fresh."""
    if not options.tracks_fresh:
        return None
    if universe is not None:  # the features cover the universe only
        return catalogue_fresh(scope.snapshot, options, scope.now)
    return options.fresh(np.asarray(scope.snapshot.resumes.exhibited_count), catalogue.age.days)


def _items(
    snapshot: Snapshot, pools: dict[Pool, PoolCandidates], placements: list[Placement]
) -> tuple[FeedItem, ...]:
    items = []
    for position, placement in enumerate(placements, start=1):
        candidates = pools[placement.pool]
        table = snapshot.challenges if placement.is_challenge else snapshot.resumes
        at = placement.pool_position
        items.append(
            FeedItem(
                item_id=int(table.id[placement.row]),
                kind=ItemKind.CHALLENGE if placement.is_challenge else ItemKind.RESUME,
                position=position,
                slot=placement.slot,
                pool=placement.pool,
                creator_id=int(table.creator[placement.row]),
                score=float(candidates.scores[at]),
                context=tuple(candidates.contexts[at].tolist()),
                propensity=(
                    float(candidates.propensities[at])
                    if candidates.propensities is not None
                    else None
                ),
                novelty_waived=placement.novelty_waived,
                fresh_guaranteed=placement.fresh_guaranteed,
            )
        )
    return tuple(items)
