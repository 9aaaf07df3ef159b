"""Per-feed terms of the slate estimators (:mod:`.slate`): importance weights and rewards.

For each shadowed feed, the logging (pi_0, pi_e and their mixture pi_L) probabilities of
every served item under the chosen ``action`` definition, the weights w_fk they give, and
the sums the estimators average: IPS, its normaliser, DR, the served configuration's
value, and the candidate's examination that no logging draw supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.shadow import ShadowLog
from pitchrec.lab.offpolicy.shadow_feed import ShadowFeed
from pitchrec.lab.offpolicy.slate_reward_model import Rates

Floats = NDArray[np.float64]
Action = Literal["item", "position"]


def _pairs(flat: list[int]) -> dict[int, int]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def _exposure(counts: dict[int, int], theta: Floats, total: int) -> float:
    exposure = sum(float(theta[k - 1]) * c for k, c in counts.items() if 0 < k <= theta.shape[0])
    return exposure / total


@dataclass
class FeedTerms:
    """The estimators' terms of n feeds, each (n,), and the weight w_fk of every served
    position (sum_f K_f) in feed order."""

    a: Floats  # (n,) IPS terms
    b: Floats  # (n,) normaliser terms
    d: Floats  # (n,) DR terms
    v: Floats  # (n,) the served configuration's terms (its rewards, reweighted if explored)
    c: Floats  # (n,) their normaliser (1 without exploration)
    logged: Floats  # (n,) the rewards as logged
    weights: list[float]
    uncovered: Floats  # (n,) candidate examination share with no logging support


def _probabilities(
    log: ShadowLog, k: int, counts: tuple[dict[int, int], dict[int, int]], theta: Floats
) -> tuple[float, float, float]:
    """(pi_0, pi_e, logging mixture) probabilities of the item served at position ``k``,
    from its logging and target ``counts``: of the item at k when ``theta`` is empty (the
    position action), else its examination. The served feed counts as one more draw of
    the logging mixture."""
    at0, ate = counts
    draws, e = log.draws, log.explore
    if theta.shape[0] == 0:  # position action: theta is not used
        p0, pe, served = at0.get(k, 0) / draws, ate.get(k, 0) / draws, 1.0
    else:
        p0, pe = _exposure(at0, theta, draws), _exposure(ate, theta, draws)
        served = float(theta[k - 1])
    mixture = (served + draws * ((1.0 - e) * p0 + e * pe)) / (draws + 1)
    return p0, pe, mixture


def feed_terms(
    feeds: Sequence[ShadowFeed], theta: Floats, action: Action, rates: list[Rates]
) -> FeedTerms:
    """The terms of the n ``feeds`` under ``action``, with theta (K_max,) and, per feed
    (n,), the item rates q^ fitted without its fold (:mod:`.slate_reward_model`)."""
    n = len(feeds)
    a, b, d, v, c, logged, unc = (np.zeros(n) for _ in range(7))
    weights: list[float] = []
    at_theta = np.zeros(0) if action == "position" else theta
    for f_i, f in enumerate(feeds):
        log, (q, q_mean) = f.log, rates[f_i]
        logging = {i: _pairs(c) for i, c in log.logging.items()}
        target = {i: _pairs(c) for i, c in log.target.items()}
        mass = float(theta[: len(log.items)].sum()) or 1.0
        for item, counts in target.items():
            d[f_i] += _exposure(counts, theta, log.draws) * q.get(item, q_mean)
        for k, item in enumerate(log.items, start=1):
            pair = (logging.get(item, {}), target.get(item, {}))
            p0, pe, mixture = _probabilities(log, k, pair, at_theta)
            w = pe / mixture if mixture > 0 else 0.0
            r, qk = f.rewards[k - 1], theta[k - 1] * q.get(item, q_mean)
            weights.append(w)
            a[f_i] += w * r
            b[f_i] += theta[k - 1] * w
            d[f_i] += w * (r - qk)
            w0 = 1.0 if log.explore == 0.0 else (p0 / mixture if mixture > 0 else 0.0)
            v[f_i] += w0 * r
            c[f_i] += theta[k - 1] * w0
            logged[f_i] += r
        b[f_i] /= mass
        c[f_i] /= mass
        served = {item: {k: 1} for k, item in enumerate(log.items, start=1)}
        unc[f_i] = _uncovered(logging, served, target, theta, log.draws, action) / mass
    return FeedTerms(a, b, d, v, c, logged, weights, unc)


def _uncovered(
    logging: dict[str, dict[int, int]],
    served: dict[str, dict[int, int]],
    target: dict[str, dict[int, int]],
    theta: Floats,
    draws: int,
    action: Action,
) -> float:
    """Examination the candidate gives to what the served configuration's draws (and
    the served feed) never produced."""
    total = 0.0
    for item, counts in target.items():
        shown = {**logging.get(item, {}), **served.get(item, {})}
        if action == "item":
            if not shown:
                total += _exposure(counts, theta, draws)
        else:
            missing = {k: c for k, c in counts.items() if k not in shown}
            total += _exposure(missing, theta, draws)
    return total
