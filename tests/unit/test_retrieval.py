"""Candidate retrieval (issue 13, item 6): the universe holds every source's rows, its
features are the whole catalogue's, the metrics count the whole catalogue, and a budget
the catalogue does not exceed changes nothing. The feed invariants with retrieval on are
property-tested in test_feed_properties.py, the explanations in test_explanations.py."""

from __future__ import annotations

import gc
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import NOW, random_snapshot
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.index.scores import age_scores, quality_gate
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking import catalogue_orders, retrieval, retrieval_sources
from pitchrec.ranking.collaborative import blend_columns, collaborative_affinity, score_boost
from pitchrec.ranking.engine import _mask_out, recommend
from pitchrec.ranking.features import (
    EXHIBITED,
    LIKES,
    RATING_COUNT,
    RELATIVE,
    catalogue_features,
)
from pitchrec.ranking.options import DEFAULT_RETRIEVAL_CANDIDATES, RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, legacy_pool_policies
from pitchrec.ranking.pools import PoolCandidates
from pitchrec.ranking.user_context import UserContext, user_context
from pitchrec.service import ServiceConfig
from pitchrec.settings import Settings

#: The service's options with the learned blend (the policies' 20 columns), which
#: retrieval serves as well as the default blend search's fixed points (BOOSTED).
SERVICE = RankingOptions.service().overridden(["learned_blend=1"])
BUDGET = 120
RETRIEVAL = replace(SERVICE, retrieval_candidates=BUDGET)
#: The fixed boost instead of the learned blend.
BOOSTED = replace(RETRIEVAL, learned_blend=False)
POLICIES = legacy_pool_policies(DEFAULT_REWARD_SCALE, SERVICE.blend_prior())
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 10_000)
users = st.one_of(st.none(), st.integers(1, 30))


def _world(seed: int) -> Snapshot:
    return random_snapshot(seed, n_resumes=500, n_challenges=20, n_creators=300)


def _user(snapshot: Snapshot, user_id: int | None) -> tuple[UserContext, np.ndarray]:
    user = user_context(snapshot, user_id, _profile(snapshot), declared=True)
    available = _mask_out(np.asarray(snapshot.resumes.id), user.seen_resumes)
    return user, available


def _profile(snapshot: Snapshot) -> TasteProfile:
    ids = np.asarray(snapshot.resumes.id)[::11]
    return TasteProfile(ids, np.linspace(2.0, 1.0, ids.shape[0]))


def _universe(
    snapshot: Snapshot,
    user: UserContext,
    available: np.ndarray,
    options: RankingOptions = RETRIEVAL,
) -> retrieval.Universe:
    rng = np.random.default_rng(0)
    universe = retrieval.retrieve(snapshot, user, available, NOW, options, POLICIES, rng)
    assert universe is not None
    return universe


def _feed(snapshot: Snapshot, options: RankingOptions, user: int | None, seed: int = 3) -> Feed:
    request = FeedRequest(FeedKind.TOTAL, user, seed=seed, now=NOW, explain=True)
    policies = legacy_pool_policies(DEFAULT_REWARD_SCALE, options.blend_prior())
    return recommend(snapshot, request, policies, options=options, profile=_profile(snapshot))


def _first_available(order: np.ndarray, available: np.ndarray, k: int) -> set[int]:
    return set(order[available[order]][:k].tolist())


@SETTINGS
@given(seed=seeds, user_id=users)
def test_the_universe_holds_the_exact_tops_and_fits_the_budget(
    seed: int, user_id: int | None
) -> None:
    snapshot = _world(seed)
    user, available = _user(snapshot, user_id)
    universe = _universe(snapshot, user, available)
    rows = set(universe.rows.tolist())
    assert len(rows) == universe.rows.shape[0] <= BUDGET
    assert available[universe.rows].all() and np.all(np.diff(universe.rows) > 0)
    quota = retrieval.quotas(BUDGET)
    prior = retrieval.catalogue_orders(snapshot).prior
    # The exact top of the prior and of the affinity among the available resumes.
    assert _first_available(np.argsort(-prior, kind="stable"), available, quota["prior"]) <= rows
    resumes = snapshot.resumes
    static = 2.2 * resumes.engagement + 1.6 * resumes.popularity + 1.8 * resumes.quality
    assert _first_available(np.argsort(-static, kind="stable"), available, quota["static"]) <= rows
    affinity = collaborative_affinity(snapshot, user)
    weight_affinity, weight_prior = retrieval.blend_weights(POLICIES, RETRIEVAL)
    blend = weight_prior * prior + static  # the pools' blend, VMP's heuristic to break ties
    if affinity is not None:
        blend = blend + weight_affinity * affinity
        assert _above(affinity, available, quota["affinity"]) <= rows
    assert _above(blend, available, quota["blend"]) <= rows


