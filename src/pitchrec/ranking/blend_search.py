"""Blend search: the mix of affinity and prior chosen online by the likes each mix earns.

The build chooses how much the collaborative affinity weighs against the popularity prior
on the deployment's history (:mod:`pitchrec.models.affinity_ratio`). Live users may not
behave as that history did: in the collaborative world's simulator, pure affinity earns
13 % more likes than the build's mix; in the replay of its held-out history, 15 % fewer
(``bench/quality/ONLINE.md``). Learning the mix as two more LinUCB columns fits a
per-item regression whose answer depends on what the pools happened to show (it swung to
opposite ends in those two tests). This module compares the mixes themselves: each
request is served one *arm*, an angle on the quarter circle from pure prior (0 degrees)
to pure affinity (90 degrees) that keeps the build's total points, and each arm's
rewards are counted, as in an A/B test randomised per request.

The arms lie every :data:`STEP_DEGREES` on both sides of the build's own angle, plus the
two ends. Serving is *local*: the request draws (Thompson sampling, a Beta posterior per
arm) among a centre arm and its two neighbours only. The centre is the build's arm until
a neighbour's likes beat it significantly, then that neighbour's, and so on. So a
deployment pays for exploring near what the build chose, and the served mix walks one
step at a time as far as the likes lead it. The centre is recomputed from the build's arm
at every sync, not remembered: a step that noise justified is taken back as soon as the
evidence no longer holds it (about 2 % of the time between two equal arms, at z = 2).

Statistics: a :class:`~pitchrec.policies.thompson.ThompsonSampling` table keyed by the
angle in tenths of a degree, learned and shared by a
:class:`~pitchrec.learning.learner.PolicyLearner` (namespace :data:`NAMESPACE`): a change
of the points or of the step keeps each angle's counts meaningful.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.policies.base import Policy
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.options import RankingOptions

#: Degrees between neighbouring arms: six steps from pure prior to pure affinity, so the
#: build's neighbours differ from it by a quarter of the points at most (sin 15 deg).
STEP_DEGREES = 15.0
#: Arms closer than this to an end are dropped for the end itself (no near-duplicates).
MIN_GAP_DEGREES = STEP_DEGREES / 3.0
#: The z-score (difference of posterior means over its standard error) a neighbour must
#: beat the window's centre by to become the centre: one-sided 97.7 %, so the served mix
#: moves on evidence, not on a lucky few likes or on one arm's larger count.
MOVE_Z = 2.0
#: The learner's key suffix for the arms' statistics (one table, kept under the VMP key:
#: the learner's statistics are per pool; ``pitchrec:policy:v{n}:VMP:blend``).
NAMESPACE = ":blend"
BLEND_POOL = Pool.VMP


def arm_id(degrees: float) -> int:
    """The statistics key of an angle: tenths of a degree."""
    return round(degrees * 10.0)


@dataclass(frozen=True)
class BlendArms:
    """The arms of ``options`` (fixed points, ``learned_blend`` off): ``degrees`` (k,)
    ascending, ``build`` the index of the options' own angle, ``norm`` the points kept."""

    degrees: tuple[float, ...]
    build: int
    norm: float

    @classmethod
    def of(cls, options: RankingOptions) -> BlendArms:
        norm = math.hypot(options.collaborative, options.popularity_prior)
        if norm <= 0.0:
            raise ValueError("blend search needs collaborative or popularity_prior points")
        own = math.degrees(math.atan2(options.collaborative, options.popularity_prior))
        angles = {0.0, 90.0, own}
        for sign in (-1.0, 1.0):
            step = 1
            while 0.0 < (angle := own + sign * step * STEP_DEGREES) < 90.0:
                if MIN_GAP_DEGREES <= angle <= 90.0 - MIN_GAP_DEGREES:
                    angles.add(angle)
                step += 1
        degrees = tuple(sorted(angles))
        return cls(degrees, degrees.index(own), norm)

    @property
    def ids(self) -> NDArray[np.int64]:
        """(k,) the arms' statistics keys."""
        return np.asarray([arm_id(d) for d in self.degrees], dtype=np.int64)

    def options(self, options: RankingOptions, arm: int) -> RankingOptions:
        """``options`` with arm ``arm``'s points of (affinity, prior)."""
        radians = math.radians(self.degrees[arm])
        return replace(
            options,
            collaborative=self.norm * math.sin(radians),
            popularity_prior=self.norm * math.cos(radians),
        )


