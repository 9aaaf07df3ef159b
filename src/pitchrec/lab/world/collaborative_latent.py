"""The latent-factor worlds' parameters and hidden state: what tells one kind from
another (:class:`LatentModel`: utility coefficients and log-popularity spread), and the
draws every pick reads (:class:`Latent`: factors, popularity, activity periods), made by
:func:`build_latent` from the ``collaborative`` stream. The model itself is described in
:mod:`.collaborative`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world.catalogue import Resumes
from pitchrec.lab.world.common import DAY, MINUTE, Floats, Ints, stream
from pitchrec.lab.world.people import Users

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
