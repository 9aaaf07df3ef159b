"""Epsilon-greedy over per-arm mean rewards; contexts are ignored.

The mean of an arm is shrunk towards a prior: (prior_mean·prior_count + Σr) /
(prior_count + count). Exploration is decided **once per call**, not per candidate: with
probability epsilon the whole score vector is replaced by U(0, 1) draws (a uniformly random
ranking), otherwise it is the means. This is classical epsilon-greedy lifted to rankings:
the propensity of the top candidate is (1 - epsilon)·[it is the greedy one] + epsilon / n,
which off-policy evaluation can log. Ties between means keep the candidates' order.

Randomness per call: one ``rng.random()`` for the coin, then ``rng.random(n)`` only when
exploring. Delta keys: ``"sum:<arm id>"``, ``"count:<arm id>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pitchrec.policies.arm_table import ArmTablePolicy
from pitchrec.policies.base import Float64Array, Int64Array


@dataclass(frozen=True)
class EpsilonGreedyConfig:
    """Exploration rate, the prior mean with its weight in pseudo-observations."""

    epsilon: float = 0.1
    prior_mean: float = 0.5
    prior_count: float = 1.0
    describe_limit: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError("epsilon must be within [0, 1]")
        if not 0.0 <= self.prior_mean <= 1.0:
            raise ValueError("prior_mean must be within [0, 1]")
        if not (np.isfinite(self.prior_count) and self.prior_count > 0):
            raise ValueError("prior_count must be finite and > 0")
        if self.describe_limit < 0:
            raise ValueError("describe_limit must be >= 0")


class EpsilonGreedy(ArmTablePolicy):
    """Per-arm mean rewards with a per-call epsilon chance of a uniformly random ranking."""

    name = "epsilon_greedy"
    arm_prefixes: ClassVar[Mapping[str, str]] = {"reward_sum": "sum", "count": "count"}

    def __init__(self, config: EpsilonGreedyConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else EpsilonGreedyConfig()

    def means(self, arm_ids: Int64Array) -> Float64Array:
        """Shrunk mean rewards (n,) of the arms ``arm_ids`` (n,)."""
        ids = np.asarray(arm_ids, dtype=np.int64)
        return self._shrunk(self._table.gather("reward_sum", ids), self._table.gather("count", ids))

    def _shrunk(self, sums: Float64Array, counts: Float64Array) -> Float64Array:
        cfg = self.config
        return (cfg.prior_mean * cfg.prior_count + sums) / (cfg.prior_count + counts)

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """Means (n,) of the arm ids (n,), or with probability epsilon U(0, 1) draws (n,)."""
        if rng.random() < self.config.epsilon:
            return rng.random(int(ids.shape[0]))
        return self.means(ids)

    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """sum += r, count += 1 per row, for ids (m,) and rewards (m,)."""
        increments = {"reward_sum": rewards, "count": np.ones_like(rewards)}
        self._add(ids, increments)

    def describe(self) -> dict[str, object]:
        """Shrunk means of the most observed arms (at most ``describe_limit``)."""
        table = self._table
        sums, counts = table.columns["reward_sum"], table.columns["count"]
        top = table.most_observed(counts, self.config.describe_limit)
        return self._describe_arms(
            {"epsilon": self.config.epsilon, "prior_mean": self.config.prior_mean},
            top,
            self._shrunk(sums[top], counts[top]),
            counts[top],
        )
