"""What this process served recently, in memory bounded in bytes: the operator dashboard's
traffic, latency and exposure figures (``GET /v1/stats``, :mod:`pitchrec.api.stats`).

Two windows, both per process (a server with ``--workers N`` has N of each):

* :class:`TrafficWindow`: client requests in buckets of :data:`BUCKET_SECONDS` aligned to
  unix time, :data:`HISTORY_BUCKETS` of them (10 minutes), with a log-binned latency
  histogram of the feed requests per bucket. *Client requests* are the feed routes (the
  legacy ``POST {API_PATH}/search/{total,discover,flow}``, ``GET /v1/feed/{kind}``) and
  ``POST /v1/events``; probes, metrics scrapes and the dashboard's own reads are not
  counted, so watching the dashboard does not change what it shows.
* :class:`ExposureWindow`: the last :data:`EXPOSURE_CAPACITY` resume impressions at most
  :data:`EXPOSURE_SECONDS` old (creator, serve time, fresh or not), from which the
  exposure Gini and the new-creator share are computed.

Figures over time are computed from *complete* buckets only: everything a payload says
about rates and quantiles is as of the start of the current bucket (``as_of``), so two
reads within one bucket agree.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Feed, ItemKind
from pitchrec.index.scores import SECONDS_PER_DAY
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking.feed_metrics import gini
from pitchrec.ranking.options import RankingOptions

#: Width of a traffic bucket, seconds: the dashboard refreshes at this period.
BUCKET_SECONDS = 5
#: Complete buckets kept for the charts (10 minutes), plus the bucket being filled.
HISTORY_BUCKETS = 120
#: Complete buckets the headline rates and latency quantiles are taken over (1 minute).
RATE_BUCKETS = 12
#: Latency histogram: bin i holds [LATENCY_MIN * GAMMA**i, LATENCY_MIN * GAMMA**(i+1)),
#: reported as its geometric middle, so a quantile is within 2 % of the exact one
#: (sqrt(1.04) - 1); 10 us to 100 s (a slower request counts in the last bin).
LATENCY_GAMMA = 1.04
LATENCY_MIN_SECONDS = 1e-5
LATENCY_BINS = math.ceil(math.log(100.0 / LATENCY_MIN_SECONDS) / math.log(LATENCY_GAMMA))
_LOG_GAMMA = math.log(LATENCY_GAMMA)
#: Columns of a traffic bucket's counts.
FEEDS, EVENTS, ERRORS = 0, 1, 2

#: Bytes of the exposure window: a creator id (int64), a serve time (float32 seconds since
#: the window was made) and a fresh flag (bool) per resume impression, 13 bytes.
EXPOSURE_BYTES = 1 << 20
EXPOSURE_CAPACITY = EXPOSURE_BYTES // 13  # 80,659 impressions, about 3,400 feeds of 24
#: Impressions older than this are out of the exposure figures (1 hour).
EXPOSURE_SECONDS = 3600.0

_LEGACY_FEEDS = ("/search/total", "/search/discover", "/search/flow")


def classify(route: str, method: str) -> int | None:
    """:data:`FEEDS`, :data:`EVENTS`, or None for a request that is not client traffic.
    ``route`` is the matched route template (``/v1/feed/{kind}``, ``/api/search/total``)."""
    if route == "/v1/feed/{kind}" and method == "GET":
        return FEEDS
    if method == "POST" and route.endswith(_LEGACY_FEEDS):
        return FEEDS
    if route == "/v1/events" and method == "POST":
        return EVENTS
    return None


def latency_bin(seconds: float) -> int:
    """The histogram bin of a request that took ``seconds``."""
    if seconds <= LATENCY_MIN_SECONDS:
        return 0
    return min(int(math.log(seconds / LATENCY_MIN_SECONDS) / _LOG_GAMMA), LATENCY_BINS - 1)


def bin_value_ms(index: int) -> float:
    """The value reported for bin ``index``: its geometric middle, in milliseconds (3 decimals)."""
    return round(1000.0 * LATENCY_MIN_SECONDS * math.pow(LATENCY_GAMMA, index + 0.5), 3)


def quantile_ms(histogram: NDArray[np.int64], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of a latency histogram (LATENCY_BINS,),
    in milliseconds; None when it is empty."""
    total = int(histogram.sum())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    index = int(np.searchsorted(np.cumsum(histogram), rank))
    return bin_value_ms(index)


