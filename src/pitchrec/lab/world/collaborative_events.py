"""What each pick of a latent-factor world becomes: its age (on the resume's attention
curve inside the user's activity period, kept clear of the loaders' window edges), its
kind and its rating (both by the pick's utility rank); and the ages of the anonymous rows,
on the attention curve alone."""

from __future__ import annotations

import numpy as np

from pitchrec.lab.world.affinity import Picks
from pitchrec.lab.world.catalogue import Resumes
from pitchrec.lab.world.collaborative_latent import Latent
from pitchrec.lab.world.common import DAY, EDGE, MINUTE, Floats, Ints

#: e-folding time of a resume's attention after its creation (design choice: a pitch is
#: watched mostly in its first two months).
ATTENTION_DAYS = 45.0
#: Window edges (days before now) of the loaders: activity_log views 30, history 90,
#: resumes 360; generated ages keep EDGE away from each.
WINDOW_EDGES_DAYS = (360, 90, 30)


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


def delay_bounds(latent: Latent, us: Ints, item_age: Floats) -> tuple[Floats, Floats]:
    """Delay range (lo, hi) after creation inside each user's period; broadcasts."""
    start = latent.period_start[us].astype(np.float64)
    end = latent.period_end[us].astype(np.float64)
    lo = np.maximum(item_age - start, float(MINUTE))
    hi = item_age - end
    return lo, hi


def pick_ages(rng: np.random.Generator, latent: Latent, resumes: Resumes, picks: Picks) -> Ints:
    """The age of every pick: on the resume's attention curve inside the user's period."""
    item_age = resumes.age[picks.resume].astype(np.float64)
    lo, hi = delay_bounds(latent, picks.user, item_age)
    delay = _truncated_delay(rng, lo, np.maximum(hi, lo))
    return clear_edges(item_age - delay)


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
