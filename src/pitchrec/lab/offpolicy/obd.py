"""An end-to-end off-policy evaluation on an Open Bandit Dataset log.

The log is read by :mod:`pitchrec.lab.offpolicy.obd_csv` (its format, and the
:class:`OffPolicyInputError` a log that cannot be read raises, are described there);
this module re-exports :func:`load_obd`, :class:`ObdLog` and the format's constants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.offpolicy.estimators import (
    Interval,
    LoggedFeedback,
    OffPolicyInputError,
    evaluate_policy,
    fit_reward_model,
)
from pitchrec.lab.offpolicy.obd_csv import CLICK_RANGE, ITEM_CONTEXT, ObdLog, load_obd

__all__ = [
    "CLICK_RANGE",
    "ITEM_CONTEXT",
    "MIN_ROUNDS",
    "ObdLog",
    "behavior_action_dist",
    "evaluate_obd",
    "greedy_ctr_policy",
    "load_obd",
    "subset",
]

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
MIN_ROUNDS = 4  # two per half of the time split, so that every interval has a spread


def subset(data: LoggedFeedback, rows: NDArray[np.bool_]) -> LoggedFeedback:
    """The rounds where ``rows`` (n,) is True."""
    return LoggedFeedback(
        data.contexts[rows],
        data.actions[rows],
        data.rewards[rows],
        data.propensities[rows],
        data.n_actions,
        data.positions[rows],
        data.reward_range,
    )


def behavior_action_dist(data: LoggedFeedback) -> Floats:
    """The logging policy's action distribution (n, K) at each logged round, as far as the
    log tells it.

    An Open Bandit log holds the probability of the chosen item only. Row i puts the logged
    propensity p_i on the logged item a_i, and shares the rest, 1 - p_i, among the other
    items in proportion to how often each was logged at row i's position (if a_i is the
    only item ever logged there, uniformly). Each row sums to 1.

    What the ``behavior`` check can verify with it: IPS and SNIPS weights are exactly 1, so
    those two equal the on-policy click rate by construction (they test the plumbing, not
    the estimator). DR also needs the other items' probabilities: when the logging policy's
    distribution at a position is the same in every round (uniform random; any policy that
    ignores context and time), the shares above converge to it and DR is unbiased for the
    on-policy value. When it depends on the context or changes over time (a learning
    policy), the shares are its average over the log, and a gap between DR and the
    on-policy click rate may come from that approximation rather than from DR.
    """
    n, k = len(data), data.n_actions
    dist = np.zeros((n, k))
    rows = np.arange(n)
    for position in np.unique(data.positions):
        at = rows[data.positions == position]
        counts = np.bincount(data.actions[at], minlength=k).astype(np.float64)
        others = np.tile(counts, (at.size, 1))
        others[np.arange(at.size), data.actions[at]] = 0.0
        total = others.sum(axis=1, keepdims=True)
        lone = total[:, 0] == 0  # only the logged item was ever seen at this position
        others[lone] = 1.0
        others[lone, data.actions[at][lone]] = 0.0
        share = others / np.maximum(others.sum(axis=1, keepdims=True), 1e-300)
        dist[at] = share * (1.0 - data.propensities[at])[:, None]
    dist[rows, data.actions] = data.propensities
    return dist


def greedy_ctr_policy(train: LoggedFeedback, n_rounds: int, epsilon: float) -> Floats:
    """An epsilon-greedy target (n_rounds, K): the item with the best smoothed CTR on
    ``train`` with probability 1 - epsilon, uniform otherwise."""
    if not 0.0 <= epsilon <= 1.0:
        raise OffPolicyInputError(f"epsilon must lie in [0, 1], got {epsilon:g}")
    k = train.n_actions
    clicks = np.bincount(train.actions, weights=train.rewards, minlength=k)
    shown = np.bincount(train.actions, minlength=k)
    ctr = (clicks + 1.0) / (shown + 2.0)
    dist = np.full(k, epsilon / k)
    dist[int(np.argmax(ctr))] += 1.0 - epsilon
    return np.tile(dist, (n_rounds, 1))


def evaluate_obd(
    directory: Path,
    *,
    campaign: str | None = None,
    epsilon: float = 0.1,
    interval: Interval = "bootstrap",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run IPS, SNIPS and DR on an Open Bandit log for two target policies:

    * ``behavior``: the logging policy itself (:func:`behavior_action_dist`: the logged
      propensities, the rest shared by the items' frequencies at each position), whose true
      value is the on-policy mean click rate: a sanity check, whose reach that function's
      docstring states;
    * ``greedy_ctr``: epsilon-greedy on the per-item CTR of the first half of the log (by
      time), evaluated on the second half.

    Estimates and intervals are clipped to [0, 1] and flagged ``"clipped"`` when that moved
    them (the unclipped numbers are kept under ``"unclipped"``). Raises
    :class:`OffPolicyInputError` for a log that cannot be evaluated.
    """
    log = load_obd(directory, campaign)
    data = log.data
    n, k = len(data), data.n_actions
    if n < MIN_ROUNDS:
        raise OffPolicyInputError(
            f"campaign {log.campaign!r} in {directory} has {n} rounds; at least {MIN_ROUNDS} "
            "are needed (two per half of the time split)"
        )
    behavior = behavior_action_dist(data)
    q = fit_reward_model(data, seed=seed)
    order = np.argsort(np.asarray(log.timestamps), kind="stable")
    late = np.zeros(n, dtype=np.bool_)
    late[order[n // 2 :]] = True
    train, test = subset(data, ~late), subset(data, late)
    targets = {
        "behavior": (data, behavior, q),
        "greedy_ctr": (test, greedy_ctr_policy(train, len(test), epsilon), q[late]),
    }
    results: dict[str, Any] = {}
    for name, (logged, dist, model) in targets.items():
        estimates = evaluate_policy(
            logged,
            dist,
            reward_model=model,
            interval=interval,
            n_boot=n_boot,
            seed=seed,
        )
        results[name] = {kind: e.as_dict() for kind, e in estimates.items()}
    return {
        "campaign": log.campaign,
        "rounds": n,
        "actions": k,
        "positions": int(data.positions.max()) + 1 if n else 0,
        "clicks": int(data.rewards.sum()),
        "on_policy_click_rate": float(data.rewards.mean()) if n else float("nan"),
        "context_dimension": int(data.contexts.shape[1]),
        "interval": interval,
        "greedy_epsilon": epsilon,
        "targets": results,
    }
