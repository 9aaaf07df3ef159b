"""The fresh-resume exposure guarantee (issue 14, item 4): ``RankingOptions.fresh_share``
enforced in assembly (:mod:`pitchrec.ranking.assemble`) without breaking the slot pattern,
the creator window or the skill-novelty rule, reported in the feed metrics, off in the
legacy preset."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from factories import DAY, NOW, random_snapshot, random_source
from pitchrec.domain.feed import DEFAULT_FEED_SIZE, Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.index.build import build_snapshot
from pitchrec.index.scores import age_scores
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking.assemble import (
    CREATOR_WINDOW,
    DISCOVER_PATTERN,
    TOTAL_PATTERN,
)
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.novelty import SKILL_NOVELTY_THRESHOLD
from pitchrec.ranking.options import (
    DEFAULT_FRESH_MAX_DAYS,
    DEFAULT_FRESH_MAX_IMPRESSIONS,
    DEFAULT_FRESH_SHARE,
    RankingOptions,
)
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    LEGACY_REWARD_SCALE,
    legacy_pool_policies,
)
from pitchrec.ranking.pools import POOL_SIZES
from pitchrec.ranking.user_context import user_context
from pitchrec.service import ServiceConfig
from pitchrec.settings import Settings

#: In the factories' worlds exhibited_count is uniform on 0..3: "fewer than 1 exhibition"
#: makes about a quarter of the catalogue fresh, 10 days about 3 % more.
TEST_MAX_IMPRESSIONS, TEST_MAX_DAYS = 1, 10.0

worlds = st.builds(
    lambda seed, n_resumes, n_challenges, n_creators: random_snapshot(
        seed, n_resumes=n_resumes, n_challenges=n_challenges, n_creators=n_creators
    ),
    seed=st.integers(0, 10_000),
    n_resumes=st.integers(0, 360),
    n_challenges=st.integers(0, 30),
    n_creators=st.integers(1, 150),
)
#: Worlds where the guarantee can always be met (see :func:`_enough_fresh`) most of the time.
rich_worlds = st.builds(
    lambda seed, n_resumes, n_creators: random_snapshot(
        seed, n_resumes=n_resumes, n_challenges=12, n_creators=n_creators
    ),
    seed=st.integers(0, 10_000),
    n_resumes=st.integers(160, 340),
    n_creators=st.integers(80, 150),
)
users = st.one_of(st.none(), st.integers(0, 40))
mixed_kinds = st.sampled_from([FeedKind.TOTAL, FeedKind.DISCOVER])
shares = st.sampled_from([0.1, DEFAULT_FRESH_SHARE, 0.25, 0.5, 1.0])
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _options(share: float) -> RankingOptions:
    """The service's options with this share, and the skill-novelty rule over the whole
    feed (the legacy's; the service's is off), so the invariants below test the rule."""
    return replace(
        RankingOptions.service(),
        fresh_share=share,
        fresh_max_impressions=TEST_MAX_IMPRESSIONS,
        fresh_max_days=TEST_MAX_DAYS,
        skill_novelty_window=None,
    )


def _feed(
    snapshot: Snapshot,
    options: RankingOptions,
    kind: FeedKind,
    user: int | None,
    exclude: frozenset[int] = frozenset(),
    seed: int = 11,
) -> Feed:
    request = FeedRequest(kind=kind, user_id=user, exclude=exclude, seed=seed, now=NOW)
    policies = legacy_pool_policies(DEFAULT_REWARD_SCALE, options.blend_prior())
    ids = np.asarray(snapshot.resumes.id)[::9]
    profile = TasteProfile(ids, np.linspace(2.0, 1.0, ids.shape[0]))
    return recommend(snapshot, request, policies, options=options, profile=profile)


def _fresh_ids(snapshot: Snapshot, options: RankingOptions) -> set[int]:
    """Resume ids that count as fresh, computed here from the snapshot (not the engine)."""
    resumes = snapshot.resumes
    days = age_scores(np.asarray(resumes.created_at), NOW).days
    few = np.asarray(resumes.exhibited_count) < options.fresh_max_impressions
    young = days < options.fresh_max_days
    return set(np.asarray(resumes.id)[few | young].tolist())


def _available_fresh(
    snapshot: Snapshot, options: RankingOptions, user: int | None, exclude: frozenset[int]
) -> dict[int, int]:
    """Fresh resumes the request may show: id -> creator."""
    seen = set(user_context(snapshot, user).seen_resumes.tolist()) | exclude
    fresh = _fresh_ids(snapshot, options)
    ids = snapshot.resumes.id.tolist()
    creators = snapshot.resumes.creator.tolist()
    return {i: c for i, c in zip(ids, creators, strict=True) if i in fresh and i not in seen}


def _enough_fresh(available: dict[int, int]) -> bool:
    """A sufficient condition for the guarantee to be met at every slot: every available
    fresh resume is a candidate (at most one NU draw of them, which the fresh tail and NU
    hold whole), and their creators outnumber what can block them (the creator window,
    plus the creators of every resume a feed can place)."""
    return (
        len(available) <= POOL_SIZES[Pool.NU]
        and len(set(available.values())) >= CREATOR_WINDOW + DEFAULT_FEED_SIZE
    )


def _resume_fresh_flags(feed: Feed, fresh: set[int]) -> list[bool]:
    return [item.item_id in fresh for item in feed.items if item.kind is ItemKind.RESUME]


def _is_subsequence(labels: list[Pool], pattern: tuple[Pool, ...]) -> bool:
    walk = iter(pattern * (DEFAULT_FEED_SIZE + 1))
    return all(any(label is slot for slot in walk) for label in labels)


def _exclusions(snapshot: Snapshot, data: st.DataObject) -> frozenset[int]:
    ids = snapshot.resumes.id.tolist()
    if not ids:
        return frozenset()
    return frozenset(data.draw(st.lists(st.sampled_from(ids), max_size=40)))


def _check_invariants(
    snapshot: Snapshot, feed: Feed, kind: FeedKind, novelty_window: int | None = None
) -> None:
    """The assembly rules the guarantee must not break: the slot pattern and its labels,
    the creator window, the skill-novelty rule (remembering the last ``novelty_window`` resumes,
    None: all), no duplicates."""
    items = feed.items
    keys = [(item.kind, item.item_id) for item in items]
    assert len(keys) == len(set(keys))
    creators = [item.creator_id for item in items]
    for i in range(len(creators)):
        window = creators[i : i + CREATOR_WINDOW]
        assert len(window) == len(set(window)), f"creator repeated within 12 at {i}"
    pattern = TOTAL_PATTERN if kind is FeedKind.TOTAL else DISCOVER_PATTERN
    assert _is_subsequence([item.slot for item in items], pattern)
    for item in items:
        assert (item.kind is ItemKind.CHALLENGE) == (item.slot is Pool.FW)
    placed: list[set[int]] = []  # the skills of each resume placed, in feed order
    for item in items:
        if item.kind is not ItemKind.RESUME:
            continue
        skills = set(snapshot.resumes.skills.row(snapshot.resumes.row_of(item.item_id)).tolist())
        memory = novelty_window
        remembered = placed if memory is None else placed[len(placed) - memory :] if memory else []
        shown = set().union(*remembered)
        if item.pool is not Pool.EXPLORE and not item.novelty_waived:
            assert len(shown) < SKILL_NOVELTY_THRESHOLD or skills - shown
        placed.append(skills)


@PROPERTY_SETTINGS
@given(snapshot=rich_worlds, user=users, kind=mixed_kinds, share=shares, data=st.data())
def test_every_prefix_holds_the_fresh_share(
    snapshot: Snapshot, user: int | None, kind: FeedKind, share: float, data: st.DataObject
) -> None:
    """Every prefix of L resume items holds at least floor(share * L) fresh ones whenever
    enough fresh candidates exist; the assembly rules hold whatever the world."""
    options = _options(share)
    exclude = _exclusions(snapshot, data)
    feed = _feed(snapshot, options, kind, user, exclude)
    _check_invariants(snapshot, feed, kind)
    available = _available_fresh(snapshot, options, user, exclude)
    fresh = _fresh_ids(snapshot, options)
    for item in feed.items:
        if item.fresh_guaranteed:
            assert item.kind is ItemKind.RESUME and item.item_id in fresh
            assert item.slot in (Pool.VMP, Pool.AU, Pool.NU)
    if not _enough_fresh(available):
        note(f"not enough fresh candidates: {len(available)}")
        event("not enough fresh candidates")
        return
    event("prefix bound checked")
    flags = _resume_fresh_flags(feed, fresh)
    count = 0
    for length, flag in enumerate(flags, start=1):
        count += flag
        assert count >= math.floor(share * length + 1e-9), (length, flags)


@PROPERTY_SETTINGS
@given(snapshot=worlds, user=users, kind=mixed_kinds, share=shares, data=st.data())
def test_assembly_rules_hold_in_any_world(
    snapshot: Snapshot, user: int | None, kind: FeedKind, share: float, data: st.DataObject
) -> None:
    """Small, creator-poor, fresh-poor or empty worlds: the guarantee gives way to the
    creator window, the skill rule and the pattern. (Not asserted: the same length as
    without it. In a catalogue of a few creators, placing a fresh resume earlier can
    change how the window packs the later slots, as any other order would.)"""
    options = _options(share)
    exclude = _exclusions(snapshot, data)
    feed = _feed(snapshot, options, kind, user, exclude)
    _check_invariants(snapshot, feed, kind)
    assert len(feed.items) <= DEFAULT_FEED_SIZE
    fresh = _fresh_ids(snapshot, options)
    assert all(item.item_id in fresh for item in feed.items if item.fresh_guaranteed)


@PROPERTY_SETTINGS
@given(snapshot=worlds, user=users, kind=mixed_kinds, share=shares)
def test_feed_is_unchanged_before_the_first_guaranteed_item(
    snapshot: Snapshot, user: int | None, kind: FeedKind, share: float
) -> None:
    """The guarantee only steps in where it must: the pools are those without it and
    every item before the first guaranteed one is the same (the whole feed when the
    feed was fresh enough on its own)."""
    options = _options(share)
    feed = _feed(snapshot, options, kind, user)
    without = _feed(snapshot, replace(options, fresh_share=0.0), kind, user)
    first = next((i for i, item in enumerate(feed.items) if item.fresh_guaranteed), None)
    if first is None:
        assert feed.items == without.items
    else:
        assert feed.items[:first] == without.items[:first]
    assert not any(item.fresh_guaranteed for item in without.items)


@PROPERTY_SETTINGS
@given(snapshot=worlds, user=users, kind=st.sampled_from(list(FeedKind)))
def test_legacy_and_zero_share_place_nothing_by_the_guarantee(
    snapshot: Snapshot, user: int | None, kind: FeedKind
) -> None:
    request = FeedRequest(kind=kind, user_id=user, seed=5, now=NOW)
    legacy = recommend(
        snapshot,
        request,
        legacy_pool_policies(LEGACY_REWARD_SCALE),
        options=RankingOptions.legacy(),
    )
    assert not any(item.fresh_guaranteed for item in legacy.items)
    assert "fresh_ratio" not in legacy.metrics.as_dict()
    off = _feed(snapshot, _options(0.0), kind, user, seed=5)
    assert not any(item.fresh_guaranteed for item in off.items)


def _unseen_world() -> Snapshot:
    """A catalogue where 40 of 400 resumes were never exhibited nor interacted with: the
    prior and the affinity put them last in every pool."""
    source = random_source(
        21, n_resumes=400, n_challenges=20, n_creators=200, n_users=120, n_interactions=4_000
    )
    resumes = source.resumes
    ids = np.asarray(resumes.id)
    unseen = ids % 10 == 0
    exhibited = np.where(unseen, 0, 5 + np.asarray(resumes.exhibited_count))
    created = np.where(unseen, NOW - 200 * DAY, np.asarray(resumes.created_at))
    interactions = source.interactions
    keep = ~np.isin(interactions.item_id, ids[unseen]) | (interactions.item_type != 0)
    interactions = replace(
        interactions,
        **{
            name: getattr(interactions, name)[keep]
            for name in ("user_id", "item_id", "item_type", "kind", "rating", "created_at")
        },
    )
    source = replace(
        source,
        resumes=replace(resumes, exhibited_count=exhibited, created_at=created),
        interactions=interactions,
    )
    return build_snapshot(source, built_at=NOW)


@pytest.mark.parametrize("kind", [FeedKind.TOTAL, FeedKind.DISCOVER])
def test_the_guarantee_binds_where_the_ranking_hides_unseen_resumes(kind: FeedKind) -> None:
    """Without the guarantee the service's ranking shows fewer unseen resumes than the
    share (the problem of issue 14); with it every prefix meets the share, the metrics
    count them, and the slot pattern of a full feed is unchanged."""
    snapshot = _unseen_world()
    options = replace(
        RankingOptions.service(), fresh_max_impressions=1, fresh_max_days=0.0, fresh_share=0.25
    )
    fresh = _fresh_ids(snapshot, options)
    assert len(fresh) == 40
    short = 0
    for user in (None, 1, 2, 3, 7, 30):
        without = _feed(snapshot, replace(options, fresh_share=0.0), kind, user)
        flags = _resume_fresh_flags(without, fresh)
        short += sum(flags) < math.floor(0.25 * len(flags))
        assert without.metrics.as_dict()["fresh_guaranteed"] == 0
        feed = _feed(snapshot, options, kind, user)
        _check_invariants(snapshot, feed, kind, options.skill_novelty_window)
        assert len(feed.items) == DEFAULT_FEED_SIZE
        assert [item.slot for item in feed.items] == [item.slot for item in without.items]
        flags = _resume_fresh_flags(feed, fresh)
        for length in range(1, len(flags) + 1):
            assert sum(flags[:length]) >= math.floor(0.25 * length)
        metrics = feed.metrics.as_dict()
        guaranteed = sum(item.fresh_guaranteed for item in feed.items)
        assert guaranteed > 0
        assert metrics["fresh_items"] == sum(flags)
        assert metrics["fresh_guaranteed"] == guaranteed
        assert metrics["fresh_ratio"] == round(100.0 * sum(flags) / len(flags), 2)
        for item in feed.items:
            if item.fresh_guaranteed:  # scored and tracked like any pooled item
                assert item.context and item.propensity is not None
    assert short >= 3  # the world does show the problem


def test_fresh_items_come_from_the_nu_tail_labelled_with_their_slot() -> None:
    snapshot = _unseen_world()
    options = replace(
        RankingOptions.service(), fresh_max_impressions=1, fresh_max_days=0.0, fresh_share=0.5
    )
    feed = _feed(snapshot, options, FeedKind.DISCOVER, 2)
    guaranteed = [item for item in feed.items if item.fresh_guaranteed]
    assert len(guaranteed) >= 6
    # The fresh tail is NU's: tracked and learned as NU items, whatever slot they fill.
    assert all(item.pool is Pool.NU for item in guaranteed)
    assert {item.slot for item in guaranteed} >= {Pool.AU, Pool.VMP}  # labels kept
    pool_sizes = feed.metrics.as_dict()["pool_sizes"]
    assert isinstance(pool_sizes, dict) and pool_sizes["nu"] > 0


def test_presets_and_defaults() -> None:
    legacy = RankingOptions.legacy()
    assert legacy.fresh_share == 0.0 and not legacy.tracks_fresh
    assert not legacy.guarantees_fresh
    service = RankingOptions.service()
    assert service.fresh_share == DEFAULT_FRESH_SHARE
    assert service.fresh_max_impressions == DEFAULT_FRESH_MAX_IMPRESSIONS
    assert service.fresh_max_days == DEFAULT_FRESH_MAX_DAYS
    assert service.guarantees_fresh
    # Nothing can be fresh: the share alone enforces nothing.
    assert not replace(legacy, fresh_share=0.5).guarantees_fresh


def test_overrides_as_the_lab_writes_them() -> None:
    service = RankingOptions.service()
    off = service.overridden(["fresh_share=0"])
    assert off.fresh_share == 0.0 and off.tracks_fresh and not off.guarantees_fresh
    changed = service.overridden(["fresh_max_impressions=3", "fresh_max_days=7"])
    assert changed.fresh_max_impressions == 3
    assert isinstance(changed.fresh_max_impressions, int)
    assert changed.fresh_max_days == 7.0
    with pytest.raises(ValueError, match="whole number"):
        service.overridden(["fresh_max_impressions=2.5"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        service.overridden(["fresh_share=1.5"])
    with pytest.raises(ValueError):
        RankingOptions(fresh_max_impressions=-1)
    with pytest.raises(ValueError):
        RankingOptions(fresh_max_days=float("nan"))


def test_service_at_zero_share_serves_the_feed_without_the_guarantee() -> None:
    """``service@fresh_share=0`` (the lab's baseline for the guarantee's cost) is the
    service's feed with no guaranteed item; only the fresh metrics are added."""
    snapshot = _unseen_world()
    off = RankingOptions.service().overridden(["fresh_share=0"])
    feed = _feed(snapshot, off, FeedKind.DISCOVER, 3)
    no_definition = replace(off, fresh_max_impressions=0, fresh_max_days=0.0)
    plain = _feed(snapshot, no_definition, FeedKind.DISCOVER, 3)
    assert feed.items == plain.items
    assert "fresh_ratio" in feed.metrics.as_dict()
    assert "fresh_ratio" not in plain.metrics.as_dict()


def test_settings_wire_the_guarantee(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceConfig.from_settings(Settings()).ranking == RankingOptions.service()
    monkeypatch.setenv("PITCHREC_FRESH_SHARE", "0.25")
    monkeypatch.setenv("PITCHREC_FRESH_MAX_IMPRESSIONS", "2")
    monkeypatch.setenv("PITCHREC_FRESH_MAX_DAYS", "7")
    ranking = ServiceConfig.from_settings(Settings()).ranking
    assert (ranking.fresh_share, ranking.fresh_max_impressions, ranking.fresh_max_days) == (
        0.25,
        2,
        7.0,
    )
    monkeypatch.setenv("PITCHREC_FRESH_SHARE", "0")
    assert not ServiceConfig.from_settings(Settings()).ranking.guarantees_fresh
