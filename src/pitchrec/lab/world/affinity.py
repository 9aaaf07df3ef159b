"""The hidden behaviour model: which resumes each user interacts with.

A user u picks resumes by a Gumbel top-k draw (a Plackett-Luce choice without
replacement) over a candidate set, with utility

    taste   * sum(taste_u[s] for s in skills_r) / sqrt(|skills_r|)
  + city    * [city of r's owner == u's preferred city]
  + social  * social_u * [u follows r's owner]
  + quality * quality_r
  + recency * exp(-age_r / 120 days)

(coefficients :data:`COEFFICIENTS`, also written to the ground truth). Candidates are 256
per user: random visible resumes, resumes from the preferred city, resumes holding the
user's strongest skill and resumes of the people the user follows, so the cost is linear
in the number of active users whatever the catalogue size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world import vocabulary as vocab
from pitchrec.lab.world.catalogue import MAX_SKILLS, Resumes
from pitchrec.lab.world.common import (
    DAY,
    Bools,
    Floats,
    Ints,
    csr_from_groups,
    sample_from_groups,
)
from pitchrec.lab.world.people import Connections, Users

COEFFICIENTS: dict[str, float] = {
    "taste": 8.0,
    "city": 1.0,
    "social": 4.0,
    "quality": 1.5,
    "recency": 0.8,
}
RECENCY_DAYS = 120.0
MAX_EVENTS_PER_USER = 120
_POOLS = (("uniform", 128), ("city", 48), ("skill", 48), ("ties", 32))
N_SKILLS = len(vocab.SKILLS)


@dataclass
class Picks:
    """One row per chosen (user, resume), best first within each user."""

    user: Ints
    resume: Ints
    rank_frac: Floats  # 0 for the user's favourite pick, 1 for the last one
    utility: Floats


def top_skill(users: Users) -> Ints:
    """Each user's strongest taste skill (every user has at least one)."""
    rows = np.repeat(np.arange(users.n), np.diff(users.taste_indptr))
    best = np.maximum.reduceat(users.taste_weights, users.taste_indptr[:-1])
    at_best = np.flatnonzero(users.taste_weights == best[rows])
    _, first = np.unique(rows[at_best], return_index=True)
    return users.taste_indices[at_best[first]]


@dataclass(frozen=True)
class _Pool:
    """Candidate pool: for each group g, members ``members[ptr[g]:ptr[g+1]]``."""

    size: int
    ptr: Ints
    members: Ints


@dataclass(frozen=True)
class _Index:
    """What the per-batch candidate draws and utilities need, computed once."""

    visible: Ints
    place: Ints  # place of each resume's owner
    city: _Pool  # visible resumes by owner's place
    skill: _Pool  # visible resumes by skill
    ties: _Pool  # visible resumes of followed users, by follower
    edge_keys: Ints  # follower * n_users + followed, sorted
    n_skills: Ints  # skills per resume, at least 1
    skills_pad: Ints  # resume skills, N_SKILLS for padding
    age_factor: Floats
    favourite: Ints  # each user's strongest taste skill


def _skill_pool(resumes: Resumes, visible: Ints) -> _Pool:
    skill_rows = np.repeat(visible, MAX_SKILLS)
    flat = resumes.skills[visible].ravel()
    has = flat >= 0
    skill_ptr, skill_order = csr_from_groups(flat[has], N_SKILLS)
    return _Pool(_POOLS[2][1], skill_ptr, skill_rows[has][skill_order])


def _ties_pool(users: Users, resumes: Resumes, ties: Connections, visible: Ints) -> _Pool:
    """Resumes of followed users: (follower, resume) pairs grouped by follower."""
    by_owner_ptr, by_owner = csr_from_groups(resumes.owner[visible], users.n)
    per = by_owner_ptr[ties.accepted_to + 1] - by_owner_ptr[ties.accepted_to]
    tie_user = np.repeat(ties.accepted_from, per)
    start = np.repeat(by_owner_ptr[ties.accepted_to], per)
    offs = np.arange(len(tie_user)) - np.repeat(np.cumsum(per) - per, per)
    tie_resume = visible[by_owner[start + offs]]
    tie_ptr, tie_order = csr_from_groups(tie_user, users.n)
    return _Pool(_POOLS[3][1], tie_ptr, tie_resume[tie_order])


def _build_index(users: Users, resumes: Resumes, ties: Connections, visible: Ints) -> _Index:
    place = users.place[resumes.owner]
    city_ptr, city_order = csr_from_groups(place[visible], len(vocab.PLACES))
    skills = resumes.skills
    return _Index(
        visible=visible,
        place=place,
        city=_Pool(_POOLS[1][1], city_ptr, visible[city_order]),
        skill=_skill_pool(resumes, visible),
        ties=_ties_pool(users, resumes, ties, visible),
        edge_keys=np.unique(ties.accepted_from * users.n + ties.accepted_to),
        n_skills=np.maximum((skills >= 0).sum(1), 1),
        skills_pad=np.where(skills >= 0, skills, N_SKILLS),
        age_factor=np.exp(-resumes.age / (RECENCY_DAYS * DAY)),
        favourite=top_skill(users),
    )


