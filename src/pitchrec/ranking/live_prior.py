"""The live prior: the snapshot's popularity prior corrected by each resume's like rate in
the online feedback, shared by every replica.

The prior (:func:`~.collaborative.popularity_prior`) counts what the history did with each
resume, so it knows nothing of what happened since the build, and it counts interactions,
not interactions per exposure: a resume the feeds showed often and nobody liked keeps its
place. Every feedback event on a served resume is evidence of its like rate, whatever the
pool that showed it: this module keeps, per resume id, the summed rewards and the number of
events (a :class:`~pitchrec.policies.thompson.ThompsonSampling` table, learned and shared by
a :class:`~pitchrec.learning.learner.PolicyLearner` under :data:`NAMESPACE`), and serves

    prior'(r) = prior(r) + log((s(r) + c) / (e(r) + c)) / span

with ``s(r)`` the resume's rewards, ``e(r)`` the rewards its events would have earned at
the rate its prior predicts (:func:`expected_rewards`: a Poisson regression of the rewards
on the prior, fitted on every resume's events), ``c`` the shrinkage that the rewards' own
spread supports (:func:`pseudo_rewards`: a Gamma prior on the rate ratios, fitted by the
method of moments), and ``span`` the width of the prior's log scale (the prior is
``log1p(weight)`` mapped onto [0, 1]). A resume liked twice as often as its prior predicts
moves up as much as one with twice the history's decayed interactions: likes are exposure
times rate, so a log-rate is in the log-count's unit, and no new weight is introduced. A
resume without events keeps its prior, and so does every resume when the rewards vary no
more than chance and the prior explain.

The first version compared each resume with the mean rate, not with its prior's, with a
fixed c = 1. The prior predicts the rate (the busiest resumes are the most liked), so that
counted the prior twice: it gained the collaborative world's replay 2 % and cost the
popular world's 1 %, both significant. Against the prior's own prediction both worlds are
level with the frozen policies (``bench/quality/ONLINE.md``, "Live prior").
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Policy
from pitchrec.policies.thompson import ThompsonSampling

Floats = NDArray[np.float64]
#: The learner's key suffix for the per-resume statistics (one table under the VMP key:
#: ``pitchrec:policy:v{n}:VMP:items``).
NAMESPACE = ":items"
EVIDENCE_POOL = Pool.VMP
#: The least shrinkage, in rewards (the Gamma prior's smallest shape): however spread the
#: rewards, a resume's first like at most doubles its rate against its prior's (lift log 2),
#: whatever the deployment's like rate: counted in rewards, not events, it means the same at
#: a 1 % and at a 30 % like rate. A design choice, not a fitted value.
PSEUDO_REWARDS = 1.0
#: Newton steps of the rate-on-prior regression (two parameters: it converges in a few).
NEWTON_STEPS = 25
#: Ridge on the slope, relative to the intercept's curvature: keeps the system solvable
#: when every resume with events has one prior. Small enough not to move a real slope.
RIDGE = 1e-6
#: Largest slope believed (a rate ratio of e^20 across the prior's range): beyond it the
#: fit has diverged (separated data) and the mean rate is used.
MAX_SLOPE = 20.0


def item_policy() -> dict[Pool, Policy]:
    """Fresh per-resume statistics (no events), for the learner."""
    return {EVIDENCE_POOL: ThompsonSampling()}


@dataclass
class LivePrior:
    """What one sync of the per-resume statistics serves: ``policy`` (its table, read only)
    and, per snapshot served, the corrected prior (computed on first use)."""

    policy: ThompsonSampling
    _cache: dict[int, tuple[weakref.ref[Snapshot], Floats]] = field(default_factory=dict)

    def prior(self, snapshot: Snapshot) -> Floats | None:
        """(n,) the snapshot's prior corrected by the events (read-only); None when there
        is no event, or no prior, to correct."""
        key = id(snapshot)
        entry = self._cache.get(key)
        if entry is not None and entry[0]() is snapshot:
            return entry[1]
        corrected = live_prior(snapshot, self.policy)
        if corrected is not None:
            corrected.setflags(write=False)
            self._cache = {key: (weakref.ref(snapshot), corrected)}
        return corrected

    def describe(self) -> dict[str, object]:
        """The evidence behind the correction, for ``GET /v1/stats``: the resumes with
        events, the events, the mean reward per event and the most observed resumes."""
        arms = self.policy.describe()
        table = self.policy.export_state().arrays
        successes, failures = table["successes"], table["failures"]
        events = float(successes.sum() + failures.sum())
        return {
            "resumes": int(successes.shape[0]),
            "events": events,
            "mean_reward": float(successes.sum()) / events if events > 0 else None,
            "most_observed": arms.get("most_observed", []),
        }


def live_prior(snapshot: Snapshot, policy: ThompsonSampling) -> Floats | None:
    """(n,) the corrected prior of the module's formula; None without events or prior."""
    weights = np.asarray(snapshot.collab.interactions, dtype=np.float64)
    n = weights.shape[0]
    if n == 0 or n != len(snapshot.resumes):
        return None
    alpha, beta = policy.posterior(np.asarray(snapshot.resumes.id, dtype=np.int64))
    config = policy.config
    successes, events = alpha - config.alpha0, alpha + beta - config.alpha0 - config.beta0
    total_events = float(events.sum())
    mean = float(successes.sum()) / total_events if total_events > 0 else 0.0
    if not (0.0 < mean < 1.0) or not math.isfinite(mean):
        return None
    log_weights = np.log1p(np.maximum(weights, 0.0))
    low, span = float(log_weights.min()), float(log_weights.max() - log_weights.min())
    if span <= 1e-12:
        return None
    prior = (log_weights - low) / span
    expected = expected_rewards(prior, successes, events)
    pseudo = pseudo_rewards(successes, expected, events)
    if pseudo is None:
        return None
    lift = np.log((successes + pseudo) / (expected + pseudo))
    corrected: Floats = prior + lift / span
    return corrected


