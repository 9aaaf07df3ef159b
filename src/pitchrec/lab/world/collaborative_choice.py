"""The choice kernel of the latent-factor worlds: who picks which resumes. Each active
user's picks are a Gumbel top-k draw over the visible catalogue with key
``U(u, r) + log exposure(u, r) + Gumbel`` (see :mod:`.collaborative`), computed for
BATCH users at a time over MAX_COLUMNS uniformly drawn catalogue columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world.affinity import (
    MAX_EVENTS_PER_USER,
    N_SKILLS,
    Picks,
    _build_index,
    _Index,
)
from pitchrec.lab.world.catalogue import Resumes
from pitchrec.lab.world.collaborative_events import ATTENTION_DAYS, delay_bounds
from pitchrec.lab.world.collaborative_latent import Latent
from pitchrec.lab.world.common import DAY, Floats, Ints
from pitchrec.lab.world.people import Connections, Users

#: Users per batch of the choice kernel, and the catalogue columns one batch scores: a
#: uniform random subset per batch (a Plackett-Luce draw restricted to a uniform subset
#: keeps every relative preference), so the cost is linear in the active users whatever
#: the catalogue size. Design choice, measured: 1,024 columns keep the scale-1 kernel near
#: 10 s on two cores and leave 8x more candidates than the most events of one user.
BATCH = 1024
MAX_COLUMNS = 1024


@dataclass(frozen=True)
class _Kernel:
    """What every batch reads, computed once."""

    users: Users
    resumes: Resumes
    latent: Latent
    index: _Index
    skill_matrix: Floats  # (N_SKILLS, V): 1/sqrt(|skills_r|) where r holds the skill
    col_of: Ints  # (R,) column of each resume in ``index.visible``, -1 when not visible
    static: Floats  # (V,) utility terms that do not depend on the user


def _kernel(users: Users, resumes: Resumes, ties: Connections, latent: Latent) -> _Kernel:
    """The batch-independent inputs over the V visible resumes."""
    visible = np.flatnonzero(resumes.visible)
    index = _build_index(users, resumes, ties, visible)
    pad = index.skills_pad[visible]
    matrix = np.zeros((N_SKILLS + 1, len(visible)))
    cols = np.broadcast_to(np.arange(len(visible))[:, None], pad.shape)
    matrix[pad, cols] = 1.0 / np.sqrt(index.n_skills[visible])[:, None]
    col_of = np.full(resumes.n, -1, dtype=np.int64)
    col_of[visible] = np.arange(len(visible))
    c = latent.model.coefficients
    static = (
        c["quality"] * resumes.quality[visible]
        + c["recency"] * index.age_factor[visible]
        + c["popularity"] * latent.popularity[visible]
    )
    return _Kernel(users, resumes, latent, index, matrix[:N_SKILLS], col_of, static)


def _ranges(starts: Ints, counts: Ints) -> tuple[Ints, Ints]:
    """(row, position) of every element of the ranges ``starts[i] + [0, counts[i])``."""
    rows = np.repeat(np.arange(len(starts)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(starts, counts) + offsets


def batch_utilities(kernel: _Kernel, us: Ints, cols: Ints) -> Floats:
    """U(u, r) (b, c) of the batch users ``us`` over the visible resume columns ``cols``."""
    users, index, c = kernel.users, kernel.index, kernel.latent.model.coefficients
    b, visible = len(us), index.visible[cols]
    taste = np.zeros((b, N_SKILLS))
    rows, pos = _ranges(users.taste_indptr[us], np.diff(users.taste_indptr)[us])
    taste[rows, users.taste_indices[pos]] = users.taste_weights[pos]
    follows = np.zeros((b, len(index.visible) + 1))  # last column: not visible
    ptr = index.ties.ptr
    rows, pos = _ranges(ptr[us], ptr[us + 1] - ptr[us])
    follows[rows, kernel.col_of[index.ties.members[pos]]] = 1.0
    util: Floats = (
        c["collab"] * (kernel.latent.user_factors[us] @ kernel.latent.resume_factors[visible].T)
        + c["taste"] * (taste @ kernel.skill_matrix[:, cols])
        + (c["social"] * users.social[us])[:, None] * follows[:, cols]
        + kernel.static[cols][None, :]
    )
    util += c["city"] * (index.place[visible][None, :] == users.pref_place[us][:, None])
    return util


def _log_exposure(kernel: _Kernel, us: Ints, cols: Ints) -> Floats:
    """log of the share of each resume's attention inside each user's period (b, c)."""
    item_age = kernel.resumes.age[kernel.index.visible[cols]].astype(np.float64)[None, :]
    lo, hi = delay_bounds(kernel.latent, us[:, None], item_age)
    tau = np.float32(ATTENTION_DAYS * DAY)
    lo32, span = lo.astype(np.float32), np.maximum(hi - lo, 0.0).astype(np.float32)
    with np.errstate(divide="ignore"):
        out: Floats = -lo32 / tau + np.log(-np.expm1(-span / tau))
    return out


def pick_collaborative(
    rng: np.random.Generator,
    users: Users,
    resumes: Resumes,
    ties: Connections,
    latent: Latent,
    n_events: int,
) -> Picks:
    """``n_events`` picks spread over users by activity (at most 120 each), best first
    within each user; ``rank_frac`` ranks a user's picks by utility (0: the highest)."""
    n_per_user = rng.multinomial(n_events, users.activity / users.activity.sum())
    n_per_user = np.minimum(n_per_user, MAX_EVENTS_PER_USER)
    active = np.flatnonzero(n_per_user > 0)
    if not resumes.visible.any() or len(active) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Picks(empty, empty, empty.astype(np.float64), empty.astype(np.float64))
    kernel = _kernel(users, resumes, ties, latent)
    batches = [
        _pick_batch(rng, kernel, active[lo : lo + BATCH], n_per_user)
        for lo in range(0, len(active), BATCH)
    ]
    return Picks(
        np.concatenate([p.user for p in batches]),
        np.concatenate([p.resume for p in batches]),
        np.concatenate([p.rank_frac for p in batches]).astype(np.float64),
        np.concatenate([p.utility for p in batches]),
    )


