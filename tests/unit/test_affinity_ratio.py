"""The build chooses how much the collaborative affinity weighs against the popularity
prior on the deployment's own history: much where tastes are personal, little where
everyone likes the same things, the configured ratio when there is too little to tell."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from factories import DAY, NOW, random_source
from pitchrec.domain.profile import TasteProfile
from pitchrec.index.build import build_snapshot
from pitchrec.models.affinity_ratio import (
    AFFINITY_RATIO_GRID,
    DEFAULT_AFFINITY_RATIO,
    choose_affinity_ratio,
)
from pitchrec.models.collaborative import train_collaborative
from pitchrec.models.popularity import validation_pairs
from pitchrec.ranking.collaborative import collaborative_affinity
from pitchrec.ranking.user_context import user_context
from pitchrec.sources.tables import InteractionTable

N_ITEMS = 200
N_USERS = 600


def _history(items: np.ndarray, users: np.ndarray, rng: np.random.Generator) -> InteractionTable:
    m = users.shape[0]
    return InteractionTable(
        user_id=users.astype(np.int64),
        item_id=items.astype(np.int64),
        item_type=np.zeros(m, dtype=np.uint8),
        kind=np.ones(m, dtype=np.uint8),  # saves
        rating=np.full(m, 3.0, dtype=np.float32),
        created_at=NOW - rng.uniform(0, 60, size=m) * DAY,
    )


def _communities(seed: int = 0) -> InteractionTable:
    """Four communities of 50 resumes; a user interacts only inside its own, uniformly:
    the user's past says where the future is, overall popularity says nothing."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, N_USERS + 1), 10)
    community = users % 4
    items = 1 + community * 50 + rng.integers(0, 50, size=users.shape[0])
    return _history(items, users, rng)


def _one_taste(seed: int = 0) -> InteractionTable:
    """Everyone draws from one long-tailed popularity: nothing personal to learn."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, N_USERS + 1), 10)
    weights = 1.0 / np.arange(1, N_ITEMS + 1) ** 1.1
    items = 1 + rng.choice(N_ITEMS, size=users.shape[0], p=weights / weights.sum())
    return _history(items, users, rng)


RESUME_IDS = np.arange(1, N_ITEMS + 1, dtype=np.int64)


def test_personal_tastes_give_the_affinity_weight() -> None:
    index = train_collaborative(_communities(), RESUME_IDS, NOW)
    assert index.affinity_ratio >= 1.0
    assert index.affinity_scale == index.affinity_ratio / DEFAULT_AFFINITY_RATIO


def test_one_shared_taste_leaves_the_ranking_to_the_prior() -> None:
    index = train_collaborative(_one_taste(), RESUME_IDS, NOW)
    assert index.affinity_ratio <= 0.125


def test_too_little_history_keeps_the_configured_ratio() -> None:
    rng = np.random.default_rng(0)
    few = _history(rng.integers(1, 20, size=40), np.arange(40) % 10 + 1, rng)
    index = train_collaborative(few, RESUME_IDS, NOW)
    assert index.affinity_ratio == DEFAULT_AFFINITY_RATIO
    assert index.affinity_scale == 1.0


def test_a_snapshot_saved_before_the_choice_reads_as_the_configured_ratio() -> None:
    index = train_collaborative(_communities(), RESUME_IDS, NOW)
    old = replace(index, settings=index.settings[:4])
    assert old.affinity_ratio == DEFAULT_AFFINITY_RATIO and old.affinity_scale == 1.0


def test_ties_go_to_the_smallest_ratio() -> None:
    """Factors that carry nothing (zeros) score every ratio alike: the prior alone wins."""
    rng = np.random.default_rng(1)
    users, items = np.repeat(np.arange(40), 6), rng.integers(0, 60, size=240)
    early = np.tile([True, True, True, True, False, False], 40)
    pairs = validation_pairs(users, items, early, ~early, 60)
    choice = choose_affinity_ratio(
        rng.random(60), np.zeros((40, 4), np.float32), np.zeros((60, 4), np.float32), pairs
    )
    assert choice.ratio == 0.0
    assert set(choice.scores) == set(AFFINITY_RATIO_GRID) and choice.users > 0


def test_the_served_affinity_carries_the_chosen_scale() -> None:
    base = random_source(0, n_resumes=N_ITEMS, n_users=N_USERS, n_creators=100)
    source = replace(base, interactions=_communities())
    snapshot = build_snapshot(source, built_at=NOW)
    ids = np.asarray(snapshot.resumes.id)
    profile = TasteProfile(ids[:3], np.ones(3))
    user = user_context(snapshot, 10_000_000, profile)
    scaled = collaborative_affinity(snapshot, user)
    assert scaled is not None
    assert np.isclose(scaled.max(), snapshot.collab.affinity_scale)
    halved = replace(
        snapshot,
        collab=replace(snapshot.collab, settings=np.r_[snapshot.collab.settings[:4], 0.25]),
    )
    again = collaborative_affinity(halved, user)
    assert again is not None and np.isclose(again.max(), 0.5)