def expected_rewards(prior: Floats, successes: Floats, events: Floats) -> Floats:
    """(n,) the rewards each resume's ``events`` would have earned at the rate its ``prior``
    (n,) predicts: ``events * exp(a + b * prior)``, (a, b) the Poisson regression of the
    ``successes`` (n,) on the prior with the events as exposure, by Newton's method; the
    mean rate (b = 0) when the fit fails. Rewards the prior already predicts are not
    counted again (in both worlds of the replay the prior predicted most of the rates:
    ``bench/quality/ONLINE.md``, "Live prior")."""
    has = events > 0
    rewards, exposure, x = successes[has], events[has], prior[has]
    flat = math.log(float(rewards.sum()) / float(exposure.sum()))
    a, b = flat, 0.0
    design = np.stack([np.ones_like(x), x], axis=1)  # (k, 2)
    for _ in range(NEWTON_STEPS):
        mu = exposure * np.exp(a + b * x)
        gradient = design.T @ (rewards - mu)
        hessian = (design * mu[:, None]).T @ design
        hessian[1, 1] += RIDGE * hessian[0, 0]  # resumes all at one prior: b stays near 0
        step = np.linalg.solve(hessian, gradient)
        a, b = a + float(step[0]), b + float(step[1])
        if not (math.isfinite(a) and math.isfinite(b)) or abs(b) > MAX_SLOPE:
            a, b = flat, 0.0
            break
        if abs(float(step[0])) + abs(float(step[1])) < 1e-9:
            break
    expected: Floats = events * np.exp(a + b * prior)
    return expected


def pseudo_rewards(successes: Floats, expected: Floats, events: Floats) -> float | None:
    """The shape c of the Gamma prior on the resumes' rate ratios (mean 1, variance 1 / c),
    by the method of moments on the rewards' spread beyond chance:
    ``1 / c = sum((s - e)^2 - e (1 - e / n)) / sum(e^2)``, the chance term being a reward
    in [0, 1]'s largest variance (a Bernoulli's) at the expected rate; c at least
    :data:`PSEUDO_REWARDS`. None when the rewards vary no more than chance would make them:
    then there is nothing in them beyond the prior."""
    has = events > 0
    s, e, n = successes[has], expected[has], events[has]
    chance = e * np.clip(1.0 - e / n, 0.0, 1.0)
    spread = float(((s - e) ** 2 - chance).sum())
    scale = float((e**2).sum())
    if not (spread > 0.0 and scale > 0.0 and math.isfinite(spread / scale)):
        return None
    return max(PSEUDO_REWARDS, scale / spread)
