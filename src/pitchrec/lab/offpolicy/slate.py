"""Off-policy estimates of a candidate's value from shadow logs: IPS, SNIPS and DR for slates.

The logged data (:mod:`pitchrec.ranking.shadow`, :class:`~pitchrec.domain.shadow.ShadowLog`):
n served feeds f, the item s_fk served at each position k = 1..K_f, a reward r_fk in
[0, 1] (1 for a like, :mod:`.shadow_log`), and Monte Carlo counts of where each item lands
under the served configuration pi_0 and under the candidate pi_e (R draws each). The
served feed was drawn from the logging policy pi_L = (1 - e) pi_0 + e pi_e, e being the
shadow exploration (0 by default: pi_L = pi_0); its probabilities are estimated from the
served feed itself and the draws, (served + R ((1 - e) p^_0 + e p^_e)) / (R + 1), so a
served item's is never 0. The value of a configuration is the expected sum of rewards of
one feed (likes per feed): V(pi) = E[sum_k r_k].

The reward model the estimators assume is the position-based model (PBM): the expected
reward of item i at position k is theta_k q(x, i), an examination probability of the
position times an attractiveness of the item for the request's user, independent of the
rest of the slate. Then V(pi) = sum_i q(x, i) rho_pi(i | x) with rho_pi(i) = sum_k theta_k
P_pi(i at k): what matters of a configuration is how much examination each item gets.

Two definitions of the action and its probability (``action``):

* ``"item"`` (default): the action is the item, its probability the examination it gets,
  rho (normalised by sum_k theta_k); w_fk = rho_e(s_fk) / rho_L(s_fk). Unbiased under the
  PBM whenever every item the candidate shows is shown by the logging policy at some
  position (Li et al. 2018, item-position model); with e > 0 that always holds, and
  every weight is at most (R + 1) / (R e). The served feed's items move between
  positions from one draw to the next, so this needs less overlap than the position-wise
  form: of the examination a candidate of bench/quality/SHADOW.md gives, 53 % fell on
  items the served configuration never showed, but 89 % on item-positions it never
  produced (4-5 % on items for a smaller change).
* ``"position"``: the action is the item at position k (OBP's slot-level, "independent
  IPS"), w_fk = P_e(s_fk at k) / P_L(s_fk at k). Unbiased when the reward of a position
  depends on its own item only, without the PBM, but it needs the same item at the same
  position: biased low as soon as the candidate moves items by one position.

theta_k (``examination``): ``"events"`` estimates it from the log, as the share of
shadowed feeds whose position k received any feedback event (view, like, skip, ...):
right when the client reports every item the user looked at (the v1 ``view`` or ``skip``
events), wrong when it reports likes only; ``"uniform"`` sets theta_k = 1 (rank-agnostic);
a number c in (0, 1] sets theta_k = c^(k-1).

Estimators, per feed terms a_f = sum_k w_fk r_fk, b_f = sum_k theta_k w_fk / sum_k theta_k
(E_0[b_f] = 1 with full overlap) and the on-policy v_f = sum_k r_fk:

* IPS = mean(a_f); SNIPS = sum(a_f) / sum(b_f): bounded, and with incomplete overlap it
  assumes the candidate's unsupported items are as good as its supported ones (IPS
  counts them as 0);
* DR = mean(sum_i rho_e,f(i) q^(i) + sum_k w_fk (r_fk - theta_k q^(s_fk))) with q^(i) the
  item's like rate per unit of examination, shrunk to the global rate and cross-fitted
  over two folds of users: unbiased when either the weights or q^ are right, and it
  covers the candidate's unsupported items by q^ instead of 0;
* the served configuration's value: mean(v_f), its on-policy value on the same feeds
  (with e > 0, SNIPS of pi_0 under pi_L, with weights p_0 / p_L).

Intervals: percentile bootstrap over users (a user's feeds are resampled together; an
anonymous feed is its own cluster), the same resamples for every estimate, so the
differences candidate - served are paired. theta and q^ are held fixed in the resamples.
Diagnostics: the effective sample size (sum b)^2 / sum b^2 (feeds), the largest weight,
and the share of the candidate's examination that falls on items (or item-positions) the
served configuration's draws never produced ("uncovered"): without exploration IPS is
biased low by about that share of the value.

The parts: :mod:`.shadow_feed` (the input), :mod:`.slate_reward_model` (theta and q^),
:mod:`.slate_terms` (the weights and per-feed terms); the estimates and their bootstrap
are here. The names of those parts used with the estimates are importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.offpolicy.estimators import Estimate, OffPolicyInputError
from pitchrec.lab.offpolicy.shadow_feed import ShadowFeed
from pitchrec.lab.offpolicy.slate_reward_model import (
    PRIOR_EXAMINATIONS,
    Rates,
    cross_fitted_rates,
    examination,
    hash_fold,
)
from pitchrec.lab.offpolicy.slate_terms import Action, feed_terms

__all__ = [
    "PRIOR_EXAMINATIONS",
    "SLATE_ESTIMATORS",
    "Action",
    "Rates",
    "ShadowFeed",
    "SlateResult",
    "estimate_slate",
    "examination",
    "hash_fold",
]

Floats = NDArray[np.float64]
SLATE_ESTIMATORS = ("ips", "snips", "dr")
_BOOT_CHUNK = 100


@dataclass(frozen=True)
class SlateResult:
    """The candidate's estimates, the served configuration's on-policy value, the paired
    differences (``<estimator>-served``) and the diagnostics."""

    candidate: str
    served: list[str]
    feeds: int
    users: int
    action: str
    examination: list[float]
    estimates: dict[str, Estimate]
    served_value: Estimate
    differences: dict[str, Estimate]
    diagnostics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "served": self.served,
            "feeds": self.feeds,
            "users": self.users,
            "action": self.action,
            "examination": self.examination,
            "estimates": {k: v.as_dict() for k, v in self.estimates.items()},
            "served_value": self.served_value.as_dict(),
            "differences": {k: v.as_dict() for k, v in self.differences.items()},
            "diagnostics": self.diagnostics,
        }


def estimate_slate(
    feeds: Sequence[ShadowFeed],
    *,
    action: Action = "item",
    how: str | float = "events",
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> SlateResult:
    """IPS, SNIPS and DR estimates of the candidate's likes per feed, the served value
    and their paired differences, with bootstrap intervals over users (module docstring).
    Raises :class:`OffPolicyInputError` for an empty log or a log of several candidates."""
    if not feeds:
        raise OffPolicyInputError("no shadowed feed in the log")
    candidates = sorted({f.log.candidate_config for f in feeds})
    if len(candidates) > 1:
        raise OffPolicyInputError(
            f"the log holds {len(candidates)} candidates ({', '.join(candidates)}): choose one"
        )
    if action not in ("item", "position"):
        raise OffPolicyInputError(f"action: 'item' or 'position', not {action!r}")
    theta = examination(feeds, how)
    terms = feed_terms(feeds, theta, action, cross_fitted_rates(feeds, theta))
    clusters = sorted({f.cluster for f in feeds})
    index = {c: j for j, c in enumerate(clusters)}
    member = np.asarray([index[f.cluster] for f in feeds])
    sums: dict[str, Floats] = {
        key: np.bincount(member, weights=values, minlength=len(clusters)).astype(np.float64)
        for key, values in zip("abdvc", (terms.a, terms.b, terms.d, terms.v, terms.c), strict=True)
    }
    sums["n"] = np.bincount(member, minlength=len(clusters)).astype(np.float64)
    boot = _bootstrap(sums, n_boot, seed)
    k_max = float(theta.shape[0])
    points = {
        "ips": float(terms.a.mean()),
        "snips": float(terms.a.sum() / max(terms.b.sum(), 1e-300)),
        "dr": float(terms.d.mean()),
        "served": float(terms.v.sum() / max(terms.c.sum(), 1e-300)),
    }
    explore = float(np.mean([f.log.explore for f in feeds]))
    ess = float(terms.b.sum() ** 2 / max(float((terms.b**2).sum()), 1e-300))
    tail = 100.0 * (1.0 - level) / 2.0

    def interval(key: str, value: float, bounds: tuple[float, float]) -> Estimate:
        low, high = (float(x) for x in np.percentile(boot[key], [tail, 100.0 - tail]))
        raw = (value, low, high)
        clipped = tuple(min(max(x, bounds[0]), bounds[1]) for x in raw)
        moved = clipped != raw
        return Estimate(
            key, clipped[0], clipped[1], clipped[2], len(feeds), ess, moved, raw if moved else None
        )

    estimates = {k: interval(k, points[k], (0.0, k_max)) for k in SLATE_ESTIMATORS}
    differences = {
        f"{k}-served": interval(f"{k}-served", points[k] - points["served"], (-k_max, k_max))
        for k in SLATE_ESTIMATORS
    }
    served_value = interval("served", points["served"], (0.0, k_max))
    served_value = Estimate(
        "served",
        served_value.value,
        served_value.ci_low,
        served_value.ci_high,
        len(feeds),
        float(len(feeds)),
    )
    weights = np.asarray(terms.weights)
    return SlateResult(
        candidate=candidates[0],
        served=sorted({f.log.served_config for f in feeds}),
        feeds=len(feeds),
        users=len(clusters),
        action=action,
        examination=[round(float(t), 4) for t in theta],
        estimates=estimates,
        served_value=served_value,
        differences=differences,
        diagnostics={
            "effective_sample_size": ess,
            "max_weight": float(weights.max(initial=0.0)),
            "mean_weight": float(weights.mean()) if weights.size else math.nan,
            "uncovered": float(terms.uncovered.mean()),
            "draws": float(np.median([f.log.draws for f in feeds])),
            "explore": explore,
            "explored_feeds": float(sum(f.log.explored for f in feeds)),
            "logged_value": float(terms.logged.mean()),
        },
    )


def _bootstrap(sums: dict[str, Floats], n_boot: int, seed: int) -> dict[str, Floats]:
    """Every estimate on ``n_boot`` resamples of the clusters (the same resamples)."""
    rng = np.random.default_rng(seed)
    m = sums["n"].shape[0]
    out: dict[str, list[Floats]] = {}
    for start in range(0, n_boot, _BOOT_CHUNK):
        idx = rng.integers(0, m, size=(min(_BOOT_CHUNK, n_boot - start), m))
        a, b, d, v, c, n = (sums[k][idx].sum(1) for k in "abdvcn")
        n = np.maximum(n, 1.0)
        values = {
            "ips": a / n,
            "snips": a / np.maximum(b, 1e-300),
            "dr": d / n,
            "served": v / np.maximum(c, 1e-300),
        }
        for key in SLATE_ESTIMATORS:
            values[f"{key}-served"] = values[key] - values["served"]
        for key, value in values.items():
            out.setdefault(key, []).append(value)
    return {key: np.concatenate(parts) for key, parts in out.items()}
