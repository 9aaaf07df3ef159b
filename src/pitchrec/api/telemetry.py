"""Prometheus metrics of one serving process (a registry per app, so tests stay apart).

With several worker processes each worker exports its own series; scrape them per pod
(the Kubernetes manifests do) or sum them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pitchrec.api.recent import TrafficWindow
from pitchrec.domain.feed import Feed

#: Request latency buckets, seconds: dense around the 1-25 ms the service targets.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
SIZE_BUCKETS = (0, 1, 6, 12, 18, 24, 48, 100)


class Telemetry:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, snapshot_age: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "pitchrec_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.feed_items = Histogram(
            "pitchrec_feed_items",
            "Items per feed response.",
            ["kind"],
            buckets=SIZE_BUCKETS,
            registry=self.registry,
        )
        self.pool_items = Counter(
            "pitchrec_feed_pool_items",
            "Items served, by the pool they came from.",
            ["pool"],
            registry=self.registry,
        )
        self.events = Counter(
            "pitchrec_events",
            "Feedback events received, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.tracking_errors = Counter(
            "pitchrec_tracking_errors",
            "Tracking operations that failed (the feed was served anyway).",
            ["operation"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "pitchrec_snapshot_reloads",
            "Snapshot reloads, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        age = Gauge(
            "pitchrec_snapshot_age_seconds",
            "Seconds since the served snapshot was built (NaN before the first load).",
            registry=self.registry,
        )
        age.set_function(snapshot_age)
        #: Client requests per 5 s bucket with their latency (the dashboard, /v1/stats).
        self.traffic = TrafficWindow()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: the latency histogram, and the dashboard's window."""
        self.request_seconds.labels(route, method, str(status)).observe(seconds)
        self.traffic.record(route, method, status, seconds)

    def watch_tracker(self, stats: Callable[[], dict[str, float]]) -> None:
        """Export the tracker's counters (read at scrape time)."""
        names = {
            "spooled": "Tracking writes waiting in the local spool (Redis down or slow).",
            "spool_dropped": "Tracking writes dropped because the spool was full.",
            "spool_bytes": "Estimated bytes of the tracking writes in the spool.",
            "spool_dropped_bytes": "Estimated bytes of tracking writes dropped (spool full).",
            "events_duplicate": "Feedback events already learned from (retries), ignored.",
            "events_foreign": "Feedback events naming another user than the impression's.",
            "events_variant_gone": "Rewards for impressions of an experiment variant no"
            " longer configured, not learned from.",
            "events_context_mismatch": "Rewards for impressions scored with another context"
            " width (recorded before a learned_blend change), ignored.",
            "write_errors": "Failed tracking round trips to Redis.",
            "events_refused": "Feedback events refused (503) because the spool already held"
            " its budget of unwritten events (Redis down or slow).",
            "round_trips": "Tracking round trips to Redis.",
            "events_matched": "Feedback events that found their impression (policy updates).",
            "sync_errors": "Failed policy synchronisations.",
            "stream_refused": "Archive events the event stream refused at its cap (counted"
            " once; they wait in the spool and are lost only if it overflows).",
            "stream_backlog": "Event stream entries not yet acknowledged by the archiver"
            " group (XINFO GROUPS lag + pending, read at most every 5 s; NaN while Redis"
            " is down). The same value on every worker: alert on max().",
            "shadow_logged": "Shadow logs written (PITCHREC_SHADOW; NaN without it).",
            "shadow_dropped": "Shadowed requests dropped because the shadow thread was busy.",
            "shadow_errors": "Shadow computations or writes that failed (feeds unaffected).",
            "shadow_seconds": "Background seconds spent computing shadow logs.",
        }
        for key, help_text in names.items():
            gauge = Gauge(f"pitchrec_tracking_{key}", help_text, registry=self.registry)
            gauge.set_function(lambda key=key: stats().get(key, math.nan))  # type: ignore[misc]

    def observe_feed(self, feed: Feed) -> None:
        self.feed_items.labels(feed.request.kind.value).observe(len(feed.items))
        for item in feed.items:
            self.pool_items.labels(item.pool.value).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
