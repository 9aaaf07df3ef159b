"""Beta-Bernoulli Thompson sampling per arm id; contexts are ignored.

Each arm has a Beta(alpha0 + s, beta0 + f) posterior, s and f being the summed successes and
failures. A reward r in [0, 1] counts as a fractional success: s += r, f += 1 - r. The score
of a candidate is one posterior draw, ``rng.beta(alpha, beta)`` (n,). Arms never seen score
a draw from the prior. Delta keys: ``"s:<arm id>"``, ``"f:<arm id>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.policies._arms import ArmTable
from pitchrec.policies.base import Float64Array, Int64Array, PolicyBase
from pitchrec.policies.deltas import DeltaValue, StatsDelta

_COLUMNS = ("successes", "failures")
_PREFIXES = {"successes": "s", "failures": "f"}


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


class ThompsonSampling(PolicyBase):
    """Beta-Bernoulli Thompson sampling over arbitrary int64 arm ids."""

    name = "thompson"

    def __init__(self, config: ThompsonConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ThompsonConfig()
        self._table = ArmTable(_COLUMNS)
        self._pending_table = ArmTable(_COLUMNS)

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
        self._table.add(ids, increments)
        self._pending_table.add(ids, increments)

    def _pending(self, *, reset: bool) -> StatsDelta:
        delta = self._pending_table.to_delta(_PREFIXES)
        if reset:
            self._pending_table.clear()
        return delta

    def _set_pending(self, delta: Mapping[str, DeltaValue]) -> None:
        table = ArmTable(_COLUMNS)
        table.add_delta(delta, _PREFIXES)
        self._pending_table = table

    def _apply(self, delta: Mapping[str, DeltaValue]) -> None:
        self._table.add_delta(delta, _PREFIXES)

    def _export_arrays(self) -> dict[str, NDArray[Any]]:
        return self._table.export()

    def _import_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        self._table.load(arrays)

    def describe(self) -> dict[str, object]:
        """Posterior means of the most observed arms (at most ``describe_limit``)."""
        table = self._table
        successes, failures = table.columns["successes"], table.columns["failures"]
        top = table.most_observed(successes + failures, self.config.describe_limit)
        alpha = self.config.alpha0 + successes[top]
        beta = self.config.beta0 + failures[top]
        info = self._describe_common()
        info.update(
            alpha0=self.config.alpha0,
            beta0=self.config.beta0,
            arms=len(table),
            most_observed=[
                {"arm": arm, "mean": mean, "observations": count}
                for arm, mean, count in zip(
                    table.ids[top].tolist(),
                    (alpha / (alpha + beta)).tolist(),
                    (successes[top] + failures[top]).tolist(),
                    strict=True,
                )
            ],
        )
        return info
