"""``GET /v1/stats``: the operator dashboard's figures, as JSON, from what this process
already keeps (its Prometheus registry, the tracker's counters, the served snapshot, the
recent windows of :mod:`pitchrec.api.recent`).

Everything here is **per process**: with ``pitchrec serve --workers N`` each worker answers
with its own traffic, latency and exposure (``process.pid`` says which), as ``/metrics``
does. The stream backlog, the archiver's lag and, with Redis, the learned weights
(``/v1/policies``) are the same on every worker.

A payload is computed at most once per :data:`~pitchrec.api.recent.BUCKET_SECONDS` bucket
and served to every reader until the next bucket starts: rates and quantiles describe the
complete buckets before ``as_of``; counts, gauges and ages were read at ``generated_at``.
So two reads in the same bucket, by the page and by anyone checking it, are identical,
and many open dashboards cost one computation per 5 s.

Definitions:

* ``traffic``: client requests (feeds and ``POST /v1/events``; see
  :func:`pitchrec.api.recent.classify`) per second over the last minute; ``feed_latency_ms``
  the p50/p95 of the feed requests answered 2xx (server time, within 2 %);
  ``feeds_served`` and ``events_accepted`` since the process started (the counters
  ``pitchrec_feed_items`` and ``pitchrec_events`` of ``/metrics``).
* ``exposure``: over the last 80,659 resume impressions of the last hour at most.
  ``gini``: the Gini coefficient of impressions per creator, over every creator owning a
  resume of the served snapshot (0 for those not shown), as the lab's exposure Gini.
  ``new_creator_share``: the share of those impressions whose resume was *fresh* when
  served, by the exposure floor's own definition (``RankingOptions.fresh``): exhibited
  fewer than ``PITCHREC_FRESH_MAX_IMPRESSIONS`` times, or younger than
  ``PITCHREC_FRESH_MAX_DAYS`` days; null when both are 0.
* ``archiver.lag_seconds``: with Redis, the age of the oldest entry of the event stream
  (the archiver deletes what it acknowledged, so that is the oldest event not archived;
  0 when the stream is empty; read at most every 5 s); with the embedded archiver, the
  time since its queue was last empty while rows wait, an upper bound of the same.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

import anyio
import numpy as np
import orjson
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from starlette.responses import Response

from pitchrec.api.dashboard_access import DashboardAccess
from pitchrec.api.deps import RuntimeDep
from pitchrec.api.recent import (
    BUCKET_SECONDS,
    EXPOSURE_CAPACITY,
    EXPOSURE_SECONDS,
    HISTORY_BUCKETS,
    RATE_BUCKETS,
)
from pitchrec.api.runtime import Runtime
from pitchrec.domain.feed import FeedKind
from pitchrec.index.snapshot import Snapshot
from pitchrec.ranking import features as f
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.resilience import CachedReading
from pitchrec.tracking.store import STREAM_KEY

#: The policies' context columns (``theta`` of ``/v1/policies``), spec 2.4 then the blend.
FEATURE_NAMES = {
    f.ENGAGEMENT: "engagement",
    f.TEMPORAL: "temporal",
    f.QUALITY: "quality",
    f.POPULARITY: "popularity",
    f.DIVERSITY: "diversity",
    f.SKILL_SIMILARITY: "skill similarity",
    f.EXTENDED_MATCH: "extended match",
    f.CITY: "city",
    f.SOCIAL: "social",
    f.VIEWS: "views",
    f.RATING: "rating",
    f.RARITY: "rarity",
    f.GATE: "quality gate",
    f.INFLUENCE: "influence",
    f.RATING_COUNT: "rating count",
    f.LIKES: "likes",
    f.EXHIBITED: "exhibited",
    f.NOISE: "noise",
    f.BLEND_COLLABORATIVE: "collaborative affinity",
    f.BLEND_PRIOR: "popularity prior",
}
#: Seconds the oldest stream entry's time is cached (one XRANGE per worker at most).
LAG_MAX_AGE = 5.0


def _finite(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded, or None when it is missing or not finite (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _count(value: float | None) -> int | None:
    return None if value is None or not math.isfinite(value) else int(value)


def _totals(registry: CollectorRegistry) -> dict[str, int]:
    feeds = sum(
        registry.get_sample_value("pitchrec_feed_items_count", {"kind": kind.value}) or 0.0
        for kind in FeedKind
    )
    events = registry.get_sample_value("pitchrec_events_total", {"outcome": "accepted"}) or 0.0
    return {"feeds_served": int(feeds), "events_accepted": int(events)}


class StreamAge:
    """Unix seconds of the oldest entry of the event stream (``inf`` when it is empty, NaN
    when Redis does not answer), read at most every :data:`LAG_MAX_AGE` seconds."""

    def __init__(self, store: RedisStore) -> None:
        self._client = store.client
        self.reading = CachedReading(self._read, LAG_MAX_AGE)

    def _read(self) -> float:
        entries: Any = self._client.xrange(STREAM_KEY, count=1)
        if not entries:
            return math.inf
        entry_id = entries[0][0]
        text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        return int(text.split("-", 1)[0]) / 1000.0


class StatsBoard:
    """One app's payload cache (one payload per bucket) and its stream-age reading."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[int, bytes] | None = None
        self._stream_age: StreamAge | None = None

    def payload(self, runtime: Runtime) -> bytes:
        """The JSON of the current bucket, computed by its first reader."""
        now = time.time()
        as_of = int(now // BUCKET_SECONDS)
        with self._lock:
            if self._cached is not None and self._cached[0] == as_of:
                return self._cached[1]
            body = orjson.dumps(self.build(runtime, as_of, now))
            self._cached = (as_of, body)
            return body

    def build(self, runtime: Runtime, as_of: int, now: float) -> dict[str, Any]:
        """The payload as of bucket ``as_of`` (see the module docstring)."""
        telemetry = runtime.telemetry
        counters = runtime.service.counters()
        return {
            "generated_at": round(now, 3),
            "as_of": as_of * BUCKET_SECONDS,
            "bucket_seconds": BUCKET_SECONDS,
            "process": {"pid": os.getpid(), "started_at": round(telemetry.traffic.started_at, 3)},
            "traffic": {**telemetry.traffic.summary(as_of), **_totals(telemetry.registry)},
            "exposure": _exposure(runtime),
            "snapshot": _snapshot(runtime, now),
            "tracking": _tracking(runtime, counters),
            "archiver": self._archiver(runtime, counters, now),
            "learning": {
                "features": [FEATURE_NAMES[i] for i in sorted(FEATURE_NAMES)],
                "events_matched": _count(counters.get("events_matched")),
                "events_duplicate": _count(counters.get("events_duplicate")),
                "events_foreign": _count(counters.get("events_foreign")),
                "blend_search": _blend_search(runtime),
                "live_prior": _live_prior(runtime),
            },
            "windows": {
                "rate_seconds": RATE_BUCKETS * BUCKET_SECONDS,
                "history_seconds": HISTORY_BUCKETS * BUCKET_SECONDS,
                "exposure_impressions": EXPOSURE_CAPACITY,
                "exposure_seconds": EXPOSURE_SECONDS,
            },
        }

    def _archiver(self, runtime: Runtime, counters: dict[str, float], now: float) -> dict[str, Any]:
        service = runtime.service
        backlog = _count(counters.get("stream_backlog"))
        if isinstance(service.store, RedisStore):
            if self._stream_age is None:
                self._stream_age = StreamAge(service.store)
            oldest = (
                self._stream_age.reading.value() if service.tracker.breaker.closed else math.nan
            )
            lag = 0.0 if oldest == math.inf else _finite(max(now - oldest, 0.0), 1)
            return {"kind": "redis stream", "backlog": backlog, "lag_seconds": lag}
        archiver = service.archiver
        if archiver is None:
            return {"kind": "none", "backlog": None, "lag_seconds": None}
        lag = 0.0 if not backlog else round(max(now - archiver.caught_up_at, 0.0), 1)
        return {
            "kind": "embedded",
            "backlog": backlog,
            "lag_seconds": lag,
            "inserted": archiver.inserted,
            "errors": archiver.errors,
        }


def _exposure(runtime: Runtime) -> dict[str, Any]:
    recommender = runtime.recommender
    options = runtime.service.config.ranking
    creators = (
        np.asarray(recommender.snapshot.resumes.creator, dtype=np.int64)
        if recommender is not None
        else np.zeros(0, dtype=np.int64)
    )
    return {
        **runtime.exposure.summary(creators, options),
        "fresh_max_impressions": options.fresh_max_impressions,
        "fresh_max_days": options.fresh_max_days,
    }


def _snapshot(runtime: Runtime, now: float) -> dict[str, Any] | None:
    recommender = runtime.recommender
    if recommender is None:
        return None
    snapshot = recommender.snapshot
    return {
        "built_at": round(snapshot.built_at, 3),
        "age_seconds": round(max(now - snapshot.built_at, 0.0), 1),
        "resumes": len(snapshot.resumes),
        "challenges": len(snapshot.challenges),
        **_chosen_on_history(snapshot),
    }


def _chosen_on_history(snapshot: Snapshot) -> dict[str, float | None]:
    """What the build chose by validation on the history (:mod:`pitchrec.models`): the
    prior's half-life in days (None: no decay) and the affinity : prior ratio."""
    half_life = snapshot.collab.prior_half_life_days
    return {
        "prior_half_life_days": None if math.isinf(half_life) else half_life,
        "affinity_ratio": snapshot.collab.affinity_ratio,
    }


def _tracking(runtime: Runtime, counters: dict[str, float]) -> dict[str, Any]:
    return {
        "redis": runtime.settings.redis_url is not None,
        "spool_entries": _count(counters.get("spooled")),
        "spool_bytes": _count(counters.get("spool_bytes")),
        "spool_max_bytes": runtime.settings.spool_max_bytes,
        "spool_dropped": _count(counters.get("spool_dropped")),
        "spool_dropped_bytes": _count(counters.get("spool_dropped_bytes")),
        "events_refused": _count(counters.get("events_refused")),
        "stream_backlog": _count(counters.get("stream_backlog")),
        "stream_refused": _count(counters.get("stream_refused")),
        "write_errors": _count(counters.get("write_errors")),
        "redis_slow": bool(counters.get("redis_slow", 0.0)),
    }


_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def stats_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["operations"])
    board = StatsBoard()

    @router.get(
        "/stats",
        dependencies=[DashboardAccess],
        response_model=None,
        responses={
            200: {
                "description": "The dashboard's figures (pitchrec.api.stats)",
                "content": _JSON_OBJECT,
            },
            401: {"description": "No valid bearer token or dashboard session"},
            403: {"description": "The dashboard is disabled (no token configured)"},
        },
    )
    async def get_stats(runtime: RuntimeDep) -> Response:
        """This process's traffic, latency, exposure, snapshot, tracking and archive
        figures (the operator dashboard's); the same payload for 5 s."""
        body = await anyio.to_thread.run_sync(board.payload, runtime)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    return router


def _live_prior(runtime: Runtime) -> dict[str, object] | None:
    """The live prior's per-resume evidence (None: off, or nothing synced yet)."""
    recommender = runtime.recommender
    live = recommender.live if recommender is not None else None
    return live.describe() if live is not None else None


def _blend_search(runtime: Runtime) -> dict[str, object] | None:
    """The blend search's arms, their rewards and the served centre (None: off)."""
    recommender = runtime.recommender
    blend = recommender.blend if recommender is not None else None
    return blend.describe() if blend is not None else None
