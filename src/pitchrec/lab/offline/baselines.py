"""Plain top-k baselines: random, popularity, item-kNN and ALS matrix factorisation.

They rank every catalogue resume for a user and keep the best k (no pools, no slot
pattern, no creator window), so beside the engine's feeds they show what the feed
constraints cost. They train on what the engine's snapshot was built from: the
interactions the loaders read as of the cut (:class:`~pitchrec.lab.offline.split.Split`).
Users without training history get the popularity list (the usual cold-start fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from pitchrec.lab.offline.split import Split
from pitchrec.sources.tables import ItemType

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
SECONDS_PER_DAY = 86_400.0
#: Days for a training interaction's weight to halve in the recency-weighted popularity:
#: the legacy's own recency scale for "new" content (spec 2.3, 45 days).
POPULARITY_HALF_LIFE_DAYS = 45.0
#: ALS settings: implicit's defaults (factors 100 is its default; 64 is plenty for
#: catalogues of thousands and trains in about a second at scale 1), confidence
#: 1 + ALS_ALPHA * weight as in Hu, Koren and Volinsky (2008), whose alpha was 40.
ALS_FACTORS = 64
ALS_ITERATIONS = 15
ALS_REGULARIZATION = 0.05
ALS_ALPHA = 40.0


@dataclass(frozen=True)
class TrainMatrix:
    """The training interactions as a (users x catalogue resumes) matrix.

    ``users`` (u,) sorted user ids; ``items`` (n,) resume ids in snapshot row order;
    ``counts`` (u, n) CSR, interactions per cell; ``ages`` (nnz,) not kept: the
    recency-weighted popularity is computed at build time into ``recent`` (n,).
    """

    users: Ints
    items: Ints
    counts: sp.csr_matrix
    popularity: Floats  # (n,) training interactions per resume
    recent: Floats  # (n,) the same, each weighted 0.5 ** (age / half-life)
    #: (n,) the snapshot's popularity prior: kind-weighted, decayed with the half-life
    #: the training history chose (:mod:`pitchrec.models.popularity`).
    tuned: Floats

    def row_of(self, user_id: int) -> int:
        """The user's row, or -1 without training history."""
        i = int(np.searchsorted(self.users, user_id))
        return i if i < self.users.shape[0] and int(self.users[i]) == user_id else -1


def train_matrix(split: Split) -> TrainMatrix:
    """Build the matrix from ``split.source.interactions`` (resumes of the catalogue)."""
    items = np.asarray(split.snapshot.resumes.id, dtype=np.int64)
    interactions = split.source.interactions
    order = np.argsort(items)
    is_resume = interactions.item_type == ItemType.RESUME
    position = np.searchsorted(items[order], interactions.item_id)
    position = np.minimum(position, max(items.shape[0] - 1, 0))
    known = is_resume & (items[order][position] == interactions.item_id)
    columns = order[position[known]]
    user_ids = interactions.user_id[known]
    users, rows = np.unique(user_ids, return_inverse=True)
    shape = (users.shape[0], items.shape[0])
    data = np.ones(columns.shape[0], dtype=np.float32)
    counts = sp.csr_matrix((data, (rows, columns)), shape=shape, dtype=np.float32)
    counts.sum_duplicates()
    age_days = (split.source.loaded_at - interactions.created_at[known]) / SECONDS_PER_DAY
    decay = 0.5 ** (np.maximum(age_days, 0.0) / POPULARITY_HALF_LIFE_DAYS)
    return TrainMatrix(
        users=users.astype(np.int64),
        items=items,
        counts=counts,
        popularity=np.bincount(columns, minlength=items.shape[0]).astype(np.float64),
        recent=np.bincount(columns, weights=decay, minlength=items.shape[0]).astype(np.float64),
        tuned=np.asarray(split.snapshot.collab.interactions, dtype=np.float64),
    )


class Baseline(Protocol):
    """Scores every catalogue resume for one user: (n,), higher is better."""

    name: str

    def scores(self, user_id: int, rng: np.random.Generator) -> Floats: ...


@dataclass
class RandomBaseline:
    train: TrainMatrix
    name: str = "random"

    def scores(self, user_id: int, rng: np.random.Generator) -> Floats:
        values: Floats = rng.random(size=int(self.train.items.shape[0]))
        return values