def pick_resumes(
    rng: np.random.Generator, users: Users, resumes: Resumes, ties: Connections, n_events: int
) -> Picks:
    n_per_user = rng.multinomial(n_events, users.activity / users.activity.sum())
    n_per_user = np.minimum(n_per_user, MAX_EVENTS_PER_USER)
    active = np.flatnonzero(n_per_user > 0)
    visible = np.flatnonzero(resumes.visible)
    if len(visible) == 0 or len(active) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Picks(empty, empty, empty.astype(np.float64), empty.astype(np.float64))
    index = _build_index(users, resumes, ties, visible)
    batches = [
        _pick_batch(rng, _Batch(users, resumes, index, active[lo : lo + 2048]), n_per_user)
        for lo in range(0, len(active), 2048)
    ]
    return Picks(
        np.concatenate([b.user for b in batches]),
        np.concatenate([b.resume for b in batches]),
        np.concatenate([b.rank_frac for b in batches]).astype(np.float64),
        np.concatenate([b.utility for b in batches]),
    )


@dataclass(frozen=True)
class _Batch:
    """One batch of active users ``us`` and what their draws read."""

    users: Users
    resumes: Resumes
    index: _Index
    us: Ints


def _candidates(rng: np.random.Generator, batch: _Batch) -> tuple[Ints, Bools]:
    """Sorted candidates [b, 256] of each user of the batch and the duplicate mask."""
    index, us = batch.index, batch.us
    visible, b = index.visible, len(us)
    cands = [visible[rng.integers(0, len(visible), (b, _POOLS[0][1]))]]
    for pool, groups in (
        (index.city, batch.users.pref_place[us]),
        (index.skill, index.favourite[us]),
        (index.ties, us),
    ):
        got, ok = sample_from_groups(rng, pool.ptr, pool.members, groups, pool.size)
        fallback = visible[rng.integers(0, len(visible), (b, pool.size))]
        cands.append(np.where(ok[:, None], got, fallback))
    cand = np.sort(np.concatenate(cands, 1), 1)
    dup = np.zeros(cand.shape, dtype=bool)
    dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
    return cand, dup


def _taste_affinity(batch: _Batch, cand: Ints) -> Floats:
    """Each candidate's taste match: summed taste weights of its skills / sqrt(|skills|)."""
    users, index, us = batch.users, batch.index, batch.us
    b = len(us)
    taste = np.zeros((b, N_SKILLS + 1))
    rows = np.repeat(np.arange(b), np.diff(users.taste_indptr)[us])
    sel = np.concatenate(
        [np.arange(users.taste_indptr[u], users.taste_indptr[u + 1]) for u in us.tolist()]
    )
    taste[rows, users.taste_indices[sel]] = users.taste_weights[sel]
    flat = index.skills_pad[cand] + (np.arange(b) * (N_SKILLS + 1))[:, None, None]
    aff: Floats = taste.ravel()[flat].sum(2) / np.sqrt(index.n_skills[cand])
    return aff


def _utilities(batch: _Batch, cand: Ints) -> Floats:
    users, resumes, index, us = batch.users, batch.resumes, batch.index, batch.us
    edge_keys = index.edge_keys
    keys_q = us[:, None] * users.n + resumes.owner[cand]
    pos = np.minimum(np.searchsorted(edge_keys, keys_q), max(len(edge_keys) - 1, 0))
    follows = edge_keys[pos] == keys_q if len(edge_keys) else np.zeros(cand.shape, bool)
    util: Floats = (
        COEFFICIENTS["taste"] * _taste_affinity(batch, cand)
        + COEFFICIENTS["city"] * (index.place[cand] == users.pref_place[us][:, None])
        + COEFFICIENTS["social"] * users.social[us][:, None] * follows
        + COEFFICIENTS["quality"] * resumes.quality[cand]
        + COEFFICIENTS["recency"] * index.age_factor[cand]
    )
    return util


def _pick_batch(rng: np.random.Generator, batch: _Batch, n_per_user: Ints) -> Picks:
    """Gumbel top-k over each user's candidates: ``n_per_user`` picks, best first."""
    us = batch.us
    cand, dup = _candidates(rng, batch)
    util = _utilities(batch, cand)
    keys = util + rng.gumbel(size=util.shape)
    keys[dup | (batch.resumes.owner[cand] == us[:, None])] = -np.inf
    n_u = n_per_user[us][:, None]
    k = int(n_u.max())
    if k < keys.shape[1]:
        top = np.argpartition(-keys, k - 1, 1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), 1), 1)
    rank = np.arange(order.shape[1])[None, :]
    take = (rank < n_u) & np.isfinite(np.take_along_axis(keys, order, 1))
    bi, ri = np.nonzero(take)
    chosen = order[bi, ri]
    return Picks(us[bi], cand[bi, chosen], ri / np.maximum(n_u[bi, 0] - 1, 1), util[bi, chosen])
