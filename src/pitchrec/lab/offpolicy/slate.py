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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.shadow import ShadowLog
from pitchrec.lab.offpolicy.estimators import Estimate, OffPolicyInputError

Floats = NDArray[np.float64]
Action = Literal["item", "position"]
Rates = tuple[dict[str, float], float]  # q^ per item, and the global rate
SLATE_ESTIMATORS = ("ips", "snips", "dr")
_BOOT_CHUNK = 100
PRIOR_EXAMINATIONS = 1.0  # pseudo-examinations shrinking an item's like rate to the mean


@dataclass(frozen=True)
class ShadowFeed:
    """One shadowed feed with its outcome: ``rewards`` (K,) and ``examined`` (K,) per
    served position (any feedback event at it)."""

    log: ShadowLog
    rewards: tuple[float, ...]
    examined: tuple[bool, ...]

    @property
    def cluster(self) -> str:
        user = self.log.user_id
        return f"u:{user}" if user else f"f:{self.log.request_id}"


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


def _pairs(flat: list[int]) -> dict[int, int]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def examination(feeds: Sequence[ShadowFeed], how: str | float) -> Floats:
    """theta (K_max,) by ``how`` (see the module docstring)."""
    k_max = max(len(f.log.items) for f in feeds)
    if how == "uniform":
        return np.ones(k_max)
    if isinstance(how, float | int) and not isinstance(how, bool):
        if not 0.0 < float(how) <= 1.0:
            raise OffPolicyInputError("an examination decay must lie in (0, 1]")
        return float(how) ** np.arange(k_max, dtype=np.float64)
    if how != "events":
        raise OffPolicyInputError(f"examination: 'events', 'uniform' or a number, not {how!r}")
    seen, shown = np.zeros(k_max), np.zeros(k_max)
    for f in feeds:
        shown[: len(f.examined)] += 1
        seen[: len(f.examined)] += np.asarray(f.examined, dtype=np.float64)
    if not seen.any():
        raise OffPolicyInputError(
            "no feedback event names a shadowed feed: examination cannot be estimated "
            "(the rewards would all be 0)"
        )
    return np.divide(seen, shown, out=np.zeros(k_max), where=shown > 0)


def _exposure(counts: dict[int, int], theta: Floats, total: int) -> float:
    exposure = sum(float(theta[k - 1]) * c for k, c in counts.items() if 0 < k <= theta.shape[0])
    return exposure / total


def _item_rates(feeds: Sequence[ShadowFeed], theta: Floats) -> Rates:
    """q^ per item (likes per unit of examination, shrunk) and the global rate."""
    likes: dict[str, float] = {}
    exams: dict[str, float] = {}
    for f in feeds:
        for k, (item, r) in enumerate(zip(f.log.items, f.rewards, strict=True)):
            likes[item] = likes.get(item, 0.0) + r
            exams[item] = exams.get(item, 0.0) + float(theta[k])
    total = sum(exams.values())
    mean = sum(likes.values()) / total if total > 0 else 0.0
    rates = {
        i: min(1.0, (likes[i] + PRIOR_EXAMINATIONS * mean) / (exams[i] + PRIOR_EXAMINATIONS))
        for i in likes
    }
    return rates, min(1.0, mean)


@dataclass
class _Terms:
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


def _terms(
    feeds: Sequence[ShadowFeed], theta: Floats, action: Action, rates: list[Rates]
) -> _Terms:
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
    return _Terms(a, b, d, v, c, logged, weights, unc)


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


def _folds(feeds: Sequence[ShadowFeed], theta: Floats) -> list[Rates]:
    """Per feed, the item rates fitted on the other fold of users (cross-fitting)."""
    fold = [hash_fold(f.cluster) for f in feeds]
    fitted = [
        _item_rates([f for f, g in zip(feeds, fold, strict=True) if g != side], theta)
        for side in (0, 1)
    ]
    return [fitted[g] for g in fold]


def hash_fold(cluster: str) -> int:
    """0 or 1, fixed by the cluster name (stable across runs)."""
    return sum(cluster.encode()) % 2


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
    terms = _terms(feeds, theta, action, _folds(feeds, theta))
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