@dataclass
class PopularityBaseline:
    """Most interacted with in training; ``recency``: each interaction weighted by its
    age (half-life :data:`POPULARITY_HALF_LIFE_DAYS`); ``tuned``: the snapshot's prior
    (the half-life chosen on the training history, interactions weighted by kind)."""

    train: TrainMatrix
    recency: bool = False
    name: str = "popularity"
    tuned: bool = False

    def scores(self, user_id: int, rng: np.random.Generator) -> Floats:
        if self.tuned:
            # Decayed weights can be tiny (2-day half-life, 90 days: 3e-14), so ties are
            # broken multiplicatively, and never-touched resumes go last in random order.
            prior, jitter = self.train.tuned, rng.random(self.train.tuned.shape[0])
            tuned: Floats = np.where(prior > 0, prior * (1.0 + 1e-9 * jitter), jitter - 2.0)
            return tuned
        base = self.train.recent if self.recency else self.train.popularity
        # Ties broken at random, below one interaction, so equal counts do not always
        # favour the lowest rows.
        jittered: Floats = base + 0.5 * rng.random(base.shape[0])
        return jittered


@dataclass
class ItemKnnBaseline:
    """Item-based kNN: cosine similarity of resumes over the users who interacted with
    both (binary co-occurrence); a user's score for a resume is its summed similarity to
    the user's training resumes."""

    train: TrainMatrix
    name: str = "item-knn"

    def __post_init__(self) -> None:
        binary = self.train.counts.copy()
        binary.data[:] = 1.0
        self._binary = binary.tocsr()
        co = (binary.T @ binary).tocsr().astype(np.float64)
        norms = np.sqrt(np.maximum(co.diagonal(), 1e-12))
        scale = sp.diags(1.0 / norms)
        similarity = (scale @ co @ scale).tolil()
        similarity.setdiag(0.0)
        self._similarity = similarity.tocsr()
        self._fallback = PopularityBaseline(self.train)

    def scores(self, user_id: int, rng: np.random.Generator) -> Floats:
        row = self.train.row_of(user_id)
        fallback = self._fallback.scores(user_id, rng)
        if row < 0:
            return fallback
        personal = np.asarray((self._binary[row] @ self._similarity).todense()).ravel()
        # Popularity only orders what similarity leaves tied (it is below 1e-3 of a unit).
        return personal + 1e-6 * fallback


@dataclass
class AlsBaseline:
    """Implicit-feedback matrix factorisation (the ``implicit`` library's ALS, Hu,
    Koren and Volinsky 2008) on the interaction counts, confidence 1 + alpha * count."""

    train: TrainMatrix
    seed: int = 0
    name: str = "als"

    def __post_init__(self) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        confidence = self.train.counts.copy()
        confidence.data = 1.0 + ALS_ALPHA * confidence.data
        with threadpool_limits(1, "blas"):  # implicit asks for one BLAS thread
            model = AlternatingLeastSquares(
                factors=ALS_FACTORS,
                regularization=ALS_REGULARIZATION,
                iterations=ALS_ITERATIONS,
                random_state=self.seed,
            )
            model.fit(confidence.tocsr(), show_progress=False)
        self._users = np.asarray(model.user_factors, dtype=np.float64)
        self._items = np.asarray(model.item_factors, dtype=np.float64)
        self._fallback = PopularityBaseline(self.train)

    def scores(self, user_id: int, rng: np.random.Generator) -> Floats:
        row = self.train.row_of(user_id)
        if row < 0:
            return self._fallback.scores(user_id, rng)
        personal: Floats = self._items @ self._users[row]
        return personal


BASELINES = ("random", "popularity", "popularity-recent", "popularity-tuned", "item-knn", "als")


def make_baseline(name: str, train: TrainMatrix, seed: int = 0) -> Baseline:
    """The baseline called ``name`` (one of :data:`BASELINES`)."""
    if name == "random":
        return RandomBaseline(train)
    if name == "popularity":
        return PopularityBaseline(train)
    if name == "popularity-recent":
        return PopularityBaseline(train, recency=True, name=name)
    if name == "popularity-tuned":
        return PopularityBaseline(train, tuned=True, name=name)
    if name == "item-knn":
        return ItemKnnBaseline(train)
    if name == "als":
        return AlsBaseline(train, seed=seed)
    raise ValueError(f"unknown baseline {name!r}")


def top_k(scores: Floats, excluded: NDArray[np.bool_], k: int) -> Ints:
    """(<= k,) rows of the best ``scores`` (n,) not ``excluded`` (n,), best first."""
    masked = np.where(excluded, -np.inf, scores)
    available = int(np.isfinite(masked).sum())
    k = min(k, available)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-masked, k - 1)[:k]
    return part[np.argsort(-masked[part], kind="stable")].astype(np.int64)
