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

:mod:`.collaborative_latent` holds the parameters and the hidden state
(:class:`LatentModel`, :class:`Latent`, :func:`build_latent`), :mod:`.collaborative_choice`
the choice kernel (:func:`pick_collaborative`) and :mod:`.collaborative_events` what each
pick becomes (its age, kind and rating); this module is one namespace over the three.
"""

from __future__ import annotations

from pitchrec.lab.world.collaborative_choice import (
    BATCH,
    MAX_COLUMNS,
    batch_utilities,
    pick_collaborative,
)
from pitchrec.lab.world.collaborative_events import (
    ATTENTION_DAYS,
    WINDOW_EDGES_DAYS,
    attention_ages,
    clear_edges,
    delay_bounds,
    pick_ages,
    positive_kinds,
    rating_values,
)
from pitchrec.lab.world.collaborative_latent import (
    COEFFICIENTS,
    COLLABORATIVE,
    EVENTS_FACTOR,
    K_FACTORS,
    P_STILL_ACTIVE,
    PERIOD_MEAN_DAYS,
    PERIOD_MIN_DAYS,
    POP_QUALITY_CORRELATION,
    POP_SIGMA,
    Latent,
    LatentModel,
    build_latent,
)

__all__ = [
    "ATTENTION_DAYS",
    "BATCH",
    "COEFFICIENTS",
    "COLLABORATIVE",
    "EVENTS_FACTOR",
    "K_FACTORS",
    "MAX_COLUMNS",
    "PERIOD_MEAN_DAYS",
    "PERIOD_MIN_DAYS",
    "POP_QUALITY_CORRELATION",
    "POP_SIGMA",
    "P_STILL_ACTIVE",
    "WINDOW_EDGES_DAYS",
    "Latent",
    "LatentModel",
    "attention_ages",
    "batch_utilities",
    "build_latent",
    "clear_edges",
    "delay_bounds",
    "pick_ages",
    "pick_collaborative",
    "positive_kinds",
    "rating_values",
]
