"""The legacy defects the engine fixes (spec 6.2), each checked on a hand-built case."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from factories import DAY, NOW, random_source
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.index.build import build_snapshot
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import LEGACY_REWARD_SCALE, legacy_pool_policies
from pitchrec.ranking.user_context import PREFERENCE_SAMPLE, user_context
from pitchrec.sources.tables import ConnectionTable, InteractionKind, InteractionTable, ItemType

LEGACY = RankingOptions.legacy()


def _history(
    user: int,
    items: list[int],
    kinds: list[int],
    ages_days: list[float],
    item_type: int = ItemType.RESUME,
) -> InteractionTable:
    n = len(items)
    return InteractionTable(
        user_id=np.full(n, user, dtype=np.int64),
        item_id=np.asarray(items, dtype=np.int64),
        item_type=np.full(n, item_type, dtype=np.uint8),
        kind=np.asarray(kinds, dtype=np.uint8),
        rating=np.full(n, 5.0, dtype=np.float32),
        created_at=NOW - np.asarray(ages_days) * DAY,
    )


def test_preferences_use_the_most_recent_80_interactions() -> None:
    """D-C13: the sample is the newest 80 rows, not an arbitrary 80 of a set."""
    source = random_source(1, n_resumes=200)
    old = list(range(1, 101))  # 100 old views
    recent = list(range(101, 181))  # 80 recent matches
    items = old + recent
    kinds = [InteractionKind.VIEW] * 100 + [InteractionKind.MATCH] * 80
    ages = [20.0] * 100 + [1.0] * 80
    snapshot = build_snapshot(replace(source, interactions=_history(7, items, kinds, ages)))
    context = user_context(snapshot, 7)
    assert set(context.seen_resumes.tolist()) == set(items)  # all history is excluded
    rows = [snapshot.resumes.row_of(i) for i in recent]
    expected = set(snapshot.resumes.skills.take(np.asarray(rows, dtype=np.int64))[0].tolist())
    assert PREFERENCE_SAMPLE == 80
    assert set(np.flatnonzero(context.skills).tolist()) == expected


def test_one_star_ratings_add_no_taste() -> None:
    source = random_source(2, n_resumes=50)
    interactions = _history(3, [1, 2], [InteractionKind.RATING] * 2, [1.0, 2.0])
    interactions = replace(interactions, rating=np.asarray([1.0, 1.0], dtype=np.float32))
    context = user_context(build_snapshot(replace(source, interactions=interactions)), 3)
    assert context.skill_vector is None  # seen, but no positive signal
    assert set(context.seen_resumes.tolist()) == {1, 2}


def test_flow_feed_excludes_seen_challenges_and_favours_followed_creators() -> None:
    """D-C4: seen challenges are excluded; D-C3: followed creators get +30."""
    source = random_source(3, n_resumes=20, n_challenges=30, n_creators=10)
    challenge_ids = source.challenges.id.tolist()
    seen = challenge_ids[:5]
    interactions = _history(9, seen, [InteractionKind.VIEW] * 5, [1.0] * 5, ItemType.CHALLENGE)
    followed = int(source.challenges.user_id[-1])  # creator of the oldest challenge
    connections = ConnectionTable(
        from_id=np.asarray([9], dtype=np.int64),
        to_id=np.asarray([followed], dtype=np.int64),
        created_at=np.asarray([NOW - DAY]),
    )
    snapshot = build_snapshot(replace(source, interactions=interactions, connections=connections))
    request = FeedRequest(kind=FeedKind.FLOW, user_id=9, seed=4, now=NOW)
    feed = recommend(snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
    ids = [item.item_id for item in feed.items]
    assert not set(ids) & set(seen)
    # Freshness is worth at most 30 and noise at most 20: a followed creator's challenge,
    # whatever its age in the 90-day window, beats any unfollowed one of the same age.
    followed_scores = [i.score for i in feed.items if i.creator_id == followed]
    assert followed_scores and min(followed_scores) >= 30.0


def test_exclusions_apply_to_both_kinds_in_the_total_feed() -> None:
    source = random_source(4, n_resumes=300, n_challenges=10, n_creators=200)
    snapshot = build_snapshot(source)
    excluded = frozenset(source.challenges.id[:8].tolist()) | frozenset(range(1, 150))
    request = FeedRequest(kind=FeedKind.TOTAL, user_id=None, exclude=excluded, seed=1, now=NOW)
    feed = recommend(snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
    assert feed.items
    for item in feed.items:
        assert item.item_id not in excluded
    assert sum(1 for item in feed.items if item.kind is ItemKind.CHALLENGE) <= 2


def test_metrics_are_corrected() -> None:
    """D-C6 (whole-feed creator count), D-C7 (resume-only averages), D-C27 (availability)."""
    source = random_source(5, n_resumes=500, n_challenges=12, n_creators=400)
    snapshot = build_snapshot(source)
    excluded = frozenset({1, 2, 3, 10**9})  # one id not in the catalogue
    request = FeedRequest(kind=FeedKind.TOTAL, user_id=None, exclude=excluded, seed=2, now=NOW)
    feed = recommend(snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
    metrics = feed.metrics.as_dict()
    assert metrics["total_items"] == 24
    assert metrics["unique_creators"] == len({i.creator_id for i in feed.items})
    unique = metrics["unique_creators"]
    assert isinstance(unique, int) and unique >= 12  # the sliding window alone forces 12
    assert metrics["creator_diversity"] == round(100 * unique / 24, 2)
    rows = [snapshot.resumes.row_of(i.item_id) for i in feed.items if i.kind is ItemKind.RESUME]
    assert metrics["avg_views"] == round(float(np.mean(snapshot.resumes.views[rows])), 2)
    assert metrics["available_catalog"] == 500 - 3


def test_sampled_pools_log_their_propensities() -> None:
    """What off-policy evaluation needs (architecture habit 8): VMP logs the
    Plackett-Luce probability of each draw, NU and EXPLORE their inclusion probability,
    AU 1; flows (noise-ranked, no policy) log none."""
    from pitchrec.domain.feed import Pool
    from pitchrec.ranking.pools import draw_probabilities

    snapshot = build_snapshot(random_source(8, n_resumes=600, n_challenges=10, n_creators=400))
    feed = recommend(
        snapshot,
        FeedRequest(kind=FeedKind.TOTAL, seed=3, now=NOW),
        legacy_pool_policies(LEGACY_REWARD_SCALE),
        options=LEGACY,
    )
    for item in feed.items:
        if item.pool is Pool.FW:
            assert item.propensity is None
        else:
            assert item.propensity is not None and 0.0 < item.propensity <= 1.0
        if item.pool is Pool.AU:
            assert item.propensity == 1.0
    weights = np.asarray([3.0, 1.0, 0.0, 4.0])
    probabilities = draw_probabilities(weights, np.asarray([3, 0, 1], dtype=np.int64))
    np.testing.assert_allclose(probabilities, [4 / 8, 3 / 4, 1.0])
