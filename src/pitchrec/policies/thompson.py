"""Beta-Bernoulli Thompson sampling per arm id; contexts are ignored.

Each arm has a Beta(alpha0 + s, beta0 + f) posterior, s and f being the summed successes and
failures. A reward r in [0, 1] counts as a fractional success: s += r, f += 1 - r. The score
of a candidate is one posterior draw, ``rng.beta(alpha, beta)`` (n,). Arms never seen score
a draw from the prior. Delta keys: ``"s:<arm id>"``, ``"f:<arm id>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pitchrec.policies.arm_table import ArmTablePolicy
from pitchrec.policies.base import Float64Array, Int64Array


@dataclass(frozen=True)
class ThompsonConfig:
    """Beta prior of every arm, and how many arms ``describe`` lists."""

    alpha0: float = 1.0
    beta0: float = 1.0
    describe_limit: int = 20

    def __post_init__(self) -> None:
        if not (np.isfinite(self.alpha0) and self.alpha0 > 0):
            raise ValueError("alpha0 must be finite and > 0")
        if not (np.isfinite(self.beta0) and self.beta0 > 0):
            raise ValueError("beta0 must be finite and > 0")
        if self.describe_limit < 0:
            raise ValueError("describe_limit must be >= 0")


class ThompsonSampling(ArmTablePolicy):
    """Beta-Bernoulli Thompson sampling over arbitrary int64 arm ids."""

    name = "thompson"
    arm_prefixes: ClassVar[Mapping[str, str]] = {"successes": "s", "failures": "f"}

    def __init__(self, config: ThompsonConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ThompsonConfig()

    def posterior(self, arm_ids: Int64Array) -> tuple[Float64Array, Float64Array]:
        """Beta parameters (alpha (n,), beta (n,)) of the arms ``arm_ids`` (n,)."""
        ids = np.asarray(arm_ids, dtype=np.int64)
        alpha = self.config.alpha0 + self._table.gather("successes", ids)
        beta = self.config.beta0 + self._table.gather("failures", ids)
        return alpha, beta

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """One posterior draw (n,) per candidate arm id (n,); contexts x (n, d) unused."""
        alpha, beta = self.posterior(ids)
        return rng.beta(alpha, beta)

    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """s += r, f += 1 - r per row, for ids (m,) and rewards (m,)."""
        increments = {"successes": rewards, "failures": 1.0 - rewards}
        self._add(ids, increments)

    def describe(self) -> dict[str, object]:
        """Posterior means of the most observed arms (at most ``describe_limit``)."""
        table = self._table
        successes, failures = table.columns["successes"], table.columns["failures"]
        top = table.most_observed(successes + failures, self.config.describe_limit)
        alpha = self.config.alpha0 + successes[top]
        beta = self.config.beta0 + failures[top]
        return self._describe_arms(
            {"alpha0": self.config.alpha0, "beta0": self.config.beta0},
            top,
            alpha / (alpha + beta),
            successes[top] + failures[top],
        )
