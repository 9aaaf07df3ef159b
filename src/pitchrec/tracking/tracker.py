"""What a served feed writes, and what feedback archives: the tracking facade.

The request path writes a feed's tracking (legacy activity, session set, impressions,
archive entries) in one pipelined round trip before the response leaves, so a replica
killed after answering loses nothing it served; POST /v1/events archives its events the
same way before the 202. When Redis fails, writes go to a bounded spool behind a circuit
breaker (which answers at once while open) and are replayed by the feedback loop's
thread (:mod:`pitchrec.learning.feedback`), which also turns the events into learning.
Archive rows the event stream refuses at its cap wait in the same spool, counted
(:mod:`pitchrec.tracking.stream_cap`).

Measured alternatives (bench/RESULTS.md): queueing the writes for the background thread
kept p50 close but made p99 4x worse (the thread's bursts held the GIL) and lost up to
20 ms of a killed replica's traffic.

The only synchronous Redis read is the request state: the session set (``SMEMBERS``, when
the client sends a ``session_id``) and the user's taste profile (``HGETALL``, for a known
user), in one round trip behind the breaker and a short timeout.

This module holds :class:`Tracker`, the request path's reads and writes. Its parts:
:mod:`pitchrec.tracking.config` (the configuration, tuning constants, request state and
counters), :mod:`pitchrec.tracking.feed_writes` (what a served feed writes: the parsed
user only, under a server-made request id) and :mod:`pitchrec.tracking.spool_writer` (one
round trip or the spool, a slow Redis gone around, the writer threads). Their public
names are importable from here too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import Feed
from pitchrec.domain.shadow import MAX_PROPERTIES_BYTES, ShadowLog
from pitchrec.errors import TrackingFullError
from pitchrec.legacy import events as legacy
from pitchrec.sources.schema import USER_MODEL_TYPE
from pitchrec.tracking.config import (
    BATCH,
    FLUSH_SECONDS,
    MAX_ENTRY_BYTES,
    NO_STATE,
    PROBE_SECONDS,
    REPLAY_BYTES,
    SLOW_ROUND_TRIP_SECONDS,
    SLOW_WINDOW,
    SPOOL_MAX_BYTES,
    WRITER_RETRY_SECONDS,
    WRITER_THREADS,
    MiB,
    RequestState,
    TrackerStats,
    TrackingConfig,
)
from pitchrec.tracking.experiment_writes import feedback_tags
from pitchrec.tracking.feed_writes import FeedContext, build_feed_writes, session_key
from pitchrec.tracking.sizes import row_bytes, spooled_bytes
from pitchrec.tracking.spool_writer import SpoolWriter
from pitchrec.tracking.store import FeedWrites, parse_profile, profile_key

__all__ = [
    "BATCH",
    "FLUSH_SECONDS",
    "MAX_ENTRY_BYTES",
    "NO_STATE",
    "PROBE_SECONDS",
    "REPLAY_BYTES",
    "SLOW_ROUND_TRIP_SECONDS",
    "SLOW_WINDOW",
    "SPOOL_MAX_BYTES",
    "WRITER_RETRY_SECONDS",
    "WRITER_THREADS",
    "FeedContext",
    "MiB",
    "RequestState",
    "Tracker",
    "TrackerStats",
    "TrackingConfig",
    "session_key",
    "spooled_bytes",
]


class Tracker(SpoolWriter):
    """Writes what feeds and feedback leave behind (one round trip each, or the spool)
    and reads the request state."""

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        return {
            "spooled": float(len(self.spool)),
            "spool_dropped": float(self.spool.dropped),
            "spool_bytes": float(self.spool.bytes),
            "spool_dropped_bytes": float(self.spool.dropped_bytes),
            "write_errors": float(self.stats.write_errors),
            "round_trips": float(self.stats.round_trips),
            "stream_refused": float(self.stream.refused),
            "stream_backlog": self.stream.backlog.value(),
            "deferred": float(self.stats.deferred),
            "state_skipped": float(self.stats.state_skipped),
            "replayed": float(self.stats.replayed),
            "events_refused": float(self.stats.events_refused),
            "redis_slow": 0.0 if self.latency.closed else 1.0,
            "redis_slow_opened": float(self.latency.opened),
        }

    # -- request path ---------------------------------------------------------------

    def request_state(self, user: int | None, session_id: str | None) -> RequestState:
        """The session's served ids and the user's taste profile, in one round trip;
        nothing to read (anonymous, no session) or Redis failing: the empty state."""
        session = session_key(user, session_id, 0) + ":videos" if session_id else None
        profile = profile_key(user) if user is not None and self.config.taste_profiles else None
        if session is None and profile is None:
            return NO_STATE
        if not self.latency.closed:  # Redis is slow: the feed does not wait for it
            self.stats.state_skipped += 1
            return NO_STATE
        if not self.breaker.allow():
            return NO_STATE
        started = time.perf_counter()
        try:
            members, fields = self.store.read_request_state(session, profile)
        except Exception:
            self.latency.observe(time.perf_counter() - started)
            self.breaker.failure()
            self.stats.session_read_errors += 1
            return NO_STATE
        self.latency.observe(time.perf_counter() - started)
        self.breaker.success()
        return RequestState(
            seen=frozenset(int(m) for m in members if m.isascii() and m.isdigit()),
            profile=parse_profile(fields),
        )

    def record_feed(self, feed: Feed, context: FeedContext, policy_version: int) -> None:
        """Write the feed's tracking in one pipelined round trip before the response
        leaves: a replica killed after answering has already written what it served.
        With Redis down the writes go to the spool (the circuit breaker answers at once);
        with Redis slow too (the latency breaker), replayed by the writer threads."""
        writes = build_feed_writes(
            self.config, feed, context, policy_version, legacy.now_iso(), time.time()
        )
        self.stats.feeds += 1
        self._write([writes])

    def archive_feedback(self, events: Sequence[FeedbackEvent]) -> None:
        """Archive feedback events durably (one round trip, or the spool), as writes of
        at most :data:`MAX_ENTRY_BYTES` each: a large batch is several spool entries."""
        writes: list[FeedWrites] = []
        chunk: list[ArchiveRow] = []
        chunk_bytes = 0
        tags = self._feedback_tags(events)
        for event, tag in zip(events, tags, strict=True):
            row = legacy.feedback_row(
                event, legacy.stable_event_id("v1", event.user_id, event.event_id), tag
            )
            size = row_bytes(row)
            if chunk and chunk_bytes + size > MAX_ENTRY_BYTES:
                writes.append(FeedWrites(archive=chunk, feedback=True))
                chunk, chunk_bytes = [], 0
            chunk.append(row)
            chunk_bytes += size
        if chunk:
            writes.append(FeedWrites(archive=chunk, feedback=True))
        # Accepted events are never dropped from the spool (feeds' writes make room), so
        # when the spool already holds its budget of events, new ones are refused rather
        # than accepted and lost (hardening: a 10-minute outage lost 262,490 before).
        if not self.spool.has_room_for(sum(spooled_bytes(w) for w in writes)):
            self.stats.events_refused += len(events)
            raise TrackingFullError("the tracking spool is full of unwritten events")
        self._write(writes)

    def _feedback_tags(self, events: Sequence[FeedbackEvent]) -> list[dict[str, str | None] | None]:
        """The experiment tags of each event's impression (one round trip), when an
        experiment runs and Redis answers quickly; else None for each (archived untagged)."""
        if not (self.config.tag_feedback and self.latency.closed and self.breaker.allow()):
            return [None] * len(events)
        try:
            return feedback_tags(self.store, events)
        except Exception:
            self.breaker.failure()
            return [None] * len(events)

    def record_counters(
        self, counters: dict[str, dict[str, int | float]], ttls: dict[str, int]
    ) -> None:
        """Add experiment counters (the feedback thread's: likes, saves, views) in one
        round trip, or the spool."""
        if counters:
            self._send([FeedWrites(counters=counters, counter_ttls=ttls)], replay=False)

    def record_shadow(self, record: ShadowLog) -> None:
        """Archive a shadow log (:mod:`pitchrec.ranking.shadow`; the shadow thread's) as one
        ``activity_log`` row, in one round trip or the spool. Too large a record (a TEXT
        column) is not written: ValueError, which the shadow sampler counts."""
        row = record.archive_row(
            legacy.stable_event_id(record.request_id, "shadow"), USER_MODEL_TYPE
        )
        if len(row.properties) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"shadow record of {len(row.properties)} bytes not written")
        self._send([FeedWrites(archive=[row])], replay=False)
