"""The events behind the interaction tables: who did what to which item, and when.

Resume events come from the behaviour model (:mod:`.affinity`, or in the collaborative
world :func:`.collaborative.pick_collaborative`), one per pick: its kind (an index into
:data:`KINDS`) and rating follow the pick's utility rank and its age the kind's history
window (in the collaborative world, the resume's attention curve). Challenge events draw
their items from quality, anonymous events (no user) their resumes from popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world import collaborative as collab
from pitchrec.lab.world.affinity import Picks
from pitchrec.lab.world.catalogue import Challenges, Resumes
from pitchrec.lab.world.common import (
    DAY,
    EDGE,
    MINUTE,
    Floats,
    Ints,
    Volumes,
    weighted_pick,
)
from pitchrec.lab.world.people import Users
from pitchrec.sources import schema

#: ``model_type`` of the rows the events become, on a resume and on a challenge.
RES = schema.RESUME_MODEL_TYPE
CHA = schema.CHALLENGE_MODEL_TYPE
#: Event kinds of the behaviour model and their history window (days; 0: not history).
KINDS = ("rating", "save", "match", "view", "like", "match_pending", "match_rejected", "other")
WINDOW_DAYS = (90, 90, 90, 30, 0, 0, 0, 0)
P_RECENT = 0.75


@dataclass(frozen=True)
class ResumeEvents:
    """Behaviour-model events on resumes: user and resume ids, kind (index into KINDS),
    age in seconds and rating value, one entry per pick."""

    uid: Ints
    rid: Ints
    kind: Ints
    age: Ints
    value: Floats

    @property
    def n(self) -> int:
        return len(self.uid)

    def of_kind(self, k: int) -> np.ndarray:
        return np.asarray(self.kind == k)


@dataclass(frozen=True)
class ChallengeEvents:
    """Challenge-typed events (model_type = challenge, model_id = challenge id); ``kind``:
    0 other, 1 save, 2 match, 3 view."""

    user: Ints
    cid: Ints
    kind: Ints
    age: Ints

    @property
    def n(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class AnonymousEvents:
    """Popularity-driven rows without a user; ``kind``: 0 rating, 1 save, 2 match."""

    resume: Ints
    age: Ints
    kind: Ints

    @property
    def n(self) -> int:
        return len(self.resume)


def _event_ages(rng: np.random.Generator, kind: Ints, item_age: Ints) -> Ints:
    """Event ages: inside the kind's window with P_RECENT (or whenever the item is too
    young for an older event), else before the window; never before the item existed."""
    window = np.asarray(WINDOW_DAYS, dtype=np.int64)[kind] * DAY
    n = len(kind)
    can_be_old = (window > 0) & (item_age > window + EDGE + MINUTE)
    old = can_be_old & (rng.random(n) >= P_RECENT)
    recent_hi = np.where(window > 0, np.minimum(item_age, window - EDGE), item_age)
    recent_hi = np.maximum(recent_hi, MINUTE + 1)
    age = rng.uniform(MINUTE, recent_hi)
    age[old] = rng.uniform(window[old] + EDGE, item_age[old])
    return age.astype(np.int64)


def _event_kinds(rng: np.random.Generator, rank_frac: Floats) -> Ints:
    """Kind of each pick: mostly view/rating/save/match (favourites are viewed more), 9 %
    noise kinds (like, pending or rejected match, other feedback)."""
    n = len(rank_frac)
    noise = rng.random(n) < 0.09
    p_view = 0.50 + 0.20 * rank_frac
    u = rng.random(n)
    rest = 1 - p_view  # split 20:15:10 over rating, save, match
    main = np.select(
        [u < p_view, u < p_view + rest * 20 / 45, u < p_view + rest * 35 / 45], [3, 0, 1], 2
    )
    kind: Ints = np.where(noise, weighted_pick(rng, np.array([4, 2.5, 1.5, 1.0]), n) + 4, main)
    return kind


def _rating_values(rng: np.random.Generator, quality: Floats, rank_frac: Floats) -> Floats:
    """Ratings 1-5 driven by quality and rank, with 1.5 % zeros and 1 % out-of-range."""
    n = len(quality)
    raw = 1 + 4 * (0.55 * quality + 0.45 * (1 - rank_frac)) + rng.normal(0, 0.6, n)
    value: Floats = np.clip(np.round(raw), 1, 5)
    odd = rng.random(n)
    value[odd < 0.015] = 0.0
    out_of_range = (odd >= 0.015) & (odd < 0.025)
    value[out_of_range] = rng.choice([6.0, 7.0, 10.0], n)[out_of_range]
    return value


def resume_events(rng: np.random.Generator, picks: Picks, resumes: Resumes) -> ResumeEvents:
    """The skills world's events, one per pick of :func:`.affinity.pick_resumes`."""
    kind = _event_kinds(rng, picks.rank_frac)
    age = _event_ages(rng, kind, resumes.age[picks.resume])
    value = _rating_values(rng, resumes.quality[picks.resume], picks.rank_frac)
    return ResumeEvents(picks.user + 1, picks.resume + 1, kind, age, value)


def collaborative_resume_events(
    rng: np.random.Generator, picks: Picks, resumes: Resumes, latent: collab.Latent
) -> ResumeEvents:
    """The collaborative world's events, one per pick of
    :func:`.collaborative.pick_collaborative`, timed on the resumes' attention curves."""
    kind = collab.positive_kinds(rng, picks.rank_frac)
    age = collab.pick_ages(rng, latent, resumes, picks)
    value = collab.rating_values(rng, resumes.quality[picks.resume], picks.rank_frac)
    return ResumeEvents(picks.user + 1, picks.resume + 1, kind, age, value)


def ages_after_creation(rng: np.random.Generator, item_age: Ints, collaborative: bool) -> Ints:
    """Ages of rows on items of ``item_age``: uniform over the item's life in the skills
    world, on the item's attention curve in the collaborative world."""
    if collaborative:
        return collab.attention_ages(rng, item_age)
    out: Ints = rng.uniform(MINUTE, item_age).astype(np.int64)
    return out


def challenge_events(
    rng: np.random.Generator, vol: Volumes, users: Users, challenges: Challenges
) -> ChallengeEvents:
    """``vol.challenge_events`` events on challenges with a video, by active users on
    good challenges."""
    ch_vis = np.flatnonzero(np.array([v is not None for v in challenges.columns["video"]]))
    m = vol.challenge_events if len(ch_vis) else 0
    user = weighted_pick(rng, users.activity, m) + 1
    idx = ch_vis[weighted_pick(rng, challenges.quality[ch_vis] ** 2 + 0.05, m)] if m else ch_vis
    kind = weighted_pick(rng, np.array([0.15, 0.35, 0.2, 0.3]), m)  # other, save, match, view
    item_age = np.asarray(challenges.columns["_created_age"], dtype=np.int64)[idx]
    age = _event_ages(rng, np.array([7, 1, 2, 3])[kind], item_age)
    return ChallengeEvents(user, idx + 1, kind, age)


def anonymous_events(
    rng: np.random.Generator,
    resumes: Resumes,
    pop: Floats,
    n: int,
    latent: collab.Latent | None,
) -> AnonymousEvents:
    """``n`` events without a user on resumes drawn by popularity ``pop`` [n_resumes]."""
    res = weighted_pick(rng, pop, n)
    age = ages_after_creation(rng, resumes.age[res], latent is not None)
    kind = rng.integers(0, 3, n)  # rating, save, match
    return AnonymousEvents(res, age, kind)
