"""Uniform random scores: the baseline that learns nothing.

``update`` keeps no statistics but still counts rows (``n_updates``), so the tracking layer
treats it like any other policy; its deltas only carry ``n_updates``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.policies.base import Float64Array, Int64Array, PolicyBase
from pitchrec.policies.deltas import DeltaValue, StatsDelta


@dataclass(frozen=True)
class UniformConfig:
    """No parameters; kept so every policy is built the same way."""


class UniformRandom(PolicyBase):
    """Scores are ``rng.random(n)``; contexts, arms and feedback are ignored."""

    name = "uniform"
    learns = False

    def __init__(self, config: UniformConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else UniformConfig()

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """U(0, 1) draws (n,) for n candidates."""
        return rng.random(int(ids.shape[0]))

    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """Nothing to learn; the base class counts the rows."""

    def _pending(self, *, reset: bool) -> StatsDelta:
        return {}

    def _set_pending(self, delta: Mapping[str, DeltaValue]) -> None:
        self._apply(delta)

    def _apply(self, delta: Mapping[str, DeltaValue]) -> None:
        if delta:
            raise ValueError(f"unexpected uniform delta keys {sorted(delta)}")

    def _export_arrays(self) -> dict[str, NDArray[Any]]:
        return {}

    def _import_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        if arrays:
            raise ValueError(f"unexpected uniform state arrays {sorted(arrays)}")

    def describe(self) -> dict[str, object]:
        return self._describe_common()
