"""How much can the learned part of a pool score move the ranking?

The engine ranks a pool by ``policy score + fixed heuristic terms`` (spec 2.6). This module
measures, for sample users and the whole catalogue, the spread (5th to 95th percentile) of:

* ``heuristic``: the fixed terms of each pool, *copied* from :mod:`pitchrec.ranking.pools`
  for this measurement only (VMP: 2.2 engagement + 1.6 popularity + 1.8 quality + 1.4 new;
  AU: 3.5 skill similarity + 3.0 extended match + 1.1 popularity + 1.4 quality
  + 0.9 temporal + 0.9 rarity / 100 + 0.9 new; NU, over new items: 2.5 temporal
  + 1.8 attribute diversity + 1.4 rarity / 100 + 0.8 boost, noise excluded);
* ``policy``: the serving policy's score (UCB: learned mean + exploration + bonus);
* ``learned``: the learned mean x·theta alone (LinUCB only).

A policy term whose spread is small against the heuristic spread cannot reorder a pool.

It also holds what the ceiling arms score with: :func:`taste_affinity` (taste-engine),
:func:`fit_linear_ceiling` (linear-engine) and :func:`shared_engagement` (shared-engine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.lab.simulation.scorers import ScaledPolicy
from pitchrec.lab.world.sim_world import SimWorld
from pitchrec.lab.world.user_model import UserModel
from pitchrec.policies.base import Policy
from pitchrec.policies.linucb import LinUCB
from pitchrec.ranking import features as f
from pitchrec.ranking.collaborative import blend_columns
from pitchrec.ranking.user_context import user_context

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def _spread(values: Floats) -> float:
    if values.shape[0] < 2:
        return 0.0
    low, high = np.percentile(values, [5.0, 95.0])
    return float(high - low)


def _heuristics(world: SimWorld, matrix: Floats, age: Any) -> dict[str, tuple[Floats, Any]]:
    """Per pool: (heuristic scores (n,), the rows the pool draws from)."""
    resumes = world.snapshot.resumes
    popularity = np.asarray(resumes.popularity)
    quality = np.asarray(resumes.quality)
    rarity = np.asarray(resumes.rarity) / 100.0
    vmp = 2.2 * np.asarray(resumes.engagement) + 1.6 * popularity + 1.8 * quality + 1.4 * age.is_new
    au = (
        3.5 * matrix[:, f.SKILL_SIMILARITY]
        + 3.0 * matrix[:, f.EXTENDED_MATCH]
        + 1.1 * popularity
        + 1.4 * quality
        + 0.9 * age.temporal
        + 0.9 * rarity
        + 0.9 * age.is_new
    )
    nu = (
        2.5 * age.temporal
        + 1.8 * np.asarray(resumes.attribute_diversity)
        + 1.4 * rarity
        + 0.8 * age.boost
    )
    every = np.ones(len(resumes), dtype=np.bool_)
    return {"VMP": (vmp, every), "AU": (au, every), "NU": (nu, np.asarray(age.is_new))}


def _linucb(policy: Policy) -> tuple[LinUCB | None, float]:
    if isinstance(policy, ScaledPolicy):
        inner, weight = _linucb(policy.inner)
        return inner, weight * policy.weight
    return (policy, 1.0) if isinstance(policy, LinUCB) else (None, 1.0)


def _contexts(world: SimWorld, user_row: int, now: float) -> tuple[Floats, Any]:
    """The 18-feature contexts (n, 18) of every catalogue resume for truth user row
    ``user_row``, as a pool scoring the whole catalogue builds them (columns 14-16 relative
    to the catalogue; the noise column 17 at its mean), and the request's age scores."""
    resumes = world.snapshot.resumes
    user = user_context(world.snapshot, int(world.user_id[user_row]))
    catalogue = f.catalogue_features(resumes, user, now)
    matrix = catalogue.matrix
    for j, counts in enumerate((resumes.rating_count, resumes.like_count, resumes.exhibited_count)):
        values = np.asarray(counts, dtype=np.float64)
        matrix[:, f.RATING_COUNT + j] = values / (values.max() + 1.0)
    matrix[:, f.NOISE] = f.NOISE_HIGH / 2.0
    return matrix, catalogue.age