def _centre(alpha: NDArray[np.float64], beta: NDArray[np.float64], build: int) -> int:
    """The arm the window is centred on, from each arm's Beta posterior (k,): from the
    build's arm, step to the better neighbour while one is better with a z-score above
    :data:`MOVE_Z` (a function of the shared totals alone, so every replica agrees; the
    mean rises at every step, so it ends)."""
    total = alpha + beta
    mean = alpha / total
    variance = mean * (1.0 - mean) / (total + 1.0)
    centre = build
    for _ in range(alpha.shape[0]):  # a walk uphill visits each arm once at most
        neighbours = [k for k in (centre - 1, centre + 1) if 0 <= k < alpha.shape[0]]
        z = [(mean[k] - mean[centre]) / np.sqrt(variance[k] + variance[centre]) for k in neighbours]
        best = int(np.argmax(z))
        if z[best] <= MOVE_Z:
            return centre
        centre = neighbours[best]
    return centre


def blend_policy() -> dict[Pool, Policy]:
    """Fresh statistics at the prior (Beta(1, 1) per arm), for the learner."""
    return {BLEND_POOL: ThompsonSampling()}


@dataclass(frozen=True)
class _Served:
    """What requests read between two syncs: the statistics, each arm's Beta posterior
    (plain floats: a request draws three of them) and the centre."""

    policy: ThompsonSampling
    alpha: tuple[float, ...]
    beta: tuple[float, ...]
    centre: int


class BlendSearch:
    """Chooses the arm of each request from the shared statistics (none given, as when
    learning is not served: the build's arm; a learning service gives it its learner's
    statistics from the start, the prior until the first sync)."""

    def __init__(self, options: RankingOptions) -> None:
        self.arms = BlendArms.of(options)
        self._ids = self.arms.ids
        self._options = tuple(self.arms.options(options, k) for k in range(len(self._ids)))
        self._served: _Served | None = None

    @property
    def policy(self) -> ThompsonSampling | None:
        served = self._served
        return served.policy if served is not None else None

    def set_policies(self, policies: dict[Pool, Policy]) -> None:
        """Serve new statistics; the posteriors and the centre are computed here, once per
        sync, and swapped in whole (requests in flight keep the old ones)."""
        policy = policies.get(BLEND_POOL)
        if not isinstance(policy, ThompsonSampling):
            self._served = None
            return
        alpha, beta = policy.posterior(self._ids)
        centre = _centre(alpha, beta, self.arms.build)
        self._served = _Served(policy, tuple(alpha.tolist()), tuple(beta.tolist()), centre)

    def options(self, arm: int) -> RankingOptions:
        return self._options[arm]

    def centre(self) -> int:
        """The arm the window is centred on (:func:`_centre`; the build's before any sync)."""
        served = self._served
        return served.centre if served is not None else self.arms.build

    def choose(self, rng: random.Random) -> int:
        """The arm to serve: a posterior draw among the centre and its neighbours (about
        10 us: Python's generator, seeded from an int, and three Beta draws)."""
        served = self._served
        if served is None:
            return self.arms.build
        centre = served.centre
        best, best_draw = centre, -1.0
        for arm in range(max(centre - 1, 0), min(centre + 2, len(self._ids))):
            draw = rng.betavariate(served.alpha[arm], served.beta[arm])
            if draw > best_draw:
                best, best_draw = arm, draw
        return best

    def arm_id(self, arm: int) -> int:
        """The statistics key of arm index ``arm``."""
        return int(self._ids[arm])

    def describe(self) -> dict[str, object]:
        """The arms, their observations and means, and the current centre (for stats)."""
        policy = self.policy
        arms: list[dict[str, object]] = []
        for k, degrees in enumerate(self.arms.degrees):
            entry: dict[str, object] = {"degrees": round(degrees, 1)}
            if policy is not None:
                alpha, beta = policy.posterior(self._ids[k : k + 1])
                prior = policy.config.alpha0 + policy.config.beta0
                entry["observations"] = float(alpha[0] + beta[0] - prior)
                entry["mean"] = float(alpha[0] / (alpha[0] + beta[0]))
            arms.append(entry)
        centre = self.centre()
        return {
            "arms": arms,
            "build": self.arms.build,
            "centre": centre,
            "centre_degrees": round(self.arms.degrees[centre], 1),
        }
