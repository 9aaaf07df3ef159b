"""Logged bandit feedback, what the off-policy estimators (:mod:`.estimators`) read:
:class:`LoggedFeedback` (n rounds of context, action, reward and propensity), the reward
range assumed when a log names none (:func:`reward_bounds`), and
:class:`OffPolicyInputError`, raised for any input the estimators cannot use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pitchrec.errors import EvaluationInputError

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


class OffPolicyInputError(EvaluationInputError, ValueError):
    """A logged feedback, target distribution or reward model the estimators cannot use."""


@dataclass(frozen=True)
class LoggedFeedback:
    """n logged rounds: ``contexts`` (n, d), ``actions`` (n,) in [0, n_actions),
    ``rewards`` (n,), ``propensities`` (n,) in (0, 1], ``positions`` (n,) (0 when the log
    has a single slot), ``reward_range`` (low, high): the rewards' possible range (None:
    :func:`reward_bounds` of the logged rewards), to which estimates are clipped."""

    contexts: Floats
    actions: Ints
    rewards: Floats
    propensities: Floats
    n_actions: int
    positions: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reward_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        n = self.actions.shape[0]
        if self.contexts.shape[0] != n or self.rewards.shape != (n,):
            raise OffPolicyInputError("contexts, actions and rewards must have n rows")
        if self.propensities.shape != (n,) or not np.all(
            (self.propensities > 0) & (self.propensities <= 1)
        ):
            raise OffPolicyInputError("propensities must have shape (n,) and lie in (0, 1]")
        if not np.all(np.isfinite(self.rewards)):
            raise OffPolicyInputError("rewards must be finite")
        if n and (self.actions.min() < 0 or self.actions.max() >= self.n_actions):
            raise OffPolicyInputError("actions must lie in [0, n_actions)")
        if self.reward_range is not None and not self.reward_range[0] <= self.reward_range[1]:
            raise OffPolicyInputError(f"reward_range {self.reward_range} is empty")
        if self.positions.size == 0:  # a single-slot log: every round at position 0
            object.__setattr__(self, "positions", np.zeros(n, dtype=np.int64))
        elif self.positions.shape != (n,) or self.positions.min() < 0:
            raise OffPolicyInputError("positions must have shape (n,) and be >= 0")

    def __len__(self) -> int:
        return int(self.actions.shape[0])


def reward_bounds(rewards: Floats) -> tuple[float, float]:
    """The reward range assumed when none is given: [0, 1] widened to the observed rewards
    (n,)."""
    return float(rewards.min(initial=0.0)), float(rewards.max(initial=1.0))
