"""What one feed request works with: :class:`RequestScope` (the snapshot, request, user,
generator and clocks, built once per request) and which catalogue items the request may
show (:func:`mask_out`, :func:`challenge_available`, :func:`exclusions`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import FeedRequest
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking.user_context import UserContext


def mask_out(sorted_ids: NDArray[np.int64], *id_sets: NDArray[np.int64]) -> NDArray[np.bool_]:
    """(n,) True for ids of ``sorted_ids`` that are in none of ``id_sets``."""
    available = np.ones(sorted_ids.shape[0], dtype=np.bool_)
    for ids in id_sets:
        if ids.shape[0] == 0 or sorted_ids.shape[0] == 0:
            continue
        positions = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.shape[0] - 1)
        available[positions[sorted_ids[positions] == ids]] = False
    return available


def challenge_available(snapshot: Snapshot, *id_sets: NDArray[np.int64]) -> NDArray[np.bool_]:
    challenges = snapshot.challenges
    order = np.asarray(challenges.order_by_id)
    by_id = mask_out(np.asarray(challenges.id)[order], *id_sets)
    available = np.empty_like(by_id)
    available[order] = by_id
    return available


def exclusions(request: FeedRequest) -> NDArray[np.int64]:
    return np.fromiter(request.exclude, dtype=np.int64, count=len(request.exclude))


@dataclass(frozen=True)
class RequestScope:
    """What one feed computation works with (built once per request)."""

    snapshot: Snapshot
    request: FeedRequest
    user: UserContext
    rng: np.random.Generator
    seed: int
    now: float  # the request clock, unix seconds
    started: float  # perf_counter at the start, for execution_time
    #: (n,) the popularity prior to rank with (:mod:`.live_prior`); None: the snapshot's.
    prior: NDArray[np.float64] | None = None