def _columns(rng: np.random.Generator, n_visible: int) -> Ints:
    """The visible columns (c,) one batch scores: all, or MAX_COLUMNS drawn uniformly."""
    if n_visible <= MAX_COLUMNS:
        return np.arange(n_visible, dtype=np.int64)
    return np.sort(rng.choice(n_visible, MAX_COLUMNS, replace=False)).astype(np.int64)


def _pick_batch(rng: np.random.Generator, kernel: _Kernel, us: Ints, n_per_user: Ints) -> Picks:
    """The picks of the batch users ``us`` (b,): keys (b, c) over the batch's columns, each
    user's ``n_per_user[u]`` best (never their own resumes), in key order."""
    cols = _columns(rng, len(kernel.index.visible))
    util = batch_utilities(kernel, us, cols)
    uniform = rng.random(util.shape, dtype=np.float32)
    gumbel = -np.log(-np.log(np.maximum(uniform, np.float32(1e-30))))
    keys = util.astype(np.float32) + _log_exposure(kernel, us, cols) + gumbel
    owner = kernel.resumes.owner[kernel.index.visible[cols]]
    keys[owner[None, :] == us[:, None]] = -np.inf
    n_u = n_per_user[us][:, None]
    k = min(int(n_u.max()), keys.shape[1])
    top = np.argpartition(-keys, k - 1, 1)[:, :k] if k < keys.shape[1] else None
    if top is None:
        top = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), 1), 1)
    take = (np.arange(k)[None, :] < n_u) & np.isfinite(np.take_along_axis(keys, order, 1))
    chosen_util = np.where(take, np.take_along_axis(util, order, 1), -np.inf)
    util_rank = np.empty_like(order)
    np.put_along_axis(util_rank, np.argsort(-chosen_util, 1), np.arange(k)[None, :], 1)
    n_taken = take.sum(1, keepdims=True)
    bi, ri = np.nonzero(take)
    frac = util_rank[bi, ri] / np.maximum(n_taken[bi, 0] - 1, 1)
    resume = kernel.index.visible[cols[order[bi, ri]]]
    return Picks(us[bi], resume, frac.astype(np.float64), util[bi, order[bi, ri]])
