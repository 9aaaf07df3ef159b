"""The two arms that bypass the engine: the oracle (upper bound) and a random feed.

Both see the same candidates as the engine: eligible resumes (snapshot rows) minus the
user's snapshot history minus what this session already showed, and fill the same number
of slots.

The oracle knows the ground truth: it fills positions 1..k greedily with the candidate of
highest *current* expected engagement ``base_q * fatigue`` (fatigue updated after each pick,
so a second item of a creator already placed is discounted). Since examination decreases
with position, placing in decreasing order of engagement maximises the feed's expected
reward up to the (small) creator-fatigue interactions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.world.user_model import UserModel, UserState

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


def candidates(n: int, user: UserState, session_rows: set[int]) -> NDArray[np.bool_]:
    """(n,) True for resume rows the engine could serve ``user`` in this session."""
    available = np.ones(n, dtype=np.bool_)
    available[user.seen_rows] = False
    if session_rows:
        available[np.fromiter(session_rows, dtype=np.int64, count=len(session_rows))] = False
    return available


def oracle_feed(
    model: UserModel,
    user: UserState,
    session_rows: set[int],
    session_creators: dict[int, int],
    size: int,
) -> Ints:
    """Resume rows (k,), k = min(size, candidates), best first by true expected reward."""
    cfg = model.config
    creators = model.world.resume_creator
    available = candidates(model.world.n_resumes, user, session_rows)
    value = np.where(available, user.base_q, -np.inf)
    if user.exposures:
        rows = np.fromiter(user.exposures, dtype=np.int64, count=len(user.exposures))
        counts = np.fromiter(user.exposures.values(), dtype=np.float64, count=len(rows))
        value[rows] *= cfg.repeat_fatigue**counts
    if session_creators:
        shown = np.fromiter(session_creators, dtype=np.int64, count=len(session_creators))
        times = np.fromiter(session_creators.values(), dtype=np.float64, count=len(shown))
        order = np.argsort(shown)
        pos = np.searchsorted(shown[order], creators)
        pos = np.minimum(pos, shown.shape[0] - 1)
        hit = shown[order][pos] == creators
        exponent = np.where(hit, times[order][pos], 0.0)
        value = np.where(available, value * cfg.creator_fatigue**exponent, -np.inf)
    k = min(size, int(available.sum()))
    # Only the best few can be picked: restrict the greedy loop to a short list.
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    short = np.argpartition(-value, min(4 * k, value.shape[0] - 1))[: 4 * k].astype(np.int64)
    short = short[np.isfinite(value[short])]
    picked: list[int] = []
    local = value[short].copy()
    for _ in range(k):
        best = int(np.argmax(local))
        picked.append(int(short[best]))
        local[best] = -np.inf
        local[creators[short] == creators[short[best]]] *= cfg.creator_fatigue
    return np.asarray(picked, dtype=np.int64)


def random_feed(
    n: int, user: UserState, session_rows: set[int], size: int, rng: np.random.Generator
) -> Ints:
    """Resume rows (k,) drawn uniformly without replacement among the candidates."""
    rows = np.flatnonzero(candidates(n, user, session_rows)).astype(np.int64)
    return rng.permutation(rows)[:size]
