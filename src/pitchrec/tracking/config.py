"""The tracker's configuration and tuning constants, and the records it hands out.

:class:`TrackingConfig` (TTLs, the spool's byte budget, the slow-Redis threshold), the
constants that size the spool, its replays and the writer threads, the
:class:`RequestState` the request path reads (:data:`NO_STATE` when it reads nothing), and
the :class:`TrackerStats` counters. What they are for is told in
:mod:`pitchrec.tracking.tracker` and :mod:`pitchrec.tracking.spool_writer`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile

BATCH = 256  # spooled writes handled per round trip (times 4), within REPLAY_BYTES

MiB = 1 << 20
#: Default budget of the spool, estimated bytes
#: (:func:`~pitchrec.tracking.sizes.spooled_bytes`), per process.
#: The pod limit is 512Mi (deploy/k8s/base/deployment.yaml) for two workers at 104-114 MB
#: RSS each plus a 12 MB parent (about 230 MiB): two full 64 MiB spools bring a pod to
#: about 360 MiB, leaving about 150 MiB for a snapshot rebuild's peak and allocator slack.
#: At a worker's full load (about 236 feeds/s, 41 KB each estimated) that is about 7 s of
#: tracking; at 10 feeds/s about 2.5 minutes. Beyond it the oldest writes are dropped and
#: counted, where an entry cap of 100,000 let every pod reach its limit together.
SPOOL_MAX_BYTES = 64 * MiB
#: Largest spooled entry of archive rows: a POST of 1,000 feedback events (about 900 KB
#: in RSS) is spooled as about 14 entries, so it evicts only as much as it needs.
MAX_ENTRY_BYTES = 64 * 1024
#: Spooled bytes replayed per round trip (at least one entry): a replay by the feedback
#: thread or a writer thread stays a bounded pipeline.
REPLAY_BYTES = 1 * MiB

#: Seconds above which a request-path round trip is slow: the latency breaker opens when
#: the median of the last :data:`SLOW_WINDOW` is above it. Measured with a healthy local
#: Redis under load (bench/slow_redis.py, in process: 8 clients, one feed thread, 1,870 to
#: 3,220 feeds in each of three runs): the request state read took p50 0.16-0.23 ms, p99
#: 0.3-4.9 ms, the feed write p50 0.6-0.75 ms, p99 1.2-7.0 ms, at most 13.5 ms (the tail
#: is a thread waiting out the 5 ms GIL switch interval), and the breaker never opened in
#: the bench's runs without delay. A median of 8 above 25 ms is not a healthy Redis;
#: 120 ms added puts every round trip above it. Below it a slow Redis still costs feeds
#: what each round trip takes (at 10 ms a round trip, most of a worker's throughput).
SLOW_ROUND_TRIP_SECONDS = 0.025
#: Round trips the latency breaker's median is taken over.
SLOW_WINDOW = 8
#: Seconds between probes (a PING from the feedback thread) while Redis is slow.
PROBE_SECONDS = 1.0
#: Background writer threads replaying the spool while Redis is slow, each with one round
#: trip in flight. One round trip replays about 25 feeds (:data:`REPLAY_BYTES`), so at
#: 120 ms a thread writes at most about 170 feeds/s, less while a busy worker holds the
#: GIL. Measured at +120 ms: in process (the slow-Redis integration test, 230-385 feeds/s)
#: two writers fell 400-800 writes (13-27 MB) behind in 4 s, a full spool within about
#: 10 s, four kept up (1-32 waiting); over HTTP (bench/slow_redis.py, 170-190 feeds/s) 1-18
#: were waiting at the end of 10 s, none dropped. Idle threads cost nothing.
WRITER_THREADS = 4
#: Seconds a writer waits before trying again while Redis refuses what the spool holds.
WRITER_RETRY_SECONDS = 0.05
#: Seconds ``flush`` (a server stopping) replays the spool at most.
FLUSH_SECONDS = 10.0


@dataclass(frozen=True)
class TrackingConfig:
    activity_ttl: int = 86_400  # spec 4.2, ACTIVITY_TTL_SECONDS
    session_ttl: int = 3_600  # spec 4.2, SESSION_TTL_SECONDS
    impression_ttl: int = 7_200  # long enough for a reward to find its impression
    impressions_as_views: bool = True  # D-C11/D-C12: the legacy "served = seen" loop
    spool_max_bytes: int = SPOOL_MAX_BYTES  # estimated bytes kept while Redis is down
    taste_profiles: bool = True  # read the user's taste profile with the session set
    #: Seconds above which a request-path round trip is slow (0: never go around Redis).
    slow_round_trip: float = SLOW_ROUND_TRIP_SECONDS
    #: An experiment runs: archived feedback carries the variant of its impression (read
    #: in the events' round trip's stead: one more round trip per POST /v1/events).
    tag_feedback: bool = False


@dataclass(frozen=True)
class RequestState:
    """What the store knows about a request's user: ids the session already got and the
    user's taste profile."""

    seen: frozenset[int] = frozenset()
    profile: TasteProfile = EMPTY_PROFILE


NO_STATE = RequestState()


@dataclass
class TrackerStats:
    feeds: int = 0
    write_errors: int = 0
    session_read_errors: int = 0
    round_trips: int = 0
    #: Writes the request path spooled because Redis was slow (not waited on).
    deferred: int = 0
    #: Request states not read because Redis was slow (the feed used the empty state).
    state_skipped: int = 0
    #: Spooled writes written later (after an outage, a slow spell or a full stream).
    replayed: int = 0
    #: Feedback events refused (503) because the spool held its budget of events.
    events_refused: int = 0
