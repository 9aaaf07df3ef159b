"""The aggregate tables views and resumes_exhibited, drawn from popularity (not from the
behaviour model): resumes by their popularity, viewers by their activity, a share of
anonymous viewers, and a few views of challenges and profiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world.activity_events import CHA, RES, ages_after_creation
from pitchrec.lab.world.catalogue import Challenges, Resumes
from pitchrec.lab.world.common import (
    DAY,
    MINUTE,
    Columns,
    Floats,
    Volumes,
    ids_or_none,
    make_columns,
    weighted_pick,
)
from pitchrec.lab.world.people import Users

PROFILE_MODEL_TYPE = "App\\Interacpedia\\Profiles\\Profile"


@dataclass(frozen=True)
class ActivitySources:
    """What the aggregate and log rows are drawn from: the people, the items and the
    resumes' popularity ``pop`` [n_resumes] (zero for hidden resumes)."""

    users: Users
    resumes: Resumes
    challenges: Challenges
    pop: Floats
    collaborative: bool = False


def exhibited_table(rng: np.random.Generator, vol: Volumes, sources: ActivitySources) -> Columns:
    """``vol.exhibited`` resume displays, by popularity ``pop ** 0.8``; 20 % anonymous."""
    r_ex = weighted_pick(rng, sources.pop**0.8, vol.exhibited)
    viewer = weighted_pick(rng, sources.users.activity, vol.exhibited) + 1
    return make_columns(
        vol.exhibited,
        resume_id=r_ex + 1,
        user_id=ids_or_none(viewer, rng.random(vol.exhibited) < 0.2),
        _created_age=ages_after_creation(rng, sources.resumes.age[r_ex], sources.collaborative),
    )


def views_table(rng: np.random.Generator, vol: Volumes, sources: ActivitySources) -> Columns:
    """``vol.popularity_views`` resume views by popularity, then 4 % more on challenges and
    profiles; 40 % anonymous."""
    users, resumes, challenges = sources.users, sources.resumes, sources.challenges
    n = vol.popularity_views
    r = weighted_pick(rng, sources.pop, n)
    n_other = max(2, round(0.04 * n))
    kind = rng.integers(0, 2, n_other)
    other_id = np.where(
        kind == 0, rng.integers(1, challenges.n + 1, n_other), rng.integers(1, users.n + 1, n_other)
    )
    other_type = np.where(kind == 0, CHA, PROFILE_MODEL_TYPE)
    total = n + n_other
    viewer = weighted_pick(rng, users.activity, total) + 1
    return make_columns(
        total,
        model_id=np.concatenate([r + 1, other_id]),
        model_type=np.concatenate([np.full(n, RES, dtype=object), other_type]),
        user_id=ids_or_none(viewer, rng.random(total) < 0.4),
        _created_age=np.concatenate(
            [
                ages_after_creation(rng, resumes.age[r], sources.collaborative),
                rng.uniform(MINUTE, 400 * DAY, n_other).astype(np.int64),
            ]
        ),
    )
