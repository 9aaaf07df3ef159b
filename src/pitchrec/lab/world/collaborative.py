"""The collaborative world: latent taste factors, a long-tailed popularity and a time axis.

``generate_world(..., kind="collaborative")`` keeps every table and column of the skills
world and changes only who interacts with what, and when. A user u picks resumes by a
Gumbel top-k draw (Plackett-Luce without replacement) over the whole visible catalogue
with key ``U(u, r) + log exposure(u, r) + Gumbel``, where the utility is

    U(u, r) = collab     * <factor_u, factor_r>                      (k = 8 latent dims)
            + popularity * popularity_r                              (standard normal)
            + taste * taste affinity + city + social + quality + recency  (as affinity.py)

(coefficients :data:`COEFFICIENTS`, written to the ground truth, which the simulator's user
model reads back) and ``exposure(u, r)`` is the share of resume r's attention that falls
inside u's activity period: a resume created at age ``a_r`` (seconds before ``now``)
draws interactions at a rate ``exp(-(a_r - a) / ATTENTION_DAYS) / ATTENTION_DAYS`` at age
``a``, and user u interacts only between the ages ``period_start[u]`` and
``period_end[u]``. The exposure is when a user meets a resume, not whether they like it,
so it is no part of U. Each pick's age is then drawn from that attention curve inside the
user's period, so no interaction precedes its resume and most follow it closely.

Factors are drawn independently of skills and cities; each component is normal with
variance ``K ** -0.5`` so ``<factor_u, factor_r>`` has unit variance. ``popularity_r`` is
correlated with the latent quality (see :func:`build_latent`); ``exp(POP_SIGMA *
popularity_r)`` also weighs the resumes of the ``views`` and ``resumes_exhibited``
aggregates and the anonymous rows.

The coefficients and ``POP_SIGMA`` are one :class:`LatentModel`, carried by the
:class:`Latent` state: :data:`COLLABORATIVE` here, the popularity-dominated
:data:`pitchrec.lab.world.popular.POPULAR` (``kind="popular"``) the other; everything
else (factors, time axis, exposure, event kinds) is shared.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from pitchrec.lab.world.common import DAY, EDGE, MINUTE, Floats, Ints, stream
from pitchrec.lab.world.people import Connections, Users

#: Latent dimensions (design choice: enough for a few dozen distinguishable tastes, few
#: enough that a matrix factorisation of the sparse history can recover them).
K_FACTORS = 8
#: Utility coefficients (design choice). Measured spread (std over 2,000 active users x
#: the eligible resumes, scale 1, seed 7): collab 3.0, popularity 1.0, taste 0.21,
#: quality 0.23, city 0.16 (social and recency are rarer or nearly constant). With collab
#: at 2.0, pre-cut co-occurrence found 2.2x the post-cut positives declared skills found
#: (recall@20); at 3.0, 3.3x.
COEFFICIENTS: dict[str, float] = {
    "taste": 4.0,
    "city": 0.5,
    "social": 2.0,
    "quality": 1.0,
    "recency": 0.5,
    "collab": 3.0,
    "popularity": 1.0,
}
#: Behaviour events per scale unit relative to the skills world (design choice: at 26,000
#: events for 198,000 users the history is too sparse for co-occurrence to mean anything).
EVENTS_FACTOR = 4
#: e-folding time of a resume's attention after its creation (design choice: a pitch is
#: watched mostly in its first two months).
ATTENTION_DAYS = 45.0
#: Share of users still active at ``now``; the others stopped at a uniform age (design).
P_STILL_ACTIVE = 0.55
#: Activity period length: PERIOD_MIN_DAYS plus an exponential of mean PERIOD_MEAN_DAYS.
PERIOD_MIN_DAYS = 20.0
PERIOD_MEAN_DAYS = 120.0
#: Correlation of popularity with the logit of the latent quality (design choice).
POP_QUALITY_CORRELATION = 0.5
#: Log-popularity spread of the aggregate tables (design choice, matching the interaction
#: choice's popularity coefficient: top 10 % of resumes hold about half the rows).
POP_SIGMA = 1.3
#: Window edges (days before now) of the loaders: activity_log views 30, history 90,
#: resumes 360; generated ages keep EDGE away from each.
WINDOW_EDGES_DAYS = (360, 90, 30)
#: Users per batch of the choice kernel, and the catalogue columns one batch scores: a
#: uniform random subset per batch (a Plackett-Luce draw restricted to a uniform subset
#: keeps every relative preference), so the cost is linear in the active users whatever
#: the catalogue size. Design choice, measured: 1,024 columns keep the scale-1 kernel near
#: 10 s on two cores and leave 8x more candidates than the most events of one user.
BATCH = 1024
MAX_COLUMNS = 1024


@dataclass(frozen=True)
class LatentModel:
    """What tells one latent-factor world kind from another: its name (the truth's
    ``world_kind``), its utility ``coefficients`` (the keys of :data:`COEFFICIENTS`, in
    that order; written to the ground truth) and ``pop_sigma``, the log-popularity spread
    of its aggregate tables."""

    kind: str
    coefficients: Mapping[str, float]
    pop_sigma: float


#: The collaborative world: latent taste dominates, popularity is moderate.
COLLABORATIVE = LatentModel("collaborative", COEFFICIENTS, POP_SIGMA)


@dataclass(frozen=True)
class Latent:
    """A latent-factor world's hidden state (collaborative or popular); ages are seconds
    before ``now``."""

    user_factors: Floats  # (U, K)
    resume_factors: Floats  # (R, K)
    popularity: Floats  # (R,) standard normal, enters U with coefficient "popularity"
    period_start: Ints  # (U,) age at which the user's activity begins (the oldest)
    period_end: Ints  # (U,) age at which it ends (MINUTE: still active)
    model: LatentModel = COLLABORATIVE  # the coefficients every pick uses

    @property
    def weights(self) -> Floats:
        """Relative popularity of every resume for the aggregate tables."""
        out: Floats = np.exp(self.model.pop_sigma * self.popularity)
        return out


def build_latent(
    seed: int, users: Users, resumes: Resumes, model: LatentModel = COLLABORATIVE
) -> Latent:
    """Factors, popularity and activity periods, from their own random stream (the same
    draws whatever ``model``, which only sets how they are weighed)."""
    rng = stream(seed, "collaborative")
    scale = K_FACTORS**-0.25  # component std: <p, q> then has unit variance
    user_factors = rng.normal(0.0, scale, (users.n, K_FACTORS))
    resume_factors = rng.normal(0.0, scale, (resumes.n, K_FACTORS))
    logit = np.log(resumes.quality / (1.0 - resumes.quality))
    z = (logit - logit.mean()) / max(float(logit.std()), 1e-9)
    rho = POP_QUALITY_CORRELATION
    popularity = rho * z + np.sqrt(1.0 - rho**2) * rng.standard_normal(resumes.n)
    start, end = _periods(rng, users.age)
    return Latent(user_factors, resume_factors, popularity, start, end, model)


def _periods(rng: np.random.Generator, user_age: Ints) -> tuple[Ints, Ints]:
    n = len(user_age)
    still = rng.random(n) < P_STILL_ACTIVE
    end = np.where(still, 0.0, rng.uniform(0.0, 1.0, n) * user_age)
    length = (PERIOD_MIN_DAYS + rng.exponential(PERIOD_MEAN_DAYS, n)) * DAY
    start = np.minimum(end + length, user_age)
    end_i = np.maximum(end, MINUTE).astype(np.int64)
    start_i = np.maximum(start, end_i + MINUTE).astype(np.int64)
    return start_i, end_i


def clear_edges(age: Floats) -> Ints:
    """Ages moved 2 * EDGE towards ``now`` when within EDGE of a window edge (so they stay
    after the item's creation), as whole seconds."""
    out = np.asarray(age, dtype=np.float64).copy()
    for days in WINDOW_EDGES_DAYS:
        near = np.abs(out - days * DAY) < EDGE
        out[near] -= 2 * EDGE
    return np.maximum(out, MINUTE).astype(np.int64)


def _truncated_delay(rng: np.random.Generator, lo: Floats, hi: Floats) -> Floats:
    """Delays after creation, exponential (ATTENTION_DAYS) truncated to [lo, hi]."""
    tau = ATTENTION_DAYS * DAY
    span = np.maximum(hi - lo, 0.0)
    u = rng.random(len(lo))
    delay: Floats = lo - tau * np.log1p(-u * -np.expm1(-span / tau))
    return np.minimum(delay, hi)


def attention_ages(rng: np.random.Generator, item_age: Ints) -> Ints:
    """Ages of anonymous rows on items of ``item_age``: on the attention curve."""
    age = np.asarray(item_age, dtype=np.float64)
    delay = _truncated_delay(rng, np.full(len(age), float(MINUTE)), np.maximum(age - MINUTE, 0.0))
    return clear_edges(np.maximum(age - delay, MINUTE))


def _delay_bounds(latent: Latent, us: Ints, item_age: Floats) -> tuple[Floats, Floats]:
    """Delay range (lo, hi) after creation inside each user's period; broadcasts."""
    start = latent.period_start[us].astype(np.float64)
    end = latent.period_end[us].astype(np.float64)
    lo = np.maximum(item_age - start, float(MINUTE))
    hi = item_age - end
    return lo, hi


def pick_ages(rng: np.random.Generator, latent: Latent, resumes: Resumes, picks: Picks) -> Ints:
    """The age of every pick: on the resume's attention curve inside the user's period."""
    item_age = resumes.age[picks.resume].astype(np.float64)
    lo, hi = _delay_bounds(latent, picks.user, item_age)
    delay = _truncated_delay(rng, lo, np.maximum(hi, lo))
    return clear_edges(item_age - delay)


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
    lo, hi = _delay_bounds(kernel.latent, us[:, None], item_age)
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
    if n_visible <= MAX_COLUMNS:
        return np.arange(n_visible, dtype=np.int64)
    return np.sort(rng.choice(n_visible, MAX_COLUMNS, replace=False)).astype(np.int64)


def _pick_batch(rng: np.random.Generator, kernel: _Kernel, us: Ints, n_per_user: Ints) -> Picks:
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


def positive_kinds(rng: np.random.Generator, rank_frac: Floats) -> Ints:
    """Kind of each pick (indices into activity_events.KINDS): the user's higher-utility picks
    are mostly ratings, saves and matches, the lower ones mostly views; 9 % noise kinds
    as in the skills world."""
    n = len(rank_frac)
    noise = rng.random(n) < 0.09
    p_view = 0.20 + 0.65 * rank_frac  # design: best pick 20 % view, worst 85 %
    u = rng.random(n)
    rest = 1 - p_view  # split 20:15:10 over rating, save, match, as the skills world
    main = np.select(
        [u < p_view, u < p_view + rest * 20 / 45, u < p_view + rest * 35 / 45], [3, 0, 1], 2
    )
    noise_kind = 4 + np.searchsorted(np.cumsum([4, 2.5, 1.5, 1.0]) / 9.0, rng.random(n))
    kind: Ints = np.where(noise, np.minimum(noise_kind, 7), main).astype(np.int64)
    return kind


def rating_values(rng: np.random.Generator, quality: Floats, rank_frac: Floats) -> Floats:
    """Ratings 1-5 driven mostly by the pick's utility rank, with the skills world's 1.5 %
    zeros and 1 % out-of-range values."""
    n = len(quality)
    raw = 1 + 4 * (0.2 * quality + 0.8 * (1 - rank_frac)) + rng.normal(0, 0.6, n)
    value: Floats = np.clip(np.round(raw), 1, 5)
    odd = rng.random(n)
    value[odd < 0.015] = 0.0
    out_of_range = (odd >= 0.015) & (odd < 0.025)
    value[out_of_range] = rng.choice([6.0, 7.0, 10.0], n)[out_of_range]
    return value