def taste_affinity(world: SimWorld, user_row: int) -> Floats:
    """The world's true taste affinity (n,) of truth user ``user_row`` for every resume."""
    affinity: Floats = world.resume_skills @ world.taste(user_row)
    return affinity


def fit_linear_ceiling(
    model: UserModel, user_rows: Sequence[int], now: float, *, with_taste: bool = False
) -> tuple[Floats, float]:
    """Least-squares theta (18,) of the true engagement q on the contexts of every
    catalogue resume, pooled over ``user_rows``; with ``with_taste`` the true taste
    affinity is a 19th column. Returns (theta, R^2). An intercept is fitted and dropped
    (it cannot change a ranking)."""
    xs, qs = [], []
    for row in user_rows:
        matrix, _ = _contexts(model.world, int(row), now)
        if with_taste:
            matrix = np.column_stack([matrix, taste_affinity(model.world, int(row))])
        xs.append(matrix)
        qs.append(model.new_user(int(row), now).base_q)
    x, q = np.concatenate(xs), np.concatenate(qs)
    design = np.column_stack([x, np.ones(x.shape[0])])
    solution, *_ = np.linalg.lstsq(design, q, rcond=None)
    residual = q - design @ solution
    r2 = 1.0 - float(residual.var()) / max(float(q.var()), 1e-12)
    theta: Floats = np.asarray(solution[:-1], dtype=np.float64)
    return theta, r2


def score_decomposition(
    world: SimWorld, policies: Mapping[Pool, Policy], user_rows: Sequence[int], now: float
) -> dict[str, dict[str, float]]:
    """Mean over ``user_rows`` (truth rows) of the 5-95 % spreads, per pool (see module)."""
    ids = np.asarray(world.snapshot.resumes.id)
    rng = np.random.default_rng(0)
    sums: dict[str, dict[str, list[float]]] = {}
    for row in user_rows:
        matrix, age = _contexts(world, int(row), now)
        blended = None
        for pool, (heuristic, rows) in _heuristics(world, matrix, age).items():
            policy = policies.get(Pool(pool))
            if policy is None or not rows.any():
                continue
            x = matrix[rows]
            lin, _ = _linucb(policy)
            if lin is not None and lin.dimension == f.N_BLEND_FEATURES:
                if blended is None:  # the learned-blend columns 18-19
                    user = user_context(world.snapshot, int(world.user_id[int(row)]))
                    blended = np.column_stack([matrix, blend_columns(world.snapshot, user)])
                x = blended[rows]
            entry = sums.setdefault(pool, {})
            entry.setdefault("heuristic", []).append(_spread(heuristic[rows]))
            entry.setdefault("policy", []).append(_spread(policy.score(x, ids[rows], rng)))
            lin, weight = _linucb(policy)
            if lin is not None:
                entry.setdefault("learned", []).append(_spread(weight * (x @ lin.theta())))
    return {
        pool: {name: float(np.mean(values)) for name, values in entry.items()}
        for pool, entry in sums.items()
    }


#: Requests whose users' true engagement the shared-engine arm averages (a diagnostic:
#: enough for a stable mean, 2 s of utilities at scale 1).
SHARED_REQUESTS = 5_000


def shared_engagement(model: UserModel, user_rows: Ints, now: float) -> Floats:
    """(n,) the mean true engagement of every resume over the users of ``user_rows``
    (k,), each counted once per request (the best score that is the same for everyone),
    from the first :data:`SHARED_REQUESTS` requests."""
    rows, counts = np.unique(user_rows[:SHARED_REQUESTS], return_counts=True)
    total = np.zeros(model.world.n_resumes)
    for row, count in zip(rows.tolist(), counts.tolist(), strict=True):
        total += count * model.new_user(int(row), now).base_q
    mean: Floats = total / max(int(counts.sum()), 1)
    return mean
