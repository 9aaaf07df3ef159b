"""Policy-shaped scorers used only by the experiment (never served in production).

* :class:`ScaledPolicy`: a real policy whose scores are multiplied by a weight, which
  emulates a ``learned_weight`` in the pool score without touching the ranking code;
* :class:`TruthScorer`: scores with the TRUE engagement of the current user (the ceiling
  of any policy inside the engine's pools, sampling and slot pattern);
* :class:`FixedLinear`: a fixed linear model of the 18 ranking features (the ceiling of any
  *linear* policy on those features, with theta fitted on the truth).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.policies.base import Float64Array, Int64Array, Policy, PolicyBase, PolicyState
from pitchrec.policies.deltas import DeltaValue, StatsDelta

#: Weight of the truth / fixed-linear scores in the pool score: large enough that the
#: heuristic terms (5-95 % spread < 8, measured) cannot reorder them.
DOMINANT_WEIGHT = 1000.0


class ScaledPolicy:
    """``weight`` times the scores of ``inner``; learning, deltas and state are the inner
    policy's (so the tracker and learner treat it as the inner policy)."""

    def __init__(self, inner: Policy, weight: float) -> None:
        self.inner = inner
        self.weight = float(weight)
        self.name = inner.name
        self.learns = inner.learns

    @property
    def dimension(self) -> int | None:
        return self.inner.dimension

    @property
    def version(self) -> int:
        return self.inner.version

    @property
    def n_updates(self) -> int:
        return self.inner.n_updates

    def score(
        self, contexts: Float64Array, arm_ids: Int64Array, rng: np.random.Generator
    ) -> Float64Array:
        """``weight`` times the inner scores (n,) of ``contexts`` (n, d)."""
        scores: Float64Array = self.weight * self.inner.score(contexts, arm_ids, rng)
        return scores

    def update(self, contexts: Float64Array, arm_ids: Int64Array, rewards: Float64Array) -> None:
        self.inner.update(contexts, arm_ids, rewards)

    def pending_delta(self) -> StatsDelta:
        return self.inner.pending_delta()

    def apply_delta(self, delta: Mapping[str, DeltaValue]) -> None:
        self.inner.apply_delta(delta)

    def export_state(self) -> PolicyState:
        return self.inner.export_state()

    def import_state(self, state: PolicyState) -> None:
        self.inner.import_state(state)

    def describe(self) -> dict[str, object]:
        return {**self.inner.describe(), "score_weight": self.weight}


class _Stateless(PolicyBase):
    """A scorer that learns nothing and has no state (deltas and states are empty)."""

    learns = False

    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """Nothing to learn."""

    def _pending(self, *, reset: bool) -> StatsDelta:
        return {}

    def _set_pending(self, delta: Mapping[str, DeltaValue]) -> None:
        """No state."""

    def _apply(self, delta: Mapping[str, DeltaValue]) -> None:
        """No state."""

    def _export_arrays(self) -> dict[str, NDArray[Any]]:
        return {}

    def _import_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        """No state."""

    def describe(self) -> dict[str, object]:
        return self._describe_common()


class TruthScorer(_Stateless):
    """Scores from a per-user truth column ``current`` (n,), indexed by catalogue row of the
    sorted ``resume_ids`` (n,), which the simulator sets before each request.

    Without ``theta``: ``DOMINANT_WEIGHT * current[row of arm id]`` (``current`` = the true
    engagement: the oracle-engine arm). With ``theta`` (d + 1,): ``DOMINANT_WEIGHT *
    (x @ theta[:d] + theta[d] * current[row])``, a linear model of the d features plus one
    extra feature (``current`` = the true taste affinity: the taste-engine arm).
    """

    name = "truth"

    def __init__(self, resume_ids: Int64Array, theta: Float64Array | None = None) -> None:
        super().__init__()
        self.resume_ids = np.asarray(resume_ids, dtype=np.int64)
        self.current: Float64Array = np.zeros(self.resume_ids.shape[0])
        self.theta = None if theta is None else np.asarray(theta, dtype=np.float64)

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """Scores (n,) of contexts x (n, d) and arm ids (n,)."""
        extra = self.current[np.searchsorted(self.resume_ids, ids)]
        if self.theta is None:
            truth: Float64Array = DOMINANT_WEIGHT * extra
            return truth
        linear: Float64Array = DOMINANT_WEIGHT * (x @ self.theta[:-1] + self.theta[-1] * extra)
        return linear


class FixedLinear(_Stateless):
    """``DOMINANT_WEIGHT * (x @ theta)`` for contexts x (n, d) and a fixed theta (d,)."""

    name = "fixed_linear"

    def __init__(self, theta: Float64Array) -> None:
        super().__init__()
        self.theta = np.asarray(theta, dtype=np.float64)

    @property
    def dimension(self) -> int:
        return int(self.theta.shape[0])

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """Scores (n,) of contexts x (n, d)."""
        scores: Float64Array = DOMINANT_WEIGHT * (x @ self.theta)
        return scores
