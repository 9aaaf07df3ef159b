"""The simulator's world: the serving snapshot plus the hidden ground truth, aligned.

The snapshot is what the service sees (eligible resumes sorted by id, the social graph,
the users' history). The ground truth (:mod:`pitchrec.lab.world.truth`) is what
only the simulated users know: each user's latent skill taste, preferred city, social
weight and activity, and each resume's TRUE skills, latent quality and city. This module
joins the two on ids, once, into flat arrays indexed by snapshot resume row and by truth
user row, so the per-request kernels are pure index arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.snapshot import Snapshot
from pitchrec.sources.tables import ItemType

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class SimWorld:
    """Snapshot and ground truth joined. n = eligible resumes (snapshot rows), U = users,
    S = skills of the truth vocabulary.

    ``resume_skills``: (n, S) float64, row r is the indicator of r's true skills divided by
    sqrt(|skills_r|) (so ``resume_skills @ taste`` is the world's taste affinity);
    ``resume_quality`` (n,), ``resume_city`` (n,) int64 (truth city index),
    ``resume_creator`` (n,) owner user id, ``resume_created_at`` (n,) unix seconds.
    Users: ``user_id`` (U,) sorted, ``user_taste_indptr`` (U+1,), ``user_taste_indices``
    (nnz,), ``user_taste_weights`` (nnz,), ``user_city`` (U,) truth city index,
    ``user_social_weight`` (U,), ``user_activity`` (U,). ``coefficients`` maps the
    affinity names (taste, city, social, quality, recency) to their utility weights.
    ``now`` is the world's generation instant (unix seconds).

    Collaborative and popular worlds (truth format_version 2) also give ``user_factors`` (U, K),
    ``resume_factors`` (n, K) and ``resume_popularity`` (n,), and their ``coefficients``
    add ``collab`` and ``popularity``; for a skills world the three are None.
    """

    snapshot: Snapshot
    resume_skills: Floats
    resume_quality: Floats
    resume_city: Ints
    resume_creator: Ints
    resume_created_at: Floats
    user_id: Ints
    user_taste_indptr: Ints
    user_taste_indices: Ints
    user_taste_weights: Floats
    user_city: Ints
    user_social_weight: Floats
    user_activity: Floats
    coefficients: Mapping[str, float]
    now: float
    user_factors: Floats | None = None
    resume_factors: Floats | None = None
    resume_popularity: Floats | None = None

    @property
    def n_resumes(self) -> int:
        return int(self.resume_quality.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_id.shape[0])

    def taste(self, user_row: int) -> Floats:
        """The dense taste vector (S,) of truth user row ``user_row`` (sums to 1)."""
        out = np.zeros(self.resume_skills.shape[1], dtype=np.float64)
        lo, hi = int(self.user_taste_indptr[user_row]), int(self.user_taste_indptr[user_row + 1])
        np.add.at(out, self.user_taste_indices[lo:hi], self.user_taste_weights[lo:hi])
        return out

    def following(self, user_id: int) -> Ints:
        """Sorted ids (f,) of the users ``user_id`` follows, from the snapshot's graph."""
        users = self.snapshot.users
        ids = np.asarray(users.social_users)
        i = int(np.searchsorted(ids, user_id))
        if i >= ids.shape[0] or int(ids[i]) != user_id:
            return np.zeros(0, dtype=np.int64)
        lo, hi = int(users.social.indptr[i]), int(users.social.indptr[i + 1])
        return np.asarray(users.social.indices[lo:hi], dtype=np.int64)

    def history(self, user_id: int) -> Ints:
        """Resume rows (k,) the snapshot's history says ``user_id`` already saw."""
        users = self.snapshot.users
        ids = np.asarray(users.history_users)
        i = int(np.searchsorted(ids, user_id))
        if i >= ids.shape[0] or int(ids[i]) != user_id:
            return np.zeros(0, dtype=np.int64)
        lo, hi = int(users.history.indptr[i]), int(users.history.indptr[i + 1])
        items: Ints = np.asarray(users.history.indices[lo:hi], dtype=np.int64)
        is_resume = np.asarray(users.history_item_type[lo:hi]) == ItemType.RESUME
        return self.rows_of(items[is_resume])

    def rows_of(self, resume_ids: Ints) -> Ints:
        """Snapshot rows of ``resume_ids`` (k,), dropping ids not in the catalogue."""
        ids = np.asarray(self.snapshot.resumes.id)
        if ids.shape[0] == 0 or resume_ids.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(ids, resume_ids), ids.shape[0] - 1)
        rows: Ints = pos[ids[pos] == resume_ids].astype(np.int64)
        return rows