class TrafficWindow:
    """Client requests per :data:`BUCKET_SECONDS` bucket and their latency histogram.

    A ring of ``HISTORY_BUCKETS + 1`` rows: 3 counts and LATENCY_BINS latency counts per
    bucket, int64 each, about 400 KB in all; ``array.array`` rows, whose scalar updates
    cost a fraction of numpy's (every request is recorded). Thread-safe.
    """

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self.started_at: float = clock()
        rows = HISTORY_BUCKETS + 1
        self._ids = [-1] * rows  # the bucket each row holds
        self._counts = [_zeros(3) for _ in range(rows)]
        self._latency = [_zeros(LATENCY_BINS) for _ in range(rows)]
        self._lock = threading.Lock()

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the middleware for every request)."""
        kind = classify(route, method)
        if kind is None:
            return
        bucket = int(self._clock() // BUCKET_SECONDS)
        row = bucket % len(self._ids)
        with self._lock:
            if self._ids[row] != bucket:
                self._ids[row] = bucket
                self._counts[row] = _zeros(3)
                self._latency[row] = _zeros(LATENCY_BINS)
            counts = self._counts[row]
            counts[kind] += 1
            if status >= 500:
                counts[ERRORS] += 1
            if kind == FEEDS and 200 <= status < 300:
                self._latency[row][latency_bin(seconds)] += 1

    def _complete(self, as_of: int, count: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Counts (count, 3) and latency (count, LATENCY_BINS) of the ``count`` complete
        buckets before bucket ``as_of``, oldest first (zeros where nothing was recorded)."""
        counts = np.zeros((count, 3), dtype=np.int64)
        latency = np.zeros((count, LATENCY_BINS), dtype=np.int64)
        with self._lock:
            for i, bucket in enumerate(range(as_of - count, as_of)):
                row = bucket % len(self._ids)
                if self._ids[row] == bucket:
                    counts[i] = np.frombuffer(self._counts[row], dtype=np.int64)
                    latency[i] = np.frombuffer(self._latency[row], dtype=np.int64)
        return counts, latency

    def summary(self, as_of: int) -> dict[str, Any]:
        """The traffic figures as of the start of bucket ``as_of`` (unix seconds //
        BUCKET_SECONDS): headline rates and quantiles over the last RATE_BUCKETS complete
        buckets, and a column per figure over the last HISTORY_BUCKETS (the charts)."""
        first = int(self.started_at // BUCKET_SECONDS)  # nothing was served before it
        counts, latency = self._complete(as_of, HISTORY_BUCKETS)
        starts = np.arange(as_of - HISTORY_BUCKETS, as_of, dtype=np.int64)
        keep = starts >= first
        counts, latency, starts = counts[keep], latency[keep], starts[keep]
        recent_counts, recent_latency = counts[-RATE_BUCKETS:], latency[-RATE_BUCKETS:]
        seconds = float(recent_counts.shape[0] * BUCKET_SECONDS)
        merged = recent_latency.sum(axis=0)

        def rate(total: int) -> float | None:
            return round(total / seconds, 4) if seconds > 0 else None

        return {
            "window_seconds": seconds,
            "requests_per_second": rate(
                int(recent_counts[:, FEEDS].sum()) + int(recent_counts[:, EVENTS].sum())
            ),
            "feeds_per_second": rate(int(recent_counts[:, FEEDS].sum())),
            "events_requests_per_second": rate(int(recent_counts[:, EVENTS].sum())),
            "errors_per_second": rate(int(recent_counts[:, ERRORS].sum())),
            "feed_latency_ms": {
                "p50": quantile_ms(merged, 0.50),
                "p95": quantile_ms(merged, 0.95),
                "count": int(merged.sum()),
            },
            "series": {
                "t": (starts * BUCKET_SECONDS).tolist(),
                "requests_per_second": _per_second(counts[:, FEEDS] + counts[:, EVENTS]),
                "feeds_per_second": _per_second(counts[:, FEEDS]),
                "errors_per_second": _per_second(counts[:, ERRORS]),
                "p50_ms": [quantile_ms(row, 0.50) for row in latency],
                "p95_ms": [quantile_ms(row, 0.95) for row in latency],
            },
        }


def _zeros(n: int) -> array[int]:
    return array("q", bytes(8 * n))


def _per_second(counts: NDArray[np.int64]) -> list[float]:
    return [round(int(c) / BUCKET_SECONDS, 4) for c in counts]


class ExposureWindow:
    """The last :data:`EXPOSURE_CAPACITY` resume impressions this process served: creator,
    serve time and whether the resume was fresh when served (``RankingOptions.fresh``, the
    definition of the exposure floor: exhibited fewer than ``fresh_max_impressions``
    times, or younger than ``fresh_max_days``). :data:`EXPOSURE_BYTES` in all, as three
    ``array.array`` rings. Thread-safe.
    """

    def __init__(self, capacity: int = EXPOSURE_CAPACITY, clock: Any = time.time) -> None:
        self._clock = clock
        self._base = clock()
        self._creators = array("q", bytes(8 * capacity))
        self._times = array("f", [-math.inf]) * capacity  # seconds since _base
        self._fresh = array("b", bytes(capacity))
        self._next = 0  # total impressions written; the ring position is _next % capacity
        self._lock = threading.Lock()
        #: (snapshot, minute) and the fresh flag of each of its resume rows then.
        self._fresh_cache: tuple[tuple[Snapshot, int], bytes] | None = None

    def observe(self, feed: Feed, snapshot: Snapshot, options: RankingOptions) -> None:
        """Add ``feed``'s resume items, judged fresh against ``snapshot`` (the one that
        served it; an item it no longer holds is left out)."""
        now = self._clock() if feed.request.now is None else feed.request.now
        fresh = self._fresh_rows(snapshot, options, now)
        row_of = snapshot.resumes.row_of
        resume = ItemKind.RESUME
        served = [
            (item.creator_id, fresh[row])
            for item in feed.items
            if item.kind is resume and (row := row_of(item.item_id)) >= 0
        ]
        stamp = now - self._base
        capacity = len(self._creators)
        with self._lock:
            for creator, is_fresh in served:
                position = self._next % capacity
                self._creators[position] = creator
                self._times[position] = stamp
                self._fresh[position] = is_fresh
                self._next += 1

    def _fresh_rows(self, snapshot: Snapshot, options: RankingOptions, now: float) -> bytes:
        """1 for each resume row of ``snapshot`` that is fresh at ``now`` (all 0 when
        nothing can be fresh): ``options.fresh`` over the catalogue, once a minute per
        snapshot (an age in whole days moves on once a day; a resume's exhibited count
        only with a new snapshot), instead of numpy calls on every feed."""
        key = (snapshot, int(now // 60))
        cached = self._fresh_cache
        if cached is not None and cached[0][0] is key[0] and cached[0][1] == key[1]:
            return cached[1]
        resumes = snapshot.resumes
        if options.tracks_fresh:
            created = np.asarray(resumes.created_at)
            days = np.floor(np.maximum(now - created, 0.0) / SECONDS_PER_DAY)
            mask = options.fresh(np.asarray(resumes.exhibited_count), days)
        else:
            mask = np.zeros(len(resumes), dtype=np.bool_)
        rows = mask.astype(np.int8).tobytes()
        self._fresh_cache = (key, rows)
        return rows

    def summary(
        self, catalogue_creators: NDArray[np.int64], options: RankingOptions
    ) -> dict[str, Any]:
        """Exposure over the window: impressions, the Gini of impressions per creator
        (every creator owning a resume of ``catalogue_creators``, the served snapshot's
        creator column, counts, with 0 when not shown) and the share of fresh impressions
        (None when nothing can be fresh: ``fresh_max_impressions`` and ``fresh_max_days``
        both 0)."""
        now = self._clock()
        with self._lock:
            times = np.array(self._times, dtype=np.float32)
            creators = np.array(self._creators, dtype=np.int64)
            fresh = np.array(self._fresh, dtype=np.bool_)
        recent = times >= np.float32(now - self._base - EXPOSURE_SECONDS)
        creators, fresh = creators[recent], fresh[recent]
        oldest = float(times[recent].min()) + self._base if recent.any() else None
        shown, counts = np.unique(creators, return_counts=True)
        unshown = np.setdiff1d(np.unique(catalogue_creators), shown, assume_unique=True)
        values = np.concatenate([counts.astype(np.float64), np.zeros(unshown.shape[0])])
        impressions = int(creators.shape[0])
        share = None
        if options.tracks_fresh and impressions:
            share = round(float(fresh.mean()), 6)
        return {
            "impressions": impressions,
            "since": None if oldest is None else round(oldest, 3),
            "creators_shown": int(shown.shape[0]),
            "creators": int(values.shape[0]),
            "gini": round(gini(values), 6) if impressions else None,
            "new_creator_share": share,
        }
