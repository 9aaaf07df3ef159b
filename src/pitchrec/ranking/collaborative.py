"""The collaborative signal in the pools: what people who liked what you liked went on to
like, plus what is liked at all.

Per request, the user's vector is folded in over the snapshot's item factors from the
user's preference sample (history rows and online taste profile, :mod:`.user_context`),
so a like posted a second ago already moves this page. Both signals are scaled to [0, 1]
over the catalogue and weighted in score points by :class:`~.options.RankingOptions`
(``collaborative``, ``popularity_prior``); VMP and AU add the sum to their heuristics, and
NU too with ``boost_new``. The prior's half-life is the one the snapshot's history chose
(:mod:`pitchrec.models.popularity`). Measured on the collaborative world (scale 1, 2,000
users, bench/quality/OFFLINE.md): with a 45-day prior, boosting NU lowered NDCG@24 (11.3
to 10.9 %); with the chosen prior (2 days there) it raises it (17.5 to 18.1 %), since new
resumes are where the recent attention is.
"""

from __future__ import annotations

import weakref

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.snapshot import Snapshot
from pitchrec.models.collaborative_index import affinity, fold_in
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.user_context import UserContext

Floats = NDArray[np.float64]


def _unit_range(values: Floats) -> Floats:
    """``values`` (n,) mapped linearly onto [0, 1] (all zeros when constant)."""
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(low) or high - low <= 1e-12:
        return np.zeros(values.shape[0])
    scaled: Floats = (values - low) / (high - low)
    return scaled


def popularity_prior(snapshot: Snapshot) -> Floats:
    """(n,) log of the decayed interaction weight per resume, scaled to [0, 1]."""
    weights = np.asarray(snapshot.collab.interactions, dtype=np.float64)
    if weights.shape[0] == 0:
        return weights
    return _unit_range(np.log1p(np.maximum(weights, 0.0)))


_PRIORS: dict[int, tuple[weakref.ref[Snapshot], Floats]] = {}


def snapshot_prior(snapshot: Snapshot) -> Floats:
    """(n,) :func:`popularity_prior` of ``snapshot``, read-only, computed on first use and
    kept while the snapshot lives: it depends on the snapshot alone (15 us of a feed at
    scale 1, measured in process). A race computes it twice, both times the same."""
    key = id(snapshot)
    entry = _PRIORS.get(key)
    if entry is not None and entry[0]() is snapshot:
        return entry[1]
    prior = popularity_prior(snapshot).copy()
    prior.setflags(write=False)

    def forget(ref: weakref.ref[Snapshot]) -> None:
        if _PRIORS.get(key, (None,))[0] is ref:
            _PRIORS.pop(key, None)

    _PRIORS[key] = (weakref.ref(snapshot, forget), prior)
    return prior


def collaborative_affinity(snapshot: Snapshot, user: UserContext) -> Floats | None:
    """(n,) the user's predicted preference for every resume, scaled to [0, 1] and then
    by the snapshot's affinity scale (the ratio its build chose over the configured one,
    :mod:`pitchrec.models.affinity_ratio`: 0 to 8); None for a user with nothing to fold
    in (cold) or a snapshot without factors."""
    vector = fold_in(
        snapshot.collab,
        user.preference_rows,
        user.preference_weights,
        user.skipped_rows,
        user.skips,
    )
    scores = affinity(snapshot.collab, vector)
    if scores is None:
        return None
    scaled: Floats = snapshot.collab.affinity_scale * _unit_range(scores)
    return scaled


def score_boost(
    snapshot: Snapshot, user: UserContext, options: RankingOptions, prior: Floats | None = None
) -> Floats:
    """(n,) points the VMP and AU pools (and NU with ``boost_new``) add to their
    heuristics (zeros by default); ``prior`` (n,): the prior to weigh (None: the
    snapshot's, :func:`snapshot_prior`; the live one, :mod:`.live_prior`)."""
    n = len(snapshot.resumes)
    boost = np.zeros(n)
    if options.popularity_prior > 0.0 and n:
        served = snapshot_prior(snapshot) if prior is None else prior
        boost += options.popularity_prior * served
    if options.collaborative > 0.0 and n:
        personal = collaborative_affinity(snapshot, user)
        if personal is not None:
            boost += options.collaborative * personal
    return boost


def blend_columns(snapshot: Snapshot, user: UserContext) -> NDArray[np.float64]:
    """(n, 2): the affinity (zeros for a cold user) and the prior, each in [0, 1], as
    the policies' context columns 18-19 with ``RankingOptions.learned_blend``."""
    n = len(snapshot.resumes)
    columns = np.zeros((n, 2))
    if n == 0:
        return columns
    personal = collaborative_affinity(snapshot, user)
    if personal is not None:
        columns[:, 0] = personal
    columns[:, 1] = snapshot_prior(snapshot)
    return columns
