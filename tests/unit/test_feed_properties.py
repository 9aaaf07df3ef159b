"""Property-based tests of the feed invariants of spec section 0, items 5 to 9, over random
small worlds (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import NOW, random_snapshot
from pitchrec.domain.feed import DEFAULT_FEED_SIZE, Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Policy
from pitchrec.ranking.assemble import CREATOR_WINDOW
from pitchrec.ranking.blend_search import BlendArms
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.novelty import SKILL_NOVELTY_THRESHOLD
from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    LEGACY_REWARD_SCALE,
    legacy_pool_policies,
)
from pitchrec.ranking.user_context import user_context

LEGACY = RankingOptions.legacy()

worlds = st.builds(
    lambda seed, n_resumes, n_challenges, n_creators: (
        seed,
        random_snapshot(
            seed, n_resumes=n_resumes, n_challenges=n_challenges, n_creators=n_creators
        ),
    ),
    seed=st.integers(0, 10_000),
    n_resumes=st.integers(0, 400),
    n_challenges=st.integers(0, 30),
    n_creators=st.integers(1, 150),
)
users = st.one_of(st.none(), st.integers(0, 40))
kinds = st.sampled_from(list(FeedKind))
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _trained_policies() -> dict[Pool, Policy]:
    """The service's default policies after some feedback (theta != 0, so the reward
    scale matters)."""
    policies = legacy_pool_policies(reward_scale=DEFAULT_REWARD_SCALE)
    rng = np.random.default_rng(0)
    for policy in policies.values():
        x = rng.random((40, 18))
        policy.update(x, np.arange(40), (x[:, 5] > 0.5).astype(np.float64))
    return policies


TRAINED = _trained_policies()
#: The service's options with candidate retrieval forced on these small worlds (at most
#: 400 resumes): VMP, NU and AU rank a universe of at most 60 rows.
#: (with the learned blend, the policies' 20 columns; the default blend search ranks with
#: fixed points, as SEARCHED does).
RETRIEVAL = replace(
    RankingOptions.service(), retrieval_candidates=60, learned_blend=True, blend_search=False
)
_SEARCH = replace(RankingOptions.service(), retrieval_candidates=60)
#: The blend search's arm of pure affinity (no prior points), with retrieval.
SEARCHED = BlendArms.of(_SEARCH).options(_SEARCH, len(BlendArms.of(_SEARCH).degrees) - 1)
TRAINED_BLEND = legacy_pool_policies(DEFAULT_REWARD_SCALE, RETRIEVAL.blend_prior())
for _policy in TRAINED_BLEND.values():
    _x = np.random.default_rng(1).random((40, 20))
    _policy.update(_x, np.arange(40), (_x[:, 5] > 0.5).astype(np.float64))
#: Every invariant holds for the legacy engine, for the service's defaults and with
#: candidate retrieval.
ENGINES = pytest.mark.parametrize("engine", ["legacy", "service", "retrieval", "searched"])


def _feed(
    snapshot: Snapshot,
    kind: FeedKind,
    user: int | None,
    exclude: frozenset[int],
    engine: str = "legacy",
) -> Feed:
    request = FeedRequest(kind=kind, user_id=user, exclude=exclude, seed=11, now=NOW)
    if engine == "legacy":
        return recommend(
            snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY
        )
    ids = np.asarray(snapshot.resumes.id)[::7]
    profile = TasteProfile(ids, np.linspace(2.0, 1.0, ids.shape[0]))
    if engine == "retrieval":
        return recommend(snapshot, request, TRAINED_BLEND, options=RETRIEVAL, profile=profile)
    if engine == "searched":
        return recommend(snapshot, request, TRAINED, options=SEARCHED, profile=profile)
    options = RankingOptions(temperature=DEFAULT_TEMPERATURE, declared_skills=True)
    return recommend(snapshot, request, TRAINED, options=options, profile=profile)


def _exclusions(snapshot: Snapshot, data: st.DataObject) -> frozenset[int]:
    ids = np.concatenate([snapshot.resumes.id, snapshot.challenges.id]).tolist()
    if not ids:
        return frozenset()
    return frozenset(data.draw(st.lists(st.sampled_from(ids), max_size=60)))


@ENGINES
@PROPERTY_SETTINGS
@given(world=worlds, user=users, kind=kinds, data=st.data())
def test_sizes_positions_and_no_duplicates(
    world: tuple[int, Snapshot],
    user: int | None,
    kind: FeedKind,
    data: st.DataObject,
    engine: str,
) -> None:
    _, snapshot = world
    excluded = _exclusions(snapshot, data)
    feed = _feed(snapshot, kind, user, excluded, engine)
    assert len(feed.items) <= DEFAULT_FEED_SIZE
    assert [item.position for item in feed.items] == list(range(1, len(feed.items) + 1))
    keys = [(item.kind, item.item_id) for item in feed.items]
    assert len(keys) == len(set(keys))
    if kind is FeedKind.DISCOVER:
        assert all(item.kind is ItemKind.RESUME for item in feed.items)
    if kind is FeedKind.FLOW:
        assert all(item.kind is ItemKind.CHALLENGE for item in feed.items)
        seen = set(user_context(snapshot, user).seen_challenges.tolist()) | excluded
        open_flows = sum(1 for i in snapshot.challenges.id.tolist() if i not in seen)
        expected = open_flows or len(snapshot.challenges)  # wrap-around (spec 2.10)
        assert len(feed.items) == min(DEFAULT_FEED_SIZE, expected)
    for item in feed.items:
        if item.kind is ItemKind.CHALLENGE:
            assert item.slot is Pool.FW
        else:
            assert item.slot in (Pool.VMP, Pool.AU, Pool.NU)


@ENGINES
@PROPERTY_SETTINGS
@given(world=worlds, user=users, kind=kinds, data=st.data())
def test_exclusions_and_history_respected(
    world: tuple[int, Snapshot],
    user: int | None,
    kind: FeedKind,
    data: st.DataObject,
    engine: str,
) -> None:
    _, snapshot = world
    excluded = _exclusions(snapshot, data)
    feed = _feed(snapshot, kind, user, excluded, engine)
    context = user_context(snapshot, user)
    seen_resumes = set(context.seen_resumes.tolist())
    seen_challenges = set(context.seen_challenges.tolist())
    flow_wrapped = kind is FeedKind.FLOW and all(
        int(i) in excluded or int(i) in seen_challenges for i in snapshot.challenges.id
    )
    for item in feed.items:
        if item.kind is ItemKind.RESUME:
            assert item.item_id not in excluded
            assert item.item_id not in seen_resumes
        elif not flow_wrapped:  # /flow starts again when everything is excluded
            assert item.item_id not in excluded
            assert item.item_id not in seen_challenges


@ENGINES
@PROPERTY_SETTINGS
@given(world=worlds, user=users, kind=st.sampled_from([FeedKind.TOTAL, FeedKind.DISCOVER]))
def test_sliding_creator_window(
    world: tuple[int, Snapshot], user: int | None, kind: FeedKind, engine: str
) -> None:
    _, snapshot = world
    feed = _feed(snapshot, kind, user, frozenset(), engine)
    creators = [item.creator_id for item in feed.items]
    for i in range(len(creators)):
        window = creators[i : i + CREATOR_WINDOW]
        assert len(window) == len(set(window)), f"creator repeated within 12 at {i}: {window}"


@ENGINES
@PROPERTY_SETTINGS
@given(world=worlds, user=users, kind=st.sampled_from([FeedKind.TOTAL, FeedKind.DISCOVER]))
def test_skill_novelty(
    world: tuple[int, Snapshot], user: int | None, kind: FeedKind, engine: str
) -> None:
    _, snapshot = world
    window = RETRIEVAL.skill_novelty_window if engine in ("retrieval", "searched") else None
    placed: list[set[int]] = []  # the skills of each resume placed, in feed order
    for item in _feed(snapshot, kind, user, frozenset(), engine).items:
        if item.kind is not ItemKind.RESUME:
            continue
        skills = set(snapshot.resumes.skills.row(snapshot.resumes.row_of(item.item_id)).tolist())
        remembered = placed if window is None else placed[len(placed) - window :] if window else []
        shown = set().union(*remembered)
        if item.pool is not Pool.EXPLORE and not item.novelty_waived:
            assert len(shown) < SKILL_NOVELTY_THRESHOLD or skills - shown
        placed.append(skills)


@pytest.mark.parametrize("engine", ["legacy", "retrieval"])
@PROPERTY_SETTINGS
@given(world=worlds, user=users)
def test_total_pattern_puts_challenges_every_sixth_when_plenty(
    world: tuple[int, Snapshot], user: int | None, engine: str
) -> None:
    seed, _ = world
    snapshot = random_snapshot(seed, n_resumes=600, n_challenges=30, n_creators=400)
    feed = _feed(snapshot, FeedKind.TOTAL, user, frozenset(), engine)
    assert len(feed.items) == DEFAULT_FEED_SIZE
    positions = [item.position for item in feed.items if item.kind is ItemKind.CHALLENGE]
    assert positions == [6, 12, 18, 24]
    resume_slots = "".join(item.slot.value[0] for item in feed.items[:5])
    assert resume_slots == "VAAVN"


@PROPERTY_SETTINGS
@given(world=worlds, kind=kinds, user=st.one_of(st.none(), st.just(0), st.integers(10**9, 10**12)))
def test_cold_start_never_fails(
    world: tuple[int, Snapshot], kind: FeedKind, user: int | None
) -> None:
    _, snapshot = world
    feed = _feed(snapshot, kind, user, frozenset())
    assert user_context(snapshot, user).is_cold
    available = len(snapshot.challenges) if kind is FeedKind.FLOW else len(snapshot.resumes)
    if available and kind is not FeedKind.TOTAL:
        assert feed.items


def test_same_seed_same_feed_and_different_seeds_differ() -> None:
    snapshot = random_snapshot(3, n_resumes=500, n_challenges=20, n_creators=300)
    policies = legacy_pool_policies(LEGACY_REWARD_SCALE)

    def ids(seed: int) -> list[int]:
        request = FeedRequest(kind=FeedKind.TOTAL, user_id=5, seed=seed, now=NOW)
        return [
            item.item_id for item in recommend(snapshot, request, policies, options=LEGACY).items
        ]

    assert ids(1) == ids(1)
    assert len({tuple(ids(seed)) for seed in range(5)}) > 1
