"""Importer for the Open Bandit Dataset CSV format, and an end-to-end evaluation on it.

Format (Open Bandit Pipeline 0.4, ``obd/<behavior policy>/<campaign>/``):

* ``<campaign>.csv``: an unnamed index column, ``timestamp``, ``item_id`` (the action),
  ``position`` (1-based slot), ``click`` (the reward), ``propensity_score`` (the behaviour
  policy's probability of the item), ``user_feature_0..3`` (hashed categories) and
  ``user-item_affinity_<k>`` for every item k;
* ``item_context.csv``: ``item_id`` and ``item_feature_0..3`` (one numeric, three hashed).

Each row is one logged round. Contexts are the one-hot user categories followed by the
affinity columns (the usual OBP encoding).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.offpolicy.estimators import (
    Interval,
    LoggedFeedback,
    evaluate_policy,
    fit_reward_model,
)

Floats = NDArray[np.float64]
ITEM_CONTEXT = "item_context.csv"
_REQUIRED = ("timestamp", "item_id", "position", "click", "propensity_score")


@dataclass(frozen=True)
class ObdLog:
    """One campaign's log: the bandit feedback, its timestamps (n,) and the item count."""

    campaign: str
    data: LoggedFeedback
    timestamps: list[str]
    user_feature_levels: int


def _campaign_file(directory: Path, campaign: str | None) -> Path:
    if campaign is not None:
        return directory / f"{campaign}.csv"
    found = sorted(p for p in directory.glob("*.csv") if p.name != ITEM_CONTEXT)
    if len(found) != 1:
        raise ValueError(f"expected one campaign CSV in {directory}, found {len(found)}")
    return found[0]


def load_obd(directory: Path, campaign: str | None = None) -> ObdLog:
    """Read the campaign CSV of ``directory`` (the only non-item CSV unless ``campaign``)."""
    path = _campaign_file(Path(directory), campaign)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    col = {name: i for i, name in enumerate(header)}
    missing = [name for name in _REQUIRED if name not in col]
    if missing:
        raise ValueError(f"{path.name} lacks columns {missing}")
    users = sorted(c for c in header if c.startswith("user_feature_"))
    affinity = sorted(
        (c for c in header if c.startswith("user-item_affinity_")),
        key=lambda c: int(c.rsplit("_", 1)[1]),
    )

    def column(name: str) -> list[str]:
        j = col[name]
        return [row[j] for row in rows]

    actions = np.asarray(column("item_id"), dtype=np.int64)
    n_actions = max(int(actions.max()) + 1 if actions.size else 0, len(affinity))
    blocks: list[Floats] = []
    levels = 0
    for name in users:
        values = column(name)
        vocabulary = {v: i for i, v in enumerate(sorted(set(values)))}
        onehot = np.zeros((len(values), len(vocabulary)))
        onehot[np.arange(len(values)), [vocabulary[v] for v in values]] = 1.0
        blocks.append(onehot)
        levels += len(vocabulary)
    if affinity:
        blocks.append(np.asarray([[float(row[col[c]]) for c in affinity] for row in rows]))
    contexts = np.hstack(blocks) if blocks else np.zeros((len(rows), 0))
    data = LoggedFeedback(
        contexts=contexts,
        actions=actions,
        rewards=np.asarray(column("click"), dtype=np.float64),
        propensities=np.asarray(column("propensity_score"), dtype=np.float64),
        n_actions=n_actions,
        positions=np.asarray(column("position"), dtype=np.int64) - 1,
    )
    return ObdLog(path.stem, data, column("timestamp"), levels)


def subset(data: LoggedFeedback, rows: NDArray[np.bool_]) -> LoggedFeedback:
    """The rounds where ``rows`` (n,) is True."""
    return LoggedFeedback(
        data.contexts[rows],
        data.actions[rows],
        data.rewards[rows],
        data.propensities[rows],
        data.n_actions,
        data.positions[rows],
    )


def greedy_ctr_policy(train: LoggedFeedback, n_rounds: int, epsilon: float) -> Floats:
    """An epsilon-greedy target (n_rounds, K): the item with the best smoothed CTR on
    ``train`` with probability 1 - epsilon, uniform otherwise."""
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

    * ``behavior``: the logging policy itself (pi = the logged propensities' policy, here
      uniform), whose true value is the on-policy mean click rate: a sanity check;
    * ``greedy_ctr``: epsilon-greedy on the per-item CTR of the first half of the log (by
      time), evaluated on the second half.
    """
    log = load_obd(directory, campaign)
    data = log.data
    n, k = len(data), data.n_actions
    behavior = np.zeros((n, k))
    behavior[np.arange(n), data.actions] = data.propensities  # the logged item's probability
    behavior += (1.0 - behavior.sum(1, keepdims=True)) / max(k - 1, 1) * (behavior == 0)
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
            logged, dist, reward_model=model, interval=interval, n_boot=n_boot, seed=seed
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