def _parse_now(value: Any) -> float:
    stamp = datetime.fromisoformat(str(value).replace(" ", "T"))
    return stamp.replace(tzinfo=UTC).timestamp()


def world_from_truth(snapshot: Snapshot, truth: Mapping[str, NDArray[Any]]) -> SimWorld:
    """Join ``snapshot`` with the ground-truth arrays ``truth`` (the ``.npz`` keys).

    Raises ``ValueError`` when a catalogue resume is missing from the truth (the snapshot
    was built from another world).
    """
    resume_ids = np.asarray(snapshot.resumes.id, dtype=np.int64)
    truth_ids = np.asarray(truth["resume_id"], dtype=np.int64)
    order = np.argsort(truth_ids, kind="stable")
    pos = np.minimum(np.searchsorted(truth_ids[order], resume_ids), max(len(order) - 1, 0))
    if len(order) == 0 or not np.array_equal(truth_ids[order][pos], resume_ids):
        raise ValueError("the snapshot holds resumes the ground truth does not know")
    rows = order[pos]
    n_skills = int(np.asarray(truth["skill_vocabulary"]).shape[0])
    indptr = np.asarray(truth["resume_skill_indptr"], dtype=np.int64)
    indices = np.asarray(truth["resume_skill_indices"], dtype=np.int64)
    skills = np.zeros((resume_ids.shape[0], n_skills), dtype=np.float64)
    for out_row, row in enumerate(rows.tolist()):
        own = indices[indptr[row] : indptr[row + 1]]
        if own.shape[0]:
            skills[out_row, own] = 1.0 / np.sqrt(own.shape[0])
    cities = {str(c): i for i, c in enumerate(np.asarray(truth["city_vocabulary"]).tolist())}
    resume_city = np.asarray([cities.get(str(c), -1) for c in truth["resume_city"]])[rows]
    user_city = np.asarray([cities.get(str(c), -2) for c in truth["user_city"]], dtype=np.int64)
    user_ids = np.asarray(truth["user_id"], dtype=np.int64)
    if np.any(np.diff(user_ids) <= 0):
        raise ValueError("ground truth user ids must be sorted and unique")
    names = [str(n) for n in np.asarray(truth["affinity_names"]).tolist()]
    coefficients = dict(
        zip(names, np.asarray(truth["affinity_coefficients"]).tolist(), strict=True)
    )
    latent = _latent(truth, rows)
    return SimWorld(
        snapshot=snapshot,
        resume_skills=skills,
        resume_quality=np.asarray(truth["resume_quality"], dtype=np.float64)[rows],
        resume_city=resume_city.astype(np.int64),
        resume_creator=np.asarray(snapshot.resumes.creator, dtype=np.int64),
        resume_created_at=np.asarray(snapshot.resumes.created_at, dtype=np.float64),
        user_id=user_ids,
        user_taste_indptr=np.asarray(truth["user_taste_indptr"], dtype=np.int64),
        user_taste_indices=np.asarray(truth["user_taste_indices"], dtype=np.int64),
        user_taste_weights=np.asarray(truth["user_taste_weights"], dtype=np.float64),
        user_city=user_city,
        user_social_weight=np.asarray(truth["user_social_weight"], dtype=np.float64),
        user_activity=np.asarray(truth["user_activity"], dtype=np.float64),
        coefficients={k: float(v) for k, v in coefficients.items()},
        now=_parse_now(np.asarray(truth["now"])),
        user_factors=latent[0],
        resume_factors=latent[1],
        resume_popularity=latent[2],
    )


def _latent(
    truth: Mapping[str, NDArray[Any]], rows: Ints
) -> tuple[Floats | None, Floats | None, Floats | None]:
    """(user factors, resume factors of the snapshot rows, their popularity) of a
    collaborative truth; Nones for a skills-world truth."""
    if "user_factors" not in truth:
        return None, None, None
    return (
        np.asarray(truth["user_factors"], dtype=np.float64),
        np.asarray(truth["resume_factors"], dtype=np.float64)[rows],
        np.asarray(truth["resume_popularity"], dtype=np.float64)[rows],
    )


def load_truth(path: Path) -> dict[str, NDArray[Any]]:
    """The ground-truth arrays of ``path`` (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: np.asarray(data[key]) for key in data.files}


def load_world(database_url: str, truth_path: Path, blacklist_path: Path | None = None) -> SimWorld:
    """Build the snapshot from ``database_url`` (as the service does) and join the truth."""
    from pitchrec.index.build import snapshot_from_database

    snapshot = snapshot_from_database(database_url, blacklist_path=blacklist_path)
    return world_from_truth(snapshot, load_truth(truth_path))
