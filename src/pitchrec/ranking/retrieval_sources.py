"""The sources of candidate retrieval (:mod:`.retrieval`): each picks catalogue rows one
pool would pick, from the snapshot's orders (:mod:`.catalogue_orders`) and the request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.scores import (
    GATE_MAX_DAYS,
    NEW_BOOST,
    NEW_BOOST_DAYS,
    NEW_CONTENT_DAYS,
    SECONDS_PER_DAY,
    TEMPORAL_DECAY_DAYS,
)
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking.catalogue_orders import CatalogueOrders
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.user_context import UserContext

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Mask = NDArray[np.bool_]

#: The user's heaviest skills the ``skills`` source reads (the first few of a profile's
#: 20-60 skills carry most of its weight).
TOP_SKILLS = 8
_SCAN = 64  # the first chunk of an order scanned (then 4 times larger each time)
NONE = np.zeros(0, dtype=np.int64)


def whole_days(created_at: Floats, now: float) -> Floats:
    """Whole days since creation, exactly as :func:`~pitchrec.index.scores.age_scores`."""
    days: Floats = np.floor(np.maximum(now - created_at, 0.0) / SECONDS_PER_DAY)
    return days


def first(order: Ints, accept: Callable[[Ints], Mask], k: int) -> Ints:
    """The first ``k`` rows of ``order`` that ``accept`` (rows (r,) -> mask (r,)) takes,
    scanning chunks of growing size: little work when the first rows pass."""
    found: list[Ints] = []
    start, chunk, need = 0, max(_SCAN, 2 * k), k
    while need > 0 and start < order.shape[0]:
        rows = order[start : start + chunk]
        hits = rows[accept(rows)][:need]
        found.append(hits)
        need -= hits.shape[0]
        start, chunk = start + chunk, 4 * chunk
    return np.concatenate(found) if found else NONE


def best(rows: Ints, scores: Floats, k: int) -> Ints:
    """The ``k`` of ``rows`` (r,) with the highest ``scores`` (r,), all when r <= k.
    (argpartition at r - k: 4-5 times faster than at k - 1 on the negated scores at
    40,000 rows, measured.)"""
    r = rows.shape[0]
    if r <= k:
        return rows
    return rows[np.argpartition(scores, r - k)[r - k :]] if k > 0 else NONE


@dataclass(frozen=True)
class Sources:
    """One request's sources: ``unavailable`` how many of the n rows are not available;
    ``combo`` (n,) the blend the pools add (None: none)."""

    snapshot: Snapshot
    orders: CatalogueOrders
    user: UserContext
    available: Mask
    unavailable: int
    now: float
    combo: Floats | None

    def days(self, rows: Ints) -> Floats:
        return whole_days(np.asarray(self.snapshot.resumes.created_at)[rows], self.now)

    def top(self, values: Floats, k: int) -> Ints:
        """Available rows of the ``k`` largest ``values`` (n,), any order."""
        n = values.shape[0]
        want = min(k + self.unavailable, n) if k > 0 else 0  # then k available ones remain
        rows = np.argpartition(values, n - want)[n - want :] if 0 < want < n else NONE
        rows = np.arange(n, dtype=np.int64) if want == n else rows.astype(np.int64)
        rows = rows[self.available[rows]]
        return best(rows, values[rows], k)

    def nu_best(self, rows: Ints, days: Floats, static: Floats, k: int) -> Ints:
        """The ``k`` of ``rows`` (r,) best by NU's heuristic (:func:`~.pools.nu_pool`,
        without its noise) plus the blend; ``days`` and ``static`` (r,) their whole days
        and ``nu_static``. The age terms come from a table by whole day (exp over 12,000
        new rows was half of this source's time at scale 20)."""
        if rows.shape[0] <= k:
            return rows
        whole = days.astype(np.int64)
        ages = np.arange(int(whole.max()) + 1, dtype=np.float64)
        by_age = 2.5 * np.exp(-ages / TEMPORAL_DECAY_DAYS) + 0.8 * np.where(
            ages <= NEW_BOOST_DAYS, NEW_BOOST, 1.0
        )
        score = by_age[whole] + static
        if self.combo is not None:
            score += self.combo[rows]
        return best(rows, score, k)

    def maxima(self) -> Ints:
        """For each count of columns 14-16, an available row with the largest count
        among the available rows, the gated ones and the new ones."""
        gate_static = np.asarray(self.snapshot.resumes.gate_static)
        available = self.available

        def sets(rows: Ints) -> tuple[Mask, Mask, Mask]:
            days = self.days(rows)
            ok = available[rows]
            gated = ok & (gate_static[rows] | (days < GATE_MAX_DAYS))
            return ok, gated, ok & (days <= NEW_CONTENT_DAYS)

        found: list[Ints] = []
        for order in self.orders.by_counts:
            head = order[:_SCAN]
            for i, hits in enumerate(sets(head)):
                at = np.flatnonzero(hits)[:1]
                if at.shape[0]:
                    found.append(head[at])
                    continue

                def accept(rows: Ints, i: int = i) -> Mask:  # rare: none in the first chunk
                    return sets(rows)[i]

                found.append(first(order, accept, 1))
        return np.concatenate(found)

    def new(self, k: int) -> Ints:
        """NU's set (available, at most 45 days old), or its ``k`` best."""
        orders = self.orders
        start = np.searchsorted(orders.created, self.now - (NEW_CONTENT_DAYS + 2) * SECONDS_PER_DAY)
        rows, days = orders.by_created[start:], whole_days(orders.created[start:], self.now)
        keep = (days <= NEW_CONTENT_DAYS) & self.available[rows]
        return self.nu_best(rows[keep], days[keep], orders.new_static[start:][keep], k)

    def fresh(self, options: RankingOptions, k: int) -> Ints:
        """The guarantee's fresh resumes (exhibited fewer than ``fresh_max_impressions``
        times, or younger than ``fresh_max_days``), or their ``k`` best as :meth:`new`."""
        orders = self.orders
        rows = orders.by_exhibited[
            : np.searchsorted(orders.exhibited, options.fresh_max_impressions)
        ]
        if options.fresh_max_days > 0.0:
            start = np.searchsorted(
                orders.created, self.now - (options.fresh_max_days + 2) * SECONDS_PER_DAY
            )
            young = orders.by_created[start:]
            rows = np.union1d(rows, young[self.days(young) < options.fresh_max_days])
        rows = rows[self.available[rows]]
        return self.nu_best(rows, self.days(rows), orders.nu_static[rows], k)

    def skills(self, k: int) -> Ints:
        """The best-prior available resumes carrying each of the user's heaviest skills."""
        weights = self.user.skill_weights
        count = min(TOP_SKILLS, int(np.count_nonzero(weights)))
        if self.user.skill_vector is None or k <= 0 or count == 0:
            return NONE
        heaviest = best(np.arange(weights.shape[0], dtype=np.int64), weights, count)
        postings, take = self.orders.skill_rows, self.available.__getitem__
        each = max(1, k // count)
        return np.concatenate(
            [first(np.asarray(postings.row(int(s)), np.int64), take, each) for s in heaviest]
        )

    def following(self, k: int) -> Ints:
        """The resumes of creators the user follows, the ``k`` best by prior."""
        following, creators = self.user.following, self.orders.creators
        if following.shape[0] == 0 or creators.shape[0] == 0:
            return NONE
        at = np.minimum(np.searchsorted(creators, following), creators.shape[0] - 1)
        rows, _ = self.orders.creator_rows.take(at[creators[at] == following])
        return best(rows, self.orders.prior[rows], k)
