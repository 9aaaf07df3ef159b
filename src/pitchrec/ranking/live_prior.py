"""The live prior: the snapshot's popularity prior corrected by each resume's like rate in
the online feedback, shared by every replica.

The prior (:func:`~.collaborative.popularity_prior`) counts what the history did with each
resume, so it knows nothing of what happened since the build, and it counts interactions,
not interactions per exposure: a resume the feeds showed often and nobody liked keeps its
place. Every feedback event on a served resume is evidence of its like rate, whatever the
pool that showed it: this module keeps, per resume id, the summed rewards and the number of
events (a :class:`~pitchrec.policies.thompson.ThompsonSampling` table, learned and shared by
a :class:`~pitchrec.learning.learner.PolicyLearner` under :data:`NAMESPACE`), and serves

    prior'(r) = prior(r) + log(m(r) / m) / span

where ``m`` is the mean reward per event over every resume, ``m(r)`` the resume's own
mean shrunk towards it, ``m(r) / m = (s(r) + c) / (n(r) m + c)`` (its rewards against the
rewards the mean rate expects of its ``n(r)`` events, each plus ``c`` =
:data:`PSEUDO_REWARDS`: a Gamma prior of ``c`` rewards on its rate relative to the mean),
and ``span`` the width of the prior's log scale (the prior is ``log1p(weight)`` mapped
onto [0, 1]). A resume liked twice as often as the average moves up as much as one with twice the
history's decayed interactions: likes are exposure times rate, so a log-rate is in the
log-count's unit, and no new weight is introduced. A resume without events keeps its prior.
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
#: Rewards of shrinkage towards the mean rate (the Gamma prior's shape). With 1, a resume's
#: first like doubles its rate relative to the mean at most (lift log 2), whatever the
#: deployment's like rate: the shrinkage is counted in rewards, not in events, so it means
#: the same at a 1 % and at a 30 % like rate. A design choice, not a fitted value.
PSEUDO_REWARDS = 1.0


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
    lift = np.log((successes + PSEUDO_REWARDS) / (events * mean + PSEUDO_REWARDS))
    corrected: Floats = (log_weights - low + lift) / span
    return corrected
