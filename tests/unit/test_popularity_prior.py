"""The popularity prior's half-life is chosen on the history it is built from: short where
attention moves fast, long where the same items stay liked, the legacy horizon when the
history is too small to tell."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from factories import DAY, NOW, random_source
from pitchrec.index.build import build_snapshot
from pitchrec.index.snapshot import load, save
from pitchrec.models.popularity import (
    DEFAULT_HALF_LIFE_DAYS,
    ValidationPairs,
    choose_half_life,
    decayed_counts,
    list_ndcg,
)
from pitchrec.sources.tables import InteractionTable

N_ITEMS = 200
N_USERS = 600


def _history(fast: bool, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(users, columns, created_at, weights) over 100 days. ``fast``: each item is
    liked in the days after its creation (exponential, mean 4 days; one new item a
    half-day); otherwise the same 10 favourites draw most interactions all along."""
    rng = np.random.default_rng(seed)
    m = 6_000
    users = rng.integers(0, N_USERS, size=m)
    if fast:
        born = np.arange(N_ITEMS) * 0.5 * DAY  # item i created at day i / 2
        columns = rng.integers(0, N_ITEMS, size=m)
        created = NOW - 100 * DAY + born[columns] + rng.exponential(4 * DAY, size=m)
        created = np.minimum(created, NOW)
    else:
        favourite = rng.random(m) < 0.7
        columns = np.where(favourite, rng.integers(0, 10, size=m), rng.integers(0, N_ITEMS, m))
        created = NOW - rng.uniform(0, 100 * DAY, size=m)
    return users.astype(np.int64), columns.astype(np.int64), created, np.ones(m)


def test_fast_moving_attention_gets_a_short_half_life() -> None:
    choice = choose_half_life(*_history(fast=True), N_ITEMS)
    assert choice.half_life_days <= 3.0
    assert choice.scores[choice.half_life_days] > choice.scores[math.inf] + 0.05


def test_stable_favourites_get_a_long_half_life() -> None:
    choice = choose_half_life(*_history(fast=False), N_ITEMS)
    assert choice.half_life_days >= 30.0


def test_too_little_history_keeps_the_default() -> None:
    users, columns, created, weights = (a[:40] for a in _history(fast=True))
    choice = choose_half_life(users, columns, created, weights, N_ITEMS)
    assert choice.half_life_days == DEFAULT_HALF_LIFE_DAYS and choice.scores == {}
    empty = np.zeros(0, dtype=np.int64)
    assert choose_half_life(empty, empty, np.zeros(0), np.zeros(0), 5).scores == {}


def test_list_ndcg_removes_what_each_user_saw() -> None:
    scores = np.asarray([5.0, 4.0, 3.0, 2.0])
    # User 0 saw item 0, so item 1 is first in their list; user 1 gets item 2 third.
    pairs = ValidationPairs(
        before_user=np.asarray([0]),
        before_item=np.asarray([0]),
        after_user=np.asarray([0, 1]),
        after_item=np.asarray([1, 2]),
        n_users=2,
    )
    value = list_ndcg(scores, pairs, cutoff=3)
    assert math.isclose(value, (1.0 + 1.0 / math.log2(4.0)) / 2.0)


def test_decay_halves_the_weight_every_half_life() -> None:
    counts = decayed_counts(
        np.asarray([0, 1]), np.asarray([NOW - 10 * DAY, NOW]), np.ones(2), 3, NOW, 10.0
    )
    assert np.allclose(counts, [0.5, 1.0, 0.0])
    assert np.allclose(
        decayed_counts(np.asarray([0]), np.asarray([0.0]), np.ones(1), 1, NOW, math.inf), [1.0]
    )


def test_the_snapshot_keeps_the_chosen_prior(tmp_path) -> None:  # type: ignore[no-untyped-def]
    users, columns, created, _ = _history(fast=True)
    base = random_source(3, n_resumes=N_ITEMS, n_users=N_USERS, n_creators=150)
    resume_ids = np.sort(np.asarray(base.resumes.id, dtype=np.int64))
    interactions = InteractionTable(
        user_id=users + 1,
        item_id=resume_ids[columns],
        item_type=np.zeros(users.shape[0], dtype=np.uint8),
        kind=np.ones(users.shape[0], dtype=np.uint8),  # saves
        rating=np.zeros(users.shape[0], dtype=np.float32),
        created_at=created,
    )
    snapshot = build_snapshot(replace(base, interactions=interactions), built_at=NOW)
    collab = snapshot.collab
    assert collab.prior_half_life_days <= 3.0
    # The prior is the decayed count with that half-life: the newest items lead it.
    newest = np.argsort(-np.asarray(collab.interactions))[:5]
    assert (np.asarray(snapshot.resumes.id)[newest] >= resume_ids[N_ITEMS - 20]).all()
    save(snapshot, tmp_path / "snap")
    assert load(tmp_path / "snap").collab.prior_half_life_days == collab.prior_half_life_days