def _above(values: np.ndarray, available: np.ndarray, k: int) -> set[int]:
    """Available rows whose value is above the k-th largest available value."""
    threshold = np.sort(values[available])[::-1][k - 1]
    return set(np.flatnonzero(available & (values > threshold)).tolist())


@SETTINGS
@given(seed=seeds, user_id=users)
def test_every_source_reaches_the_universe(seed: int, user_id: int | None) -> None:
    """New, fresh, skill-sharing and followed creators' resumes: dropping a source fails."""
    snapshot = _world(seed)
    user, available = _user(snapshot, user_id)
    options = replace(RETRIEVAL, retrieval_candidates=400)
    quota = retrieval.quotas(400)
    universe = _universe(snapshot, user, available, options)
    rows = set(universe.rows.tolist())
    resumes = snapshot.resumes
    age = age_scores(np.asarray(resumes.created_at), NOW)
    weight_affinity, weight_prior = retrieval.blend_weights(POLICIES, RETRIEVAL)
    combo = weight_prior * retrieval.catalogue_orders(snapshot).prior
    affinity = collaborative_affinity(snapshot, user)
    if affinity is not None:
        combo = combo + weight_affinity * affinity
    nu_score = (  # NU's heuristic without its noise, plus the blend
        2.5 * age.temporal
        + 1.8 * np.asarray(resumes.attribute_diversity)
        + 1.4 * np.asarray(resumes.rarity) / 100.0
        + 0.8 * age.boost
        + combo
    )
    exhibited = np.asarray(resumes.exhibited_count)
    for kind, group in (("new", age.is_new), ("fresh", exhibited < 1)):  # all, or the best
        group_rows = np.flatnonzero(available & group)
        assert _best(group_rows, nu_score[group_rows], quota[kind]) <= rows
    followed = np.flatnonzero(available & np.isin(resumes.creator, user.following))
    if followed.shape[0] <= quota["following"]:
        assert set(followed.tolist()) <= rows
    if user.skill_vector is not None:  # the best-prior carriers of each heaviest skill
        weights = user.skill_weights
        count = min(retrieval_sources.TOP_SKILLS, int(np.count_nonzero(weights)))
        cut = np.sort(weights)[::-1][count] if count < weights.shape[0] else 0.0
        orders = retrieval.catalogue_orders(snapshot)
        for skill in np.flatnonzero(weights > cut).tolist():  # unambiguous (no ties)
            carriers = np.asarray(orders.skill_rows.row(skill), dtype=np.int64)
            assert _first_available(carriers, available, quota["skills"] // count) <= rows


def _best(rows: np.ndarray, scores: np.ndarray, k: int) -> set[int]:
    """``rows`` whose score is above the k-th best (all when at most k)."""
    if rows.shape[0] <= k:
        return set(rows.tolist())
    cut = np.sort(scores)[::-1][k - 1]
    return set(rows[scores > cut].tolist())


@pytest.mark.parametrize("count", ["rating_count", "like_count", "exhibited_count"])
def test_the_largest_count_is_retrieved_wherever_it_ranks(count: str) -> None:
    """Columns 14-16 divide by the largest count of the pool's set: the row holding it is
    in the universe even when nothing else would bring it (old, worst prior)."""
    snapshot = random_snapshot(12, n_resumes=500, n_challenges=20, n_creators=300)
    user, available = _user(snapshot, 3)
    resumes = snapshot.resumes
    old = available & ~age_scores(np.asarray(resumes.created_at), NOW).is_new
    old &= np.asarray(resumes.exhibited_count) >= 1
    prior = retrieval.catalogue_orders(snapshot).prior
    row = int(np.flatnonzero(old)[np.argmin(prior[old])])
    values = np.asarray(getattr(resumes, count)).copy()
    values[row] = values.max() + 100
    changed = replace(snapshot, resumes=replace(resumes, **{count: values}))
    assert row in _universe(changed, user, available).rows.tolist()


def test_the_blend_follows_what_the_policies_learned() -> None:
    assert retrieval.blend_weights(POLICIES, RETRIEVAL) == pytest.approx((30.0, 60.0))
    assert retrieval.blend_weights(POLICIES, BOOSTED) == (30.0, 60.0)  # fixed points
    turned = legacy_pool_policies(DEFAULT_REWARD_SCALE, (67.0, 1.0))
    weights = retrieval.blend_weights(turned, RETRIEVAL)
    assert weights == pytest.approx((67.0, 1.0))
    snapshot = random_snapshot(3, n_resumes=500, n_challenges=20, n_creators=300)
    user, available = _user(snapshot, 5)
    rng = np.random.default_rng(0)
    universe = retrieval.retrieve(snapshot, user, available, NOW, RETRIEVAL, turned, rng)
    assert universe is not None
    affinity = collaborative_affinity(snapshot, user)
    assert affinity is not None
    orders = retrieval.catalogue_orders(snapshot)
    blend = weights[0] * affinity + weights[1] * orders.prior + orders.static
    assert _above(blend, available, retrieval.quotas(BUDGET)["blend"]) <= set(
        universe.rows.tolist()
    )


def test_every_source_has_a_share() -> None:
    assert set(retrieval.SHARES) == {
        "blend", "affinity", "prior", "static", "new", "fresh", "skills", "following", "uniform"
    }  # fmt: skip
    assert all(share > 0.0 for share in retrieval.SHARES.values())
    assert sum(retrieval.SHARES.values()) <= 1.0
    assert all(quota > 0 for quota in retrieval.quotas(BUDGET).values())


def test_without_the_new_resumes_source_the_universe_misses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the checks above catch: the other sources alone miss new resumes."""
    snapshot = random_snapshot(4, n_resumes=500, n_challenges=20, n_creators=300)
    user, available = _user(snapshot, 2)
    options = replace(RETRIEVAL, retrieval_candidates=400)
    monkeypatch.setattr(retrieval_sources.Sources, "new", lambda self, k: retrieval_sources.NONE)
    rows = set(_universe(snapshot, user, available, options).rows.tolist())
    new = np.flatnonzero(available & age_scores(snapshot.resumes.created_at, NOW).is_new)
    assert len(rows & set(new.tolist())) < min(retrieval.quotas(400)["new"], new.shape[0])


@pytest.mark.parametrize("options", [RETRIEVAL, BOOSTED], ids=["blend", "boost"])
@pytest.mark.parametrize("user_id", [None, 3, 8])
def test_features_are_the_whole_catalogues(options: RankingOptions, user_id: int | None) -> None:
    """Blend columns, boost and every context of a VMP, NU or AU candidate are those of
    exact scoring: columns 14-16 too (the set maxima are retrieved)."""
    snapshot = random_snapshot(9, n_resumes=500, n_challenges=20, n_creators=300)
    user, available = _user(snapshot, user_id)
    universe = _universe(snapshot, user, available, options)
    if options.learned_blend:
        assert np.array_equal(universe.blend, blend_columns(snapshot, user)[universe.rows])
    else:
        assert np.array_equal(universe.boost, score_boost(snapshot, user, options)[universe.rows])
    feed = _feed(snapshot, options, user_id)
    resumes = snapshot.resumes
    blend = blend_columns(snapshot, user) if options.learned_blend else None
    exact = catalogue_features(resumes, user, NOW, blend).matrix
    age = age_scores(np.asarray(resumes.created_at), NOW)
    gate = quality_gate(np.asarray(resumes.gate_static), age.days)
    feed_available = _mask_out(np.asarray(resumes.id), user.seen_resumes)
    sets = {Pool.VMP: feed_available & gate, Pool.NU: feed_available & age.is_new}
    columns = (RATING_COUNT, LIKES, EXHIBITED)
    counts = (resumes.rating_count, resumes.like_count, resumes.exhibited_count)
    checked = 0
    for item in feed.items:
        if item.kind is not ItemKind.RESUME or item.pool is Pool.EXPLORE or item.fresh_guaranteed:
            continue
        row = resumes.row_of(item.item_id)
        context = np.asarray(item.context)
        fixed = np.ones(context.shape[0], dtype=np.bool_)
        fixed[RELATIVE] = False
        assert np.array_equal(context[fixed], exact[row, fixed])
        in_set = sets.get(item.pool, feed_available)
        for column, count in zip(columns, counts, strict=True):
            expected = count[row] / (np.asarray(count)[in_set].max() + 1.0)
            assert context[column] == pytest.approx(expected, rel=1e-12)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("kind", [FeedKind.TOTAL, FeedKind.DISCOVER])
@pytest.mark.parametrize("user_id", [None, 1, 5, 44])
def test_a_budget_the_catalogue_does_not_exceed_changes_nothing(
    kind: FeedKind, user_id: int | None
) -> None:
    snapshot = random_snapshot(2, n_resumes=400, n_challenges=30, n_creators=200)
    request = FeedRequest(kind, user_id, seed=7, now=NOW, explain=True)
    profile = _profile(snapshot)
    exact = recommend(snapshot, request, POLICIES, options=SERVICE, profile=profile)
    for budget in (400, 10_000):
        budgeted = replace(SERVICE, retrieval_candidates=budget)
        feed = recommend(snapshot, request, POLICIES, options=budgeted, profile=profile)
        assert feed.items == exact.items and feed.explanations == exact.explanations
        assert replace(feed.metrics, execution_time=0.0) == replace(
            exact.metrics, execution_time=0.0
        )


@pytest.mark.parametrize("user_id", [None, 4])
def test_metrics_count_the_whole_catalogue(user_id: int | None) -> None:
    snapshot = random_snapshot(6, n_resumes=500, n_challenges=20, n_creators=300)
    _, available = _user(snapshot, user_id)
    feed = _feed(snapshot, RETRIEVAL, user_id)
    metrics = feed.metrics
    assert metrics.available_catalog == int(available.sum()) > BUDGET
    assert metrics.total_catalog == len(snapshot.resumes)
    assert metrics.pool_sizes["explore"] == 75
    # More rows pooled than the universe holds: EXPLORE draws from the whole catalogue.
    pooled = metrics.catalog_coverage * metrics.available_catalog / 100.0
    assert pooled > BUDGET


def test_explore_draws_from_the_whole_catalogue() -> None:
    snapshot = random_snapshot(7, n_resumes=500, n_challenges=20, n_creators=300)
    user, available = _user(snapshot, 3)
    universe = _universe(snapshot, user, available)
    none = np.zeros(0, dtype=np.int64)
    pools = {pool: PoolCandidates(pool, none, np.zeros(0), np.zeros((0, 0))) for pool in Pool}
    outside = np.ones(len(snapshot.resumes), dtype=np.bool_)
    outside[universe.rows] = False
    drawn = np.zeros(len(snapshot.resumes), dtype=np.int64)
    for seed in range(200):
        explore = universe.explore(available, pools, np.random.default_rng(seed))
        assert len(explore) == 75 and available[explore.rows].all()
        assert np.unique(explore.rows).shape[0] == 75
        assert np.allclose(explore.propensities, 75 / available.sum())
        drawn[explore.rows] += 1
    assert (drawn[outside & available] > 0).mean() > 0.95  # reaches rows beyond the universe


def test_the_universe_index_is_the_catalogues_rows() -> None:
    snapshot = random_snapshot(8, n_resumes=300, n_challenges=5, n_creators=100)
    rows = np.asarray([0, 3, 4, 17, 150, 299], dtype=np.int64)
    local = catalogue_orders.build_orders(snapshot).blocks.subset(rows)
    assert len(local) == rows.shape[0]
    assert np.array_equal(local.id, np.asarray(snapshot.resumes.id)[rows])
    assert np.array_equal(local.engagement, np.asarray(snapshot.resumes.engagement)[rows])
    for i, row in enumerate(rows.tolist()):
        for name in ("skills", "knowledges", "tools", "languages"):
            mine, theirs = getattr(local, name), getattr(snapshot.resumes, name)
            assert mine.row(i).tolist() == theirs.row(row).tolist()
        assert local.video.get(i) is None


def test_orders_are_built_once_per_snapshot() -> None:
    snapshot = random_snapshot(1, n_resumes=50)
    orders = retrieval.catalogue_orders(snapshot)
    assert retrieval.catalogue_orders(snapshot) is orders
    other = random_snapshot(1, n_resumes=50)
    assert retrieval.catalogue_orders(other) is not orders
    entries = len(catalogue_orders._CACHE)
    del snapshot, orders
    gc.collect()
    assert len(catalogue_orders._CACHE) == entries - 1  # dropped with its snapshot


def test_orders_are_built_before_serving_only_where_feeds_retrieve() -> None:
    small, large = random_snapshot(2, n_resumes=50), random_snapshot(2, n_resumes=300)
    cached = catalogue_orders._CACHE
    retrieval.prepare_retrieval(small, RETRIEVAL)  # 50 resumes: never over the budget
    retrieval.prepare_retrieval(large, RankingOptions.legacy())
    assert id(small) not in cached and id(large) not in cached
    retrieval.prepare_retrieval(large, RETRIEVAL)
    assert cached[id(large)][0]() is large


def test_legacy_never_retrieves_and_the_setting_reaches_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert RankingOptions.legacy().retrieval_candidates == 0
    assert SERVICE.retrieval_candidates == DEFAULT_RETRIEVAL_CANDIDATES
    assert ServiceConfig.legacy().ranking.retrieval_candidates == 0
    monkeypatch.setenv("PITCHREC_RETRIEVAL_CANDIDATES", "600")
    assert ServiceConfig.from_settings(Settings()).ranking.retrieval_candidates == 600
    assert SERVICE.overridden(["retrieval_candidates=600"]).retrieval_candidates == 600
    with pytest.raises(ValueError, match="retrieval_candidates"):
        RankingOptions(retrieval_candidates=-1)
